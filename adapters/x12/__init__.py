"""EDI X12 interchanges read into Arrow: tokens, envelopes, and one reader per transaction set.

Several interchanges and functional groups per file are normal; envelope counts
and control numbers that disagree become findings, not failures.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

from tallyclerk.errors import SourceError

from ..base import FILE_COLUMN, LINE_COLUMN, Extract, SourceIssue, file_facts, with_row_numbers
from .envelope import open_envelopes
from .sets import READERS
from .tokens import tokenise

__all__ = ["X12_SUFFIXES", "read_x12", "supported_columns", "supported_pairs"]

log = logging.getLogger(__name__)

# Endings of X12 files in a folder; a glob in `file:` can name any other.
X12_SUFFIXES = (".edi", ".x12", ".txt", ".dat")


def supported_pairs() -> set[tuple[str, str]]:
    """(transaction set, entity) pairs this package can read."""
    return set(READERS)


def supported_columns(transaction: str, entity: str) -> tuple[str, ...]:
    """The canonical columns the reader of a pair yields."""
    return READERS[(transaction, entity)].columns


def read_x12(
    paths: list[Path], *, transaction: str, entity: str, root: Path, where: str
) -> Extract:
    """Read every `transaction` set in `paths` as records of `entity`."""
    reader = READERS[(transaction, entity)]
    records: list[dict] = []
    issues: list[SourceIssue] = []
    counts = {"interchanges": 0, "groups": 0, "sets": 0}
    for path in paths:
        shown = str(file_facts(path, root=root)["path"])
        try:
            tokens = tokenise(_text(path, where=shown), where=shown)
            envelopes = open_envelopes(tokens.segments, where=shown)
        except SourceError as exc:
            raise SourceError(f"{where}: {exc}") from exc
        issues += tokens.issues + envelopes.issues
        counts["interchanges"] += len(envelopes.interchanges)
        counts["groups"] += sum(len(i.groups) for i in envelopes.interchanges)
        wanted = [s for s in envelopes.sets if s.code == transaction]
        counts["sets"] += len(wanted)
        if not wanted:
            log.warning("%s: %s holds no %s transaction set", where, shown, transaction)
        for transaction_set in wanted:
            for record in reader.read(transaction_set):
                records.append({**record, FILE_COLUMN: shown})
    if "event_seq" in reader.columns:
        _number_events(records)
    table = _table(records, reader.columns)
    log.info(
        "read %d %s record(s) from %d X12 %s set(s)",
        table.num_rows,
        entity,
        counts["sets"],
        transaction,
    )
    return Extract(
        table=table,
        source={
            "kind": "x12",
            "transaction": transaction,
            "files": [file_facts(p, root=root) for p in paths],
            **counts,
        },
        issues=issues,
    )


def _text(path: Path, *, where: str) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise SourceError(f"{where}: the file is empty; expected an X12 interchange.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # X12's character sets are single-byte; a stray accented letter is kept as Latin-1.
        return data.decode("latin-1")


def _number_events(records: list[dict]) -> None:
    """Number each shipment's events in the order they were read, from 1."""
    seen: dict[object, int] = defaultdict(int)
    for record in records:
        seen[record.get("shipment_id")] += 1
        record["event_seq"] = seen[record.get("shipment_id")]


def _table(records: list[dict], columns: tuple[str, ...]) -> pa.Table:
    data = {
        name: pa.array([_text_value(r.get(name)) for r in records], pa.string()) for name in columns
    }
    data[FILE_COLUMN] = pa.array([r[FILE_COLUMN] for r in records], pa.string())
    data[LINE_COLUMN] = pa.array([r["__line"] for r in records], pa.int64())
    return with_row_numbers(pa.table(data))


def _text_value(value: object) -> str | None:
    return None if value is None else str(value)
