"""The record every transaction-set reader returns: canonical columns as text, plus the
line of the file where the record's segment is."""

from __future__ import annotations

from .envelope import TransactionSet
from .tokens import Segment
from .values import timestamp_text

Record = dict[str, object]


def at(segment: Segment, **values: object) -> Record:
    """A record read from `segment`, remembering its line for quarantine messages."""
    return {"__line": segment.line, **values}


def recorded_at(ts: TransactionSet) -> str | None:
    """When the sender prepared the functional group: GS04 date and GS05 time."""
    header = ts.group.header
    return timestamp_text(header.get(4), header.get(5))
