"""A real `tallyclerk serve` process on a free loopback port, for the tests where the transport
matters (uvicorn, TLS) and for schemathesis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")
# A TMS shipment of the sample tenant's export, delivered by a carrier the ERP lacks.
SHIPMENT = {
    "shipment_ref": "SH-9000002",
    "scac": "ZZZZ",
    "pickup_at": "2026-11-03T08:00:00Z",
    "delivered_at": "2026-11-04T15:30:00Z",
    "status": "DELIVERED",
    "freight_cost": "412.50",
    "carrier_invoice_no": "INV-NRTH-90001",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(
    workspaces: Path, *extra: str, scheme: str = "http", verify: object = False
) -> Iterator[str]:
    """Serve `workspaces` until the block ends; yields the base URL once /healthz answers."""
    port = free_port()
    command = [TALLYCLERK, "serve", "--workspaces", str(workspaces), "--port", str(port), *extra]
    env = {k: v for k, v in os.environ.items() if k != "TALLYCLERK_USER"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {process.stderr.read().decode()}")
            try:
                if httpx.get(f"{url}/healthz", verify=verify, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
