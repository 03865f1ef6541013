"""One compare of two table versions, by one tool, timed in this process:

    python -m bench.tools {tallyclerk,duckdb,datacompy} LEFT RIGHT [--memory-limit 4GB]

Prints one JSON line: the tool, seconds, and how many differences it found. Run by
`bench.run`, which starts each compare in its own process to read its peak memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

KEY = "id"


def tallyclerk(left: Path, right: Path, memory_limit: str | None, spill: Path | None) -> int:
    """The match rule a workspace would declare, compiled and run as a run runs it."""
    import pyarrow.parquet as pq
    from pydantic import TypeAdapter

    from engine.backends.duckdb import DuckDBBackend
    from engine.findings import to_findings
    from rules.compile import compile_rule, finish_findings
    from rules.findings import CompileContext, family_of
    from rules.model import Rule

    schema = pq.read_schema(left)
    columns = [name for name in schema.names if name != KEY]
    rule = TypeAdapter(Rule).validate_python(
        {
            "id": "bench-match",
            "kind": "match",
            "entity": "item",
            "systems": ["left", "right"],
            "key": [KEY],
            "fields": [{"name": name} for name in columns],
        }
    )
    types = {f.name: family for f in schema if (family := family_of(f.type)) is not None}
    ctx = CompileContext(
        tables={"left.item": schema.names, "right.item": schema.names},
        types={"left.item": types, "right.item": types},
    )
    backend = DuckDBBackend(memory_limit=memory_limit, spill_dir=spill)
    backend.register_parquet("left.item", left)
    backend.register_parquet("right.item", right)
    found = to_findings(finish_findings(rule, backend.query(compile_rule(rule, ctx), label="m")))
    backend.close()
    return found.num_rows


def duckdb_sql(
    left: Path,
    right: Path,
    memory_limit: str | None,
    spill: Path | None,
    *,
    repeated: bool = True,
) -> int:
    """The same compare as one writes it by hand: keys on several rows of one side, then a
    full outer join of the rest, and a row per missing record and per differing field,
    values as text. Without `repeated`, the bare join a quick check would write."""
    import duckdb
    import pyarrow.parquet as pq

    columns = [name for name in pq.read_schema(left).names if name != KEY]
    con = duckdb.connect()
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    if spill:
        con.execute("SET temp_directory = ?", [str(spill)])
    con.execute("SET preserve_insertion_order = false")
    pairs = ", ".join(f"l.{c} AS l_{c}, r.{c} AS r_{c}" for c in columns)
    drifts = " UNION ALL ".join(
        f"SELECT 'drift', l_id, '{c}', CAST(l_{c} AS VARCHAR), CAST(r_{c} AS VARCHAR) FROM j "
        f"WHERE l_id IS NOT NULL AND r_id IS NOT NULL AND l_{c} IS DISTINCT FROM r_{c}"
        for c in columns
    )
    sides = {"l": f"read_parquet('{left}')", "r": f"read_parquet('{right}')"}
    dupes = ""
    if repeated:
        dupes = (
            f"ld AS (SELECT {KEY} FROM {sides['l']} GROUP BY {KEY} HAVING count(*) > 1), "
            f"rd AS (SELECT {KEY} FROM {sides['r']} GROUP BY {KEY} HAVING count(*) > 1), "
        )
        repeats = f"(SELECT {KEY} FROM ld UNION ALL SELECT {KEY} FROM rd)"
        sides = {
            side: f"(SELECT * FROM {scan} s ANTI JOIN {repeats} d ON s.{KEY} = d.{KEY})"
            for side, scan in sides.items()
        }
    sql = f"""
        WITH {dupes} j AS (
            SELECT l.{KEY} AS l_id, r.{KEY} AS r_id, {pairs}
            FROM {sides["l"]} l FULL OUTER JOIN {sides["r"]} r ON l.{KEY} = r.{KEY}
        )
        SELECT 'missing_in_right', l_id, '', NULL, NULL FROM j WHERE r_id IS NULL
        UNION ALL SELECT 'missing_in_left', r_id, '', NULL, NULL FROM j WHERE l_id IS NULL
        UNION ALL {drifts}
    """
    if repeated:
        sql += f"""
        UNION ALL SELECT 'duplicate_key_in_left', {KEY}, '', NULL, NULL FROM ld
        UNION ALL SELECT 'duplicate_key_in_right', {KEY}, '', NULL, NULL FROM rd
        """
    found = con.sql(sql).to_arrow_table()
    con.close()
    return found.num_rows


def datacompy_polars(left: Path, right: Path, memory_limit: str | None, spill: Path | None) -> int:
    """datacompy's Polars compare: rows only on one side, and the rows that differ."""
    import polars as pl
    from datacompy import PolarsCompare

    compare = PolarsCompare(pl.read_parquet(left), pl.read_parquet(right), join_columns=[KEY])
    return compare.df1_unq_rows.height + compare.df2_unq_rows.height + compare.all_mismatch().height


def duckdb_bare(left: Path, right: Path, memory_limit: str | None, spill: Path | None) -> int:
    return duckdb_sql(left, right, memory_limit, spill, repeated=False)


TOOLS = {
    "tallyclerk": tallyclerk,
    "duckdb": duckdb_sql,
    "duckdb-bare": duckdb_bare,
    "datacompy": datacompy_polars,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("left", type=Path)
    parser.add_argument("right", type=Path)
    parser.add_argument("--memory-limit")
    parser.add_argument("--spill-dir", type=Path)
    options = parser.parse_args()
    began = time.perf_counter()
    found = TOOLS[options.tool](
        options.left, options.right, options.memory_limit, options.spill_dir
    )
    seconds = time.perf_counter() - began
    sys.stdout.write(json.dumps({"tool": options.tool, "seconds": seconds, "found": found}) + "\n")


if __name__ == "__main__":
    main()
