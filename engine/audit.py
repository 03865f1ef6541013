"""The audit trail: every decision appended with who, when, what and why, hash-chained.

Each entry's hash covers its own fields and the previous entry's hash, so an
edited entry breaks its own hash and a deleted one breaks the chain after it.
The newest sequence number and hash are also written beside the catalog, in
`audit.head`, so deleting the newest entries is caught as well.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from .audit_state import state_problems
from .catalog import Catalog

GENESIS = "0" * 64
HEAD_FILE = "audit.head"


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    actor: str
    verb: str
    subject: str
    detail: dict
    why: str | None


@dataclass(frozen=True)
class Break:
    """One place where the trail is not what was written; `seq` None for the whole trail."""

    seq: int | None
    problem: str
    # A row of the catalog's state (an action, a waiver) that disagrees with the trail.
    state: bool = False


def append(
    catalog: Catalog,
    con: sqlite3.Connection,
    *,
    actor: str,
    verb: str,
    subject: str,
    detail: dict | None = None,
    why: str | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry inside the caller's write transaction; returns its sequence number."""
    last = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    text = json.dumps(detail or {}, sort_keys=True, default=str)
    digest = _hash(seq, when, actor, verb, subject, text, why, prev)
    con.execute(
        "INSERT INTO audit (seq, at, actor, verb, subject, detail, why, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, when, actor, verb, subject, text, why, prev, digest),
    )
    head = catalog.state / HEAD_FILE
    catalog.after_commit(lambda: _write_head(head, seq, digest))
    return seq


def entries(
    catalog: Catalog, *, subject: str | None = None, actor: str | None = None
) -> list[Entry]:
    with catalog.read() as con:
        rows = con.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    return [
        Entry(
            r["seq"],
            r["at"],
            r["actor"],
            r["verb"],
            r["subject"],
            json.loads(r["detail"]),
            r["why"],
        )
        for r in rows
        if (subject is None or r["subject"].startswith(subject))
        and (actor is None or r["actor"] == actor)
    ]


def verify(catalog: Catalog) -> tuple[int, list[Break]]:
    """Check every entry's hash and link; returns the entries checked and every break found."""
    with catalog.read() as con:
        present = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'"
        ).fetchone()
        rows = con.execute("SELECT * FROM audit ORDER BY seq").fetchall() if present else []
    breaks: list[Break] = []
    if not present:
        breaks.append(Break(None, f"the audit table is missing from {catalog.path} (dropped)"))
    expected_seq, prev = 1, GENESIS
    for row in rows:
        if row["seq"] != expected_seq:
            gone = range(expected_seq, row["seq"])
            breaks.append(Break(expected_seq, f"{_span(gone)} missing (deleted)"))
        elif row["prev_hash"] != prev:
            breaks.append(
                Break(
                    row["seq"],
                    "its link to the entry before it is broken (an entry was deleted or replaced)",
                )
            )
        digest = _hash(
            row["seq"],
            row["at"],
            row["actor"],
            row["verb"],
            row["subject"],
            row["detail"],
            row["why"],
            row["prev_hash"],
        )
        if digest != row["hash"]:
            breaks.append(Break(row["seq"], "its content does not match its hash (edited)"))
        expected_seq, prev = row["seq"] + 1, row["hash"]
    breaks += _check_head(catalog, rows)
    if present:
        with catalog.read() as con:
            breaks += [Break(None, problem, state=True) for problem in state_problems(con)]
    return len(rows), breaks


def _check_head(catalog: Catalog, rows: list[sqlite3.Row]) -> list[Break]:
    head = catalog.state / HEAD_FILE
    if not head.is_file():
        return [Break(rows[-1]["seq"], f"{head} is missing")] if rows else []
    seq_text, _, digest = head.read_text(encoding="utf-8").strip().partition(" ")
    if not seq_text.isdigit():
        return [Break(None, f"{head} is damaged: it holds no entry number and hash")]
    seq = int(seq_text)
    by_seq = {row["seq"]: row["hash"] for row in rows}
    last = rows[-1]["seq"] if rows else 0
    if seq > last:
        return [Break(last + 1, f"{_span(range(last + 1, seq + 1))} missing (deleted)")]
    if by_seq.get(seq) != digest:
        return [Break(seq, f"its hash differs from the one recorded in {head} (replaced)")]
    return []


def _hash(*fields: object) -> str:
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


def _write_head(path, seq: int, digest: str) -> None:
    # The head only moves forward: a slower process never writes an older head.
    if path.is_file():
        current = path.read_text(encoding="utf-8").split(" ", 1)[0]
        if current.isdigit() and int(current) >= seq:
            return
    temporary = path.with_suffix(f".{seq}.tmp")
    temporary.write_text(f"{seq} {digest}\n", encoding="utf-8")
    temporary.replace(path)


def _span(numbers: range) -> str:
    if len(numbers) == 1:
        return f"entry {numbers[0]} is"
    return f"entries {numbers[0]} to {numbers[-1]} are"
