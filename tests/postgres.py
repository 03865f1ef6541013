"""A throwaway PostgreSQL server on loopback for the tests, started with initdb and pg_ctl.

When the tests run as root, the server runs as the `postgres` system user, since
PostgreSQL refuses to run as root. Without PostgreSQL installed the tests that
need it skip on a developer's machine and fail in CI (`CI` set).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "tally"
PASSWORD = "s3cret-Pa55word"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str
    database: str = "postgres"

    def url(self, *, with_password: bool = False) -> str:
        secret = f":{self.password}" if with_password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{self.database}"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server() -> Iterator[Server]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = (
            "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin): "
            "apt-get install postgresql"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="tallyclerk-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    password_file = folder / "password"
    password_file.write_text(PASSWORD, encoding="utf-8")
    if as_root:
        shutil.chown(folder, "postgres")
        for path in (sockets, password_file):
            shutil.chown(path, "postgres")
    port = _free_port()
    run = lambda *args: subprocess.run(  # noqa: E731
        [*prefix, *args], check=True, capture_output=True, text=True
    )
    try:
        run(
            str(bin_dir / "initdb"),
            "-D", str(data), "-U", USER, f"--pwfile={password_file}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
            "-w", "start")  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"cannot start PostgreSQL: {exc.stderr or exc.stdout}")
    try:
        yield Server("127.0.0.1", port, USER, PASSWORD)
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)
