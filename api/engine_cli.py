"""The run command's engine options, checked and laid over the workspace's `engine:` settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from engine.backends.options import BACKENDS, MEMORY, EngineConfig
from engine.config import load_workspace
from tallyclerk.errors import ConfigError

_FLAGS = {
    "backend": "--backend",
    "spark_master": "--spark-master",
    "memory_limit": "--memory-limit",
    "spill_dir": "--spill-dir",
}


def engine_options(
    workspace: Path,
    *,
    backend: str | None,
    spark_master: str | None,
    memory_limit: str | None,
    spill_dir: str | None,
) -> EngineConfig | None:
    """The workspace's engine settings with the given flags in their place; None if none given."""
    given = (backend, spark_master, memory_limit, spill_dir)
    if all(value is None for value in given):
        return None
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: use one of: {', '.join(BACKENDS)}.")
    if spark_master is not None and (backend or _configured(workspace).backend) != "spark":
        raise ConfigError("--spark-master names a Spark master; add --backend spark.")
    try:
        return _configured(workspace).overridden(
            backend=backend,
            spark_master=spark_master,
            memory_limit=memory_limit,
            spill_dir=spill_dir,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        flag = _FLAGS.get(str(error["loc"][0]), str(error["loc"][0]))
        if flag == "--memory-limit":
            raise ConfigError(
                f"--memory-limit {memory_limit!r}: write a size such as 4GB, 512MB or 80% "
                f"(the pattern {MEMORY})."
            ) from exc
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{flag}: {reason}.") from exc


def _configured(workspace: Path) -> EngineConfig:
    return load_workspace(workspace).config.engine
