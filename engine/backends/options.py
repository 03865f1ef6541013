"""Which backend a run uses and how: the workspace's `engine:` section and the command line.

```yaml
engine:
  backend: spark                  # or duckdb, the default
  spark_master: spark://etl-01:7077
  spark_conf: {spark.executor.memory: 8g}
  memory_limit: 4GB               # DuckDB: spill to disk beyond this
  spill_dir: /scratch/tallyclerk  # DuckDB: where it spills, relative to the workspace
```
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal, Protocol

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlglot import exp

from .duckdb import DuckDBBackend

log = logging.getLogger(__name__)

BACKENDS = ("duckdb", "spark")
# DuckDB's own sizes: 4GB, 512MB, 2.5GiB, or a share of the machine's memory as 80%.
MEMORY = r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$"
# The master URLs Spark itself accepts; anything else fails inside the JVM with a Java trace.
_MASTER = re.compile(r"^(local(\[(\d+|\*)(,\d+)?\])?|(spark|mesos|k8s)://\S+|yarn)$")


class Backend(Protocol):
    """What a run needs of an engine: tables in, compiled rules run, Arrow out."""

    dialect: str

    def register(self, ref: str, table: pa.Table, *, path: Path | None = None) -> None: ...

    def query(self, select: exp.Expression, *, label: str) -> pa.Table: ...

    def close(self) -> None: ...


class EngineConfig(BaseModel):
    """How the rules of a run are executed; the command line overrides each setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["duckdb", "spark"] = "duckdb"
    # A Spark master URL: local[2] (the default), spark://host:7077, yarn, k8s://...
    spark_master: str | None = Field(None, min_length=1)
    spark_conf: dict[str, str] = {}
    memory_limit: str | None = Field(None, pattern=MEMORY)
    spill_dir: str | None = Field(None, min_length=1)

    @field_validator("spark_master")
    @classmethod
    def _known_master(cls, master: str | None) -> str | None:
        if master is not None and not _MASTER.match(master):
            raise ValueError(
                f"{master!r} is not a Spark master URL; write local[2] (or local[*]), "
                "spark://HOST:7077, yarn or k8s://https://HOST:443"
            )
        return master

    def overridden(
        self,
        *,
        backend: str | None = None,
        spark_master: str | None = None,
        memory_limit: str | None = None,
        spill_dir: str | None = None,
    ) -> EngineConfig:
        """These settings with the given command-line values in place of the workspace's."""
        given = {
            "backend": backend,
            "spark_master": spark_master,
            "memory_limit": memory_limit,
            "spill_dir": spill_dir,
        }
        update = {key: value for key, value in given.items() if value is not None}
        return EngineConfig.model_validate(self.model_dump() | update)


def open_backend(config: EngineConfig, *, root: Path, staging: Path) -> Backend:
    """The backend `config` names; `staging` is a folder of the run it may write to."""
    if config.backend == "spark":
        from .spark import SparkBackend

        if config.memory_limit or config.spill_dir:
            log.warning("memory_limit and spill_dir are DuckDB settings; Spark ignores them")
        return SparkBackend(
            staging=staging / "spark", master=config.spark_master, conf=config.spark_conf
        )
    spill = None if config.spill_dir is None else root / config.spill_dir
    return DuckDBBackend(memory_limit=config.memory_limit, spill_dir=spill)
