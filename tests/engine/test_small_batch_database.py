"""The database the server checks records in reads times as UTC, whatever the host's zone."""

from __future__ import annotations

import os
import subprocess
import sys

_PROBE = """
import threading
from tallyclerk.duckdb_answers import small_batch_database
database = small_batch_database()
def probe():
    con = database.cursor()
    zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    read = con.execute("SELECT CAST('2026-11-30 23:30:00' AS TIMESTAMPTZ)::VARCHAR").fetchone()[0]
    print(zone, read)
worker = threading.Thread(target=probe)
worker.start()
worker.join()
"""


def test_a_cursor_on_another_thread_reads_times_as_utc_on_a_host_in_new_york():
    env = os.environ | {"TZ": "America/New_York"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split("\n")[0] == "UTC 2026-11-30 23:30:00+00"
