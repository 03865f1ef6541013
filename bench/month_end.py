"""The sample tenant's month-end close at scale: generate it, run it, print each stage's
time and the peak memory reached by its end, from the run's manifest.

    python -m bench.month_end --orders 1000000 [--folder DIR] [--backend duckdb|spark]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=ROOT / "build" / "month-end")
    parser.add_argument("--backend", default="duckdb", choices=("duckdb", "spark"))
    options = parser.parse_args()

    shutil.rmtree(options.folder, ignore_errors=True)
    generate = [TALLYCLERK, "demo", str(options.folder), "--orders", str(options.orders)]
    subprocess.run([*generate, "--generate-only"], check=True)
    began = time.perf_counter()
    command = [TALLYCLERK, "run", str(options.folder), "--period", "2026-11"]
    child = subprocess.Popen([*command, "--backend", options.backend], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the run failed with status {status}")

    manifest_path = options.folder / ".tallyclerk" / "runs" / "2026-11.001" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    rows = sum(snapshot.get("rows", 0) for snapshot in manifest["snapshots"])
    lines = [
        f"{options.orders:,} orders, {rows:,} snapshot rows, backend {options.backend}: "
        f"{wall:.1f} s wall for the command, {usage.ru_maxrss / 1024:.0f} MiB peak",
        "| stage | seconds | peak MiB by its end |",
        "| --- | ---: | ---: |",
    ]
    for stage, seconds in manifest["timings"].items():
        peak = manifest.get("peak_mib", {}).get(stage, "")
        lines.append(f"| {stage} | {seconds:.1f} | {peak} |")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
