"""Approval batches: list, show, submit, approve, reject (with a comment) and export.

A batch is addressed by its run and its `target:entity` pair, as in
`/v1/batches/2026-11.001/wms:item`. Decisions go through `engine.batches`, so four
eyes and conflicts hold exactly as on the command line.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from engine import batches
from engine.apply import export_batch
from engine.causes import causes_first_batches, explained_by_batch

from .auth import Caller, caller
from .formats import CSV, chosen_type
from .problems import ApiProblem, not_found
from .schemas import Batch, BatchDetail, BatchList, Decided, problems

router = APIRouter(tags=["batches"])
NDJSON = "application/x-ndjson"
_PAIR = re.compile(r"^[A-Za-z0-9_-]+:[a-z_]+$")
Pair = Annotated[str, "target:entity"]


class Submit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(None, max_length=2000)


class Approve(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"comment": "checked against the WMS", "revision": 0}]},
    )
    comment: str | None = Field(None, max_length=2000, description="Why; kept in the audit trail.")
    actions: list[str] | None = Field(
        None, max_length=1000, description="Only these actions (ids or their first characters)."
    )
    revision: int | None = Field(
        None, ge=0, description="Refuse if the batch changed since this revision."
    )


def _comment_required(schema: dict) -> None:
    schema["required"] = ["comment"]
    schema["properties"]["comment"].pop("default", None)
    schema["examples"] = [{"comment": "the WMS weights are the right ones"}]


class Reject(Approve):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_comment_required)
    # Required, as the schema says, but refused by `engine.batches` when missing or blank, so
    # every way of leaving it out (no body, `{}`, `""`) is told the same fix.
    comment: Annotated[
        str | None,
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}),
    ] = Field(None, max_length=2000, description="Why; kept in the audit trail.")


@router.get(
    "/v1/batches",
    response_model=BatchList,
    summary="Batches of the tenant; within a run, those that fix root causes first",
    responses=problems(401, 403, 404, 409, 429),
)
def list_batches(
    request: Request,
    who: Annotated[Caller, Depends(caller("view"))],
    run: Annotated[
        str | None,
        Query(
            description="Only the batches of this run: its run id, or the id POST /v1/runs "
            "answered."
        ),
    ] = None,
) -> dict:
    """A run that does not exist is 404, one that failed 409; one that has no batches (yet)
    lists none."""
    job = request.app.state.jobs.get(who.tenant, run) if run is not None else None
    if job is not None:
        if job.state == "failed":
            raise ApiProblem(409, f"run {run!r} failed, so it has no batches: {job.error}")
        if job.run_id is None:
            return {"batches": []}
        run = job.run_id
    with who.tenant.catalog() as catalog, catalog.read() as con:
        if run is not None and not _run_exists(con, run):
            raise not_found(f"run {run!r}")
        found = con.execute(
            "SELECT b.* FROM batches b JOIN runs r USING (run_id) "
            "WHERE ? IS NULL OR b.run_id = ? ORDER BY r.seq, b.batch_id",
            (run, run),
        ).fetchall()
        counts = _counts(con)
        explains = explained_by_batch(con, who.tenant.runs)
    by_id = {row["batch_id"]: row for row in found}
    ranked = causes_first_batches(((row["run_id"], row["batch_id"]) for row in found), explains)
    found = [by_id[batch_id] for batch_id in ranked]
    listed = [_batch(row, counts.get(row["batch_id"], Counter()), explains) for row in found]
    return {"batches": listed}


@router.get(
    "/v1/batches/{run_id}/{pair}",
    response_model=BatchDetail,
    summary="One batch with its actions",
    responses=problems(401, 403, 404, 429),
)
def show_batch(run_id: str, pair: Pair, who: Annotated[Caller, Depends(caller("view"))]) -> dict:
    batch_id = _batch_id(who, run_id, pair)
    with who.tenant.catalog() as catalog, catalog.read() as con:
        row = con.execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        actions = batches.batch_actions(con, batch_id)
        explains = explained_by_batch(con, who.tenant.runs)
    counts = Counter(a["status"] for a in actions)
    detail = _batch(row, counts, explains)
    detail["actions"] = [
        {
            "action_id": a["action_id"],
            "kind": a["kind"],
            "key": a["key"],
            "field": a["field"],
            "risk": a["risk"],
            "status": a["status"],
            "payload": json.loads(a["payload"]),
            "decided_by": a["decided_by"],
            "decided_at": a["decided_at"],
            "comment": a["comment"],
            "reason": a["reason"],
        }
        for a in actions
    ]
    return detail


@router.post(
    "/v1/batches/{run_id}/{pair}/submit",
    response_model=Batch,
    summary="Hand a batch to the approvers",
    responses=problems(401, 403, 404, 409, 422, 429),
)
def submit_batch(
    run_id: str,
    pair: Pair,
    who: Annotated[Caller, Depends(caller("submit"))],
    body: Annotated[Submit, Body(default_factory=Submit)],
) -> dict:
    """No body is the same as `{}`."""
    batch_id = _batch_id(who, run_id, pair)
    with who.tenant.catalog() as catalog:
        batches.submit(catalog, user=who.user, batch=batch_id, comment=body.comment)
    return _current(who, batch_id)


@router.post(
    "/v1/batches/{run_id}/{pair}/approve",
    response_model=Decided,
    summary="Approve a batch's pending actions, or some",
    responses=problems(401, 403, 404, 409, 422, 429),
)
def approve_batch(
    run_id: str,
    pair: Pair,
    who: Annotated[Caller, Depends(caller("decide"))],
    body: Annotated[Approve, Body(default_factory=Approve)],
) -> dict:
    """Four eyes: whoever prepared (ran) or submitted the batch may not approve it (403). No
    body is the same as `{}`: every pending action, whatever the revision."""
    return _decide(who, run_id, pair, "approve", body)


@router.post(
    "/v1/batches/{run_id}/{pair}/reject",
    response_model=Decided,
    summary="Reject a batch's pending actions, or some, saying why",
    responses=problems(401, 403, 404, 409, 422, 429),
)
def reject_batch(
    run_id: str,
    pair: Pair,
    who: Annotated[Caller, Depends(caller("decide"))],
    body: Annotated[Reject, Body(default_factory=Reject)],
) -> dict:
    """Without a comment saying why (no body, or none in it), 422."""
    return _decide(who, run_id, pair, "reject", body)


@router.post(
    "/v1/batches/{run_id}/{pair}/export",
    summary="The approved actions in the target system's field names",
    response_class=Response,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}, CSV: {"schema": {"type": "string"}}}
        },
        **problems(401, 403, 404, 406, 422, 429),
    },
)
async def export(
    run_id: str,
    pair: Pair,
    request: Request,
    who: Annotated[Caller, Depends(caller("export"))],
) -> Response:
    """JSON lines by default, CSV with `Accept: text/csv`; the export is audited."""
    media = chosen_type(request, (NDJSON, CSV))
    batch_id = await run_in_threadpool(_batch_id, who, run_id, pair)

    def write() -> bytes:
        with tempfile.TemporaryDirectory() as folder, who.tenant.catalog() as catalog:
            paths = export_batch(catalog, user=who.user, batch=batch_id, folder=Path(folder))
            wanted = next(p for p in paths if p.suffix == (".csv" if media == CSV else ".jsonl"))
            return wanted.read_bytes()

    return Response(await run_in_threadpool(write), media_type=media)


def _decide(who: Caller, run_id: str, pair: str, decision: str, body: Approve) -> dict:
    batch_id = _batch_id(who, run_id, pair)
    with who.tenant.catalog() as catalog:
        result = batches.decide(
            catalog,
            user=who.user,
            batch=batch_id,
            decision=decision,
            actions=body.actions,
            comment=body.comment,
            revision=body.revision,
        )
    return {
        "batch_id": result.batch_id,
        "decision": decision,
        "decided_by": who.user,
        "actions": list(result.actions),
        "still_pending": result.still_pending,
        "revision": result.revision,
    }


def _batch_id(who: Caller, run_id: str, pair: str) -> str:
    """The id of a batch of the caller's tenant, or 404."""
    batch_id = f"{run_id}/{pair}"
    if not _PAIR.match(pair):
        raise not_found(f"batch {batch_id!r}")
    with who.tenant.catalog() as catalog, catalog.read() as con:
        row = con.execute("SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
    if row is None:
        raise not_found(f"batch {batch_id!r}")
    return batch_id


def _current(who: Caller, batch_id: str) -> dict:
    with who.tenant.catalog() as catalog, catalog.read() as con:
        row = con.execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        counts = _counts(con).get(batch_id, Counter())
        explains = explained_by_batch(con, who.tenant.runs)
    return _batch(row, counts, explains)


def _run_exists(con: sqlite3.Connection, run_id: str) -> bool:
    return con.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None


def _counts(con: sqlite3.Connection) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for row in con.execute("SELECT batch_id, status, count(*) AS n FROM actions GROUP BY 1, 2"):
        counts.setdefault(row["batch_id"], Counter())[row["status"]] = row["n"]
    return counts


def _batch(row: sqlite3.Row, counts: Counter, explains: dict[str, int]) -> dict:
    """A batch as every answer shows it; `explains` is `explained_by_batch`'s."""
    return {
        "batch_id": row["batch_id"],
        "run_id": row["run_id"],
        "target_system": row["target_system"],
        "entity": row["entity"],
        "state": batches.batch_state(counts) if counts else "empty",
        "revision": row["revision"],
        "prepared_by": row["prepared_by"],
        "submitted_by": row["submitted_by"],
        "counts": dict(counts),
        "fixes_causes_of": explains.get(row["batch_id"], 0),
    }
