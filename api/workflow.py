"""What the findings, batches and audit commands share: consoles, arguments, identity."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from engine.access import USER_ENV, authorize, identity
from engine.catalog import STATE_DIR, Catalog
from engine.config import LoadedWorkspace, load_workspace
from engine.run import RUNS_DIR
from tallyclerk.errors import ConfigError

# Piped output gets a fixed width, so tables are not cut to 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

WorkspaceArg = Annotated[
    Path, typer.Argument(help="Workspace folder holding tallyclerk.yaml.", show_default=False)
]
AsUser = Annotated[
    str | None,
    typer.Option("--as", help=f"Who is acting; defaults to ${USER_ENV}.", show_default=False),
]


def open_workspace(folder: Path) -> tuple[LoadedWorkspace, Catalog]:
    workspace = load_workspace(folder)
    return workspace, Catalog(folder)


def acting(catalog: Catalog, workspace: LoadedWorkspace, given: str | None, permission: str) -> str:
    """The identity of `--as` or the environment, checked against the workspace's roles."""
    user = identity(given)
    authorize(catalog, workspace.config, user, permission)
    return user


def writable_folder(path: Path, option: str) -> Path:
    """A folder to write files into: it may be missing, but may not be a file."""
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{option} {path} is a file, not a folder; name a folder for the files "
            "(it is created when missing)."
        )
    return path


def writable_file(path: Path, option: str) -> Path:
    """A file to write: not a folder, in a folder that exists."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; name a file in it to write to.")
    if not path.parent.is_dir():
        raise ConfigError(
            f"{option} {path}: the folder {path.parent} does not exist; create it first "
            f"(mkdir -p {path.parent}) or write to a folder that exists."
        )
    return path


def cannot_write(path: Path, option: str, exc: OSError) -> ConfigError:
    """The error of a write the file system refused, naming the file and the way out."""
    return ConfigError(
        f"cannot write {option} {path}: {exc.strerror or exc}; check the folder's permissions "
        f"or choose another {option}."
    )


def run_folder(folder: Path, run: str) -> Path:
    """A published run's folder; `latest` names the newest."""
    runs = folder / STATE_DIR / RUNS_DIR
    published = (
        sorted((p for p in runs.iterdir() if not p.name.startswith(".")), key=_run_order)
        if runs.is_dir()
        else []
    )
    if run == "latest" and published:
        return published[-1]
    if (runs / run).is_dir() and not run.startswith("."):
        return runs / run
    if not published:
        raise ConfigError(
            f"no run in {folder} yet: run one first (tallyclerk run {folder} --period YYYY-MM)."
        )
    known = ", ".join(p.name for p in published[-5:])
    raise ConfigError(
        f"no run {run!r} in {folder}: give a run id (the newest: {known}) or `latest`."
    )


def _run_order(path: Path) -> tuple[str, int]:
    period, _, number = path.name.rpartition(".")
    return period, int(number) if number.isdigit() else 0
