"""Workspace config, snapshots, backends, runs, findings, actions and state."""

from __future__ import annotations

import importlib
import sys


def _import_pandera_without_pyspark() -> None:
    """Import pandera while pyspark is hidden from it.

    With pyspark installed (the spark extra), pandera imports pyspark.pandas as it loads:
    a second or two for every tallyclerk process, and a warning that pyspark does not
    support pandas 3. tallyclerk validates with pandera's polars API and hands Spark no
    pandas, so pandera is loaded without it; pyspark imports normally afterwards.
    """
    if "pandera" in sys.modules:
        return
    hidden = [name for name in ("pyspark", "pyspark.pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        importlib.import_module("pandera.polars")
    finally:
        for name in hidden:
            del sys.modules[name]


_import_pandera_without_pyspark()
