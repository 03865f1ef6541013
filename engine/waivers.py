"""Waivers: a person suppresses one finding, or every finding of a rule for one key,
until a date, with a reason. Each waiver (with the actions it withdraws) and each
revocation is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from tallyclerk.errors import ConfigError

from . import audit
from .catalog import Catalog
from .lifecycle import Waiver, active_waivers

# Finding ids are md5 hex; this many leading characters are enough to name one.
MIN_PREFIX = 6
# Statuses of actions a waiver withdraws: nothing has been written by them yet.
WITHDRAWABLE = ("pending", "approved", "failed")


@dataclass(frozen=True)
class Waived:
    """What waiving did: the waiver, whether it is new, and the actions it withdrew."""

    waiver: Waiver
    created: bool
    withdrawn: tuple[str, ...] = ()


def waive(
    catalog: Catalog,
    *,
    user: str,
    until: date,
    reason: str,
    finding: str | None = None,
    rule: str | None = None,
    key: str | None = None,
    today: date | None = None,
) -> Waived:
    """Record a waiver of one finding (by id or id prefix), or of a rule for one key.

    Waiving again on the same terms changes nothing. The undone actions of the findings
    a new waiver covers are withdrawn, so an approved change is not applied while its
    finding waits; the run after the waiver ends proposes the change again.
    """
    today = today or datetime.now(UTC).date()
    if (finding is None) == (rule is None and key is None) or (rule is None) != (key is None):
        raise ConfigError(
            "waive either one finding (--finding ID) or one rule for one key "
            "(--rule RULE --key 'item_id=123'), not both and not neither."
        )
    if until < today:
        raise ConfigError(
            f"--until {until.isoformat()} is in the past; a waiver runs until a date from "
            f"today ({today.isoformat()}) on."
        )
    if not reason.strip():
        raise ConfigError("a waiver needs a reason: pass --reason saying why the finding may wait.")
    with catalog.write() as con:
        if finding is not None:
            finding = _finding_id(con, finding)
            covered = [finding]
        else:
            covered = [
                row[0]
                for row in con.execute(
                    "SELECT finding_id FROM findings WHERE rule_id = ? AND key = ?", (rule, key)
                )
            ]
            if not covered:
                raise ConfigError(
                    f"no run has found rule {rule!r} with key {key!r}; copy the key as "
                    "`tallyclerk findings list` shows it, for example 'item_id=123'."
                )
        for same in active_waivers(con, today):
            if (same.finding_id, same.rule_id, same.key, same.until, same.reason) == (
                finding,
                rule,
                key,
                until,
                reason,
            ):
                return Waived(same, created=False)
        (waiver_id,) = con.execute(
            "INSERT INTO waivers (finding_id, rule_id, key, until, reason, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING waiver_id",
            (
                finding,
                rule,
                key,
                until.isoformat(),
                reason,
                user,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        ).fetchone()
        waiver = Waiver(waiver_id, finding, rule, key, until, reason)
        withdrawn = _withdraw(con, covered, waiver)
        subject = f"finding:{finding}" if finding else f"rule:{rule}|{key}"
        audit.append(
            catalog,
            con,
            actor=user,
            verb="waive",
            subject=subject,
            detail={
                "waiver_id": waiver.waiver_id,
                "until": until.isoformat(),
                "withdrawn": withdrawn,
            },
            why=reason,
        )
    return Waived(waiver, created=True, withdrawn=tuple(withdrawn))


def _withdraw(con, finding_ids: list[str], waiver: Waiver) -> list[str]:
    """Withdraw the actions of waived findings that no system has taken yet."""
    marks = ", ".join("?" * len(finding_ids))
    rows = con.execute(
        f"SELECT action_id FROM actions WHERE finding_id IN ({marks}) "
        f"AND status IN ({', '.join('?' * len(WITHDRAWABLE))}) ORDER BY action_id",
        (*finding_ids, *WITHDRAWABLE),
    ).fetchall()
    withdrawn = [row[0] for row in rows]
    con.executemany(
        "UPDATE actions SET status = 'withdrawn', reason = ? WHERE action_id = ?",
        [
            (
                f"its finding was waived until {waiver.until.isoformat()} "
                f"(waiver {waiver.waiver_id}): {waiver.reason}",
                action_id,
            )
            for action_id in withdrawn
        ],
    )
    return withdrawn


def revoke(catalog: Catalog, *, user: str, waiver_id: int, reason: str) -> None:
    """End a waiver before its date; the findings it covered are open again at the next run."""
    with catalog.write() as con:
        row = con.execute("SELECT * FROM waivers WHERE waiver_id = ?", (waiver_id,)).fetchone()
        if row is None or row["revoked_at"] is not None:
            state = "does not exist" if row is None else f"was revoked by {row['revoked_by']}"
            raise ConfigError(
                f"waiver {waiver_id} {state}; `tallyclerk findings waivers` lists them."
            )
        con.execute(
            "UPDATE waivers SET revoked_by = ?, revoked_at = ? WHERE waiver_id = ?",
            (user, datetime.now(UTC).isoformat(timespec="seconds"), waiver_id),
        )
        audit.append(
            catalog,
            con,
            actor=user,
            verb="unwaive",
            subject=f"waiver:{waiver_id}",
            detail={"finding_id": row["finding_id"], "rule_id": row["rule_id"], "key": row["key"]},
            why=reason,
        )


def current(catalog: Catalog, *, today: date | None = None) -> list[Waiver]:
    with catalog.read() as con:
        return active_waivers(con, today or datetime.now(UTC).date())


def _finding_id(con, prefix: str) -> str:
    if len(prefix) < MIN_PREFIX:
        raise ConfigError(
            f"finding id {prefix!r} is too short: give at least {MIN_PREFIX} characters."
        )
    rows = con.execute(
        "SELECT finding_id FROM findings WHERE substr(finding_id, 1, length(?1)) = ?1 LIMIT 2",
        (prefix,),
    ).fetchall()
    if len(rows) != 1:
        found = "no finding" if not rows else "more than one finding"
        raise ConfigError(
            f"{found} has an id starting {prefix!r}; `tallyclerk findings list RUN` shows ids."
        )
    return rows[0][0]
