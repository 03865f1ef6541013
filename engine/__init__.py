"""Workspace config, snapshots, backends, runs, findings, actions and state."""

from __future__ import annotations

import warnings

# With the spark extra installed, pandera imports pyspark, which warns at import that it does
# not support pandas 3; tallyclerk hands Spark no pandas, so the warning would only confuse.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
