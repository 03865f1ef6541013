"""The sample tenant's close on Spark finds, proposes and reports exactly what DuckDB does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from engine.backends.options import EngineConfig
from engine.sample.generate import generate
from tallyclerk.errors import ConfigError, RunError

pytest.importorskip("pyspark", reason="the spark extra is not installed")

TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")
RUN = Path(".tallyclerk") / "runs" / "2026-11.001"
# When a run finished, and the run clock it was dated by, are all two runs may differ in.
_MOMENTS = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?([+-]\d{2}:?\d{2}|Z|UTC)?")


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One generated tenant closed twice by the command line: on DuckDB, and on Spark."""
    source = tmp_path_factory.mktemp("harborline")
    generate(source, orders=300, seed=11)
    on_duckdb, on_spark = (tmp_path_factory.mktemp(name) for name in ("duckdb", "spark"))
    shutil.copytree(source, on_duckdb, dirs_exist_ok=True)
    shutil.copytree(source, on_spark, dirs_exist_ok=True)

    env = {**os.environ, "NO_COLOR": "1", "SPARK_LOCAL_IP": "127.0.0.1"}
    spill = tmp_path_factory.mktemp("spill")
    for folder, options in (
        (on_duckdb, ["--backend", "duckdb", "--memory-limit", "1GB", "--spill-dir", str(spill)]),
        (on_spark, ["--backend", "spark", "--spark-master", "local[2]"]),
    ):
        command = [TALLYCLERK, "run", str(folder), "--period", "2026-11", *options]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    return on_duckdb, on_spark


@pytest.mark.parametrize("name", ["findings.parquet", "actions.parquet"])
def test_findings_and_actions_are_identical(tenants, name):
    on_duckdb, on_spark = tenants
    duckdb_rows = pq.read_table(on_duckdb / RUN / name)
    spark_rows = pq.read_table(on_spark / RUN / name)
    assert duckdb_rows.num_rows > 0
    assert spark_rows.schema == duckdb_rows.schema
    assert spark_rows.to_pylist() == duckdb_rows.to_pylist()


def test_each_manifest_names_the_backend_that_ran(tenants):
    on_duckdb, on_spark = tenants
    backends = [json.loads((t / RUN / "manifest.json").read_text())["backend"] for t in tenants]
    assert backends == ["duckdb", "spark"] and on_duckdb != on_spark


@pytest.mark.parametrize("name", ["executive.html", "report.html"])
def test_reports_are_identical_but_for_when_they_ran(tenants, name):
    on_duckdb, on_spark = tenants
    duckdb_page = (on_duckdb / RUN / name).read_text(encoding="utf-8")
    spark_page = (on_spark / RUN / name).read_text(encoding="utf-8")
    assert _MOMENTS.sub("<moment>", spark_page) == _MOMENTS.sub("<moment>", duckdb_page)


def test_the_workspace_names_its_engine_and_a_flag_overrides_it(tmp_path):
    configured = EngineConfig.model_validate(
        {"backend": "spark", "spark_master": "spark://etl-01:7077", "memory_limit": "4GB"}
    )
    assert configured.overridden(backend="duckdb", spill_dir="/scratch").model_dump() == {
        "backend": "duckdb",
        "spark_master": "spark://etl-01:7077",
        "spark_conf": {},
        "memory_limit": "4GB",
        "spill_dir": "/scratch",
    }
    with pytest.raises(ValueError, match="memory_limit"):
        EngineConfig.model_validate({"memory_limit": "lots"})


def test_a_bad_memory_limit_is_refused_before_the_run(tenants):
    on_duckdb, _ = tenants
    from api.engine_cli import engine_options

    with pytest.raises(ConfigError) as raised:
        engine_options(
            on_duckdb, backend=None, spark_master=None, memory_limit="lots", spill_dir=None
        )
    assert str(raised.value).startswith("--memory-limit 'lots': write a size such as 4GB")


def test_a_master_spark_would_not_know_is_refused_before_any_jvm_starts(tenants):
    on_duckdb, _ = tenants
    from api.engine_cli import engine_options

    with pytest.raises(ConfigError) as raised:
        engine_options(
            on_duckdb, backend="spark", spark_master="bogus", memory_limit=None, spill_dir=None
        )
    assert str(raised.value) == (
        "--spark-master: 'bogus' is not a Spark master URL; write local[2] (or local[*]), "
        "spark://HOST:7077, yarn or k8s://https://HOST:443."
    )
    for master in ("local", "local[*]", "local[4,2]", "spark://etl-01:7077", "yarn"):
        assert EngineConfig(spark_master=master).spark_master == master


def test_a_spill_dir_that_is_no_folder_and_too_little_memory_say_which_setting(tmp_path):
    from engine.backends.duckdb import DuckDBBackend

    with pytest.raises(ConfigError) as raised:
        DuckDBBackend(spill_dir=Path("/dev/null"))
    assert str(raised.value) == "--spill-dir /dev/null is not a folder; name a folder to spill to."

    import pyarrow as pa
    from sqlglot import exp

    backend = DuckDBBackend(memory_limit="1KB")
    backend.register("erp.item", pa.table({"item_id": [str(n) for n in range(100_000)]}))
    query = exp.select("item_id").from_("erp__item").order_by("item_id")
    with pytest.raises(RunError) as raised:
        backend.query(query, label="rule 'item-sync'")
    assert str(raised.value) == (
        "rule 'item-sync': DuckDB ran out of the memory limit 1KB; raise --memory-limit "
        "(engine.memory_limit) or give --spill-dir a folder with free disk space to spill to."
    )
    backend.close()


def test_without_pyspark_the_error_says_how_to_install_it(monkeypatch):
    from engine.backends.spark import spark_session

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError) as raised:
        spark_session("local[2]")
    assert str(raised.value).startswith(
        "the Spark backend needs pyspark, which is not installed; run "
        "pip install 'tallyclerk[spark]'"
    )
