"""Latency of `POST /v1/validate`: 1,000 records of 20 columns per call, a few thousand calls
from this process to a real `tallyclerk serve` in another, p50 and p99. Run it by hand:

    .venv/bin/python bench/api_validate.py [--calls 3000] [--records 1000]

The workspace is made in a temporary folder: a WMS whose shipment export has 20 columns,
all read by its mapping onto the canonical shipment, and a validate rule of six checks
and a duplicates rule on it. A few records in each call break a check, so every call
answers with findings.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")

COLUMNS = {
    "shipment_id": "SITE || '-' || SHIPMENT_NO",
    "order_id": "ORDER_PREFIX || ORDER_NO",
    "location_id": "WAREHOUSE || '-' || DOCK",
    "carrier_scac": "upper(trim(CARRIER))",
    "shipped_at": "SHIP_DATE || ' ' || SHIP_TIME",
    "delivered_at": "DELIV_DATE || ' ' || DELIV_TIME",
    "status": "coalesce(STATUS, LEGACY_STATUS)",
    "freight_cost": "LINEHAUL + FUEL + ACCESSORIAL",
    "carrier_invoice_no": "INVOICE_PREFIX || INVOICE_NO",
    "weight_kg": "(NET_LB + TARE_LB) * 0.45359237",
}
WORKSPACE = {
    "name": "Benchmark",
    "systems": {
        "wms": {
            "kind": "wms",
            "sources": [
                {
                    "entity": "shipment",
                    "file": "shipments.csv",
                    "columns": COLUMNS,
                    "types": {
                        name: "decimal"
                        for name in ("LINEHAUL", "FUEL", "ACCESSORIAL", "NET_LB", "TARE_LB")
                    },
                }
            ],
        }
    },
    "ownership": {"shipment": {"owner": "wms"}},
    "rules": [
        {
            "id": "shipment-complete",
            "kind": "validate",
            "table": "wms.shipment",
            "severity": "high",
            "checks": [
                {"check": "not_null", "column": "carrier_scac"},
                {"check": "unique", "columns": ["shipment_id"]},
                {"check": "accepted_values", "column": "status", "values": ["SHIPPED", "LOADED"]},
                {"check": "range", "column": "freight_cost", "min": 0, "max": 100000},
                {"check": "pattern", "column": "carrier_scac", "regex": "^[A-Z]{2,4}$"},
                {
                    "check": "expression",
                    "name": "delivered_after_shipped",
                    "predicate": "delivered_at IS NULL OR delivered_at >= shipped_at",
                },
            ],
        },
        {
            "id": "shipment-twice",
            "kind": "duplicates",
            "table": "wms.shipment",
            "key": ["order_id", "carrier_invoice_no"],
            "severity": "medium",
        },
    ],
}


def records(count: int) -> list[dict[str, str | None]]:
    rows = []
    for n in range(count):
        bad = n % 97 == 0
        rows.append(
            {
                "SITE": "RNO",
                "SHIPMENT_NO": f"{n:07d}",
                "ORDER_PREFIX": "SO-",
                "ORDER_NO": f"{n:07d}",
                "WAREHOUSE": "W1",
                "DOCK": f"D{n % 12}",
                "CARRIER": " nrth " if not bad else "North Ridge",
                "SHIP_DATE": "2026-11-03",
                "SHIP_TIME": "08:00:00",
                "DELIV_DATE": "2026-11-04" if not bad else "2026-11-01",
                "DELIV_TIME": "15:30:00",
                "STATUS": "SHIPPED" if n % 5 else None,
                "LEGACY_STATUS": "LOADED",
                "LINEHAUL": "310.00",
                "FUEL": "42.50",
                "ACCESSORIAL": "0" if not bad else "-999",
                "INVOICE_PREFIX": "INV-",
                "INVOICE_NO": f"{n:07d}",
                "NET_LB": "1200.5",
                "TARE_LB": "45",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tenant = root / "bench"
        tenant.mkdir()
        (tenant / "tallyclerk.yaml").write_text(yaml.safe_dump(WORKSPACE, sort_keys=False))
        (tenant / "shipments.csv").write_text(",".join(records(1)[0]) + "\n")
        create = ["keys", "create", "--workspaces", str(root), "--tenant", "bench"]
        made = subprocess.run(
            [TALLYCLERK, *create, "--role", "viewer"],
            capture_output=True,
            text=True,
            check=True,
        )
        key = made.stdout.strip()
        port = _free_port()
        serve = ["serve", "--workspaces", str(root), "--port", str(port)]
        server = subprocess.Popen(
            [TALLYCLERK, *serve, "--rate", "1000000"],
            env=os.environ | {"NO_COLOR": "1"},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(url)
            body = json.dumps(records(args.records)).encode()
            headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
            path = f"{url}/v1/validate?entity=shipment&system=wms&period=2026-11"
            with httpx.Client(timeout=30) as client:
                first = client.post(path, headers=headers, content=body)
                first.raise_for_status()
                answer = first.json()
                for _ in range(args.warmup):
                    client.post(path, headers=headers, content=body).raise_for_status()
                timings = []
                for _ in range(args.calls):
                    started = time.perf_counter()
                    response = client.post(path, headers=headers, content=body)
                    timings.append(time.perf_counter() - started)
                    response.raise_for_status()
        finally:
            server.terminate()
            server.wait(timeout=30)

    timings.sort()
    quantiles = statistics.quantiles(timings, n=100)
    print(
        f"{args.calls} calls of {args.records} records x {len(records(1)[0])} columns "
        f"({len(body):,} bytes), {len(answer['findings'])} findings each, "
        f"rules {', '.join(answer['rules'])}"
    )
    print(
        f"p50 {quantiles[49] * 1000:.1f} ms   p90 {quantiles[89] * 1000:.1f} ms   "
        f"p99 {quantiles[98] * 1000:.1f} ms   max {timings[-1] * 1000:.1f} ms"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer /healthz within 60 s")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
