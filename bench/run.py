"""Time tallyclerk's match, the same compare in hand-written DuckDB SQL, and datacompy's
Polars compare on one pair of generated tables; each runs in its own process, so its peak
memory (max RSS) is its own.

    python -m bench.run --rows 1000000 --rows 10000000 [--datacompy-python PYTHON]

datacompy pins an older polars than tallyclerk's, so it lives in its own environment:
`python -m venv bench/.venv && bench/.venv/bin/pip install datacompy duckdb pyarrow`, and
pass that interpreter as --datacompy-python. Results go to standard output as a Markdown
table, one line per tool and size, and as JSON to --json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from .generate import generate

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("tallyclerk", "duckdb", "duckdb-bare", "datacompy")


def measure(command: list[str]) -> dict:
    """Run one compare in a child process: its own timing, wall time and max RSS in MiB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    out = child.stdout.read() if child.stdout else b""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    # ru_maxrss is in KiB on Linux.
    return result | {"wall": wall, "peak_mib": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, action="append", required=True)
    parser.add_argument("--data", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--datacompy-python", default=sys.executable)
    parser.add_argument("--memory-limit")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    results = []
    for rows in options.rows:
        folder = options.data / f"{rows}"
        left, right = folder / "left.parquet", folder / "right.parquet"
        if not (left.is_file() and right.is_file()):
            generate(folder, rows)
        # The first compare after a pause runs slower whichever tool it is: one untimed
        # compare goes first, and the order turns round each repeat.
        measure([sys.executable, "-m", "bench.tools", "duckdb-bare", str(left), str(right)])
        for repeat in range(options.repeat):
            tools = options.tools if repeat % 2 == 0 else options.tools[::-1]
            for tool in tools:
                python = options.datacompy_python if tool == "datacompy" else sys.executable
                command = [python, "-m", "bench.tools", tool, str(left), str(right)]
                if options.memory_limit and tool != "datacompy":
                    command += ["--memory-limit", options.memory_limit]
                    command += ["--spill-dir", str(folder / "spill")]
                found = measure(command) | {"rows": rows}
                log.info("%s", json.dumps(found))
                results.append(found)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    sys.stdout.write(table(results))


def table(results: list[dict]) -> str:
    """The best (fastest) of each tool and size, with its ratios to the same compare written
    by hand (`duckdb`, repeated keys checked as `match` checks them) and, in time, to the bare
    join that leaves that check out (`duckdb-bare`)."""
    best: dict[tuple[int, str], dict] = {}
    for found in results:
        key = (found["rows"], found["tool"])
        if key not in best or found["wall"] < best[key]["wall"]:
            best[key] = found
    lines = [
        "| rows | tool | wall s | peak MiB | time vs same compare by hand | memory vs it "
        "| time vs bare join |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (rows, tool), found in sorted(best.items()):
        same, bare = best.get((rows, "duckdb")), best.get((rows, "duckdb-bare"))
        ratios = [
            f"{found['wall'] / same['wall']:.2f}x" if same else "",
            f"{found['peak_mib'] / same['peak_mib']:.2f}x" if same else "",
            f"{found['wall'] / bare['wall']:.2f}x" if bare else "",
        ]
        lines.append(
            f"| {rows:,} | {tool} | {found['wall']:.1f} | {found['peak_mib']:.0f} | "
            + " | ".join(ratios)
            + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
