"""Request bodies sent with `Content-Encoding: gzip`: read as the same body sent plain, held to
the body limit once decompressed, and every other coding or a broken body as a clear 4xx."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import tracemalloc

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from api.encoding import decoded
from api.metrics import Guard, Metrics
from api.problems import ApiProblem
from tests.api.live import SHIPMENT, serving

PROBLEM = "application/problem+json"
SHIPMENTS = "/v1/validate?entity=shipment&system=tms&period=2026-11"
RECORDS = [
    SHIPMENT | {"shipment_ref": "SH-9000001", "scac": "NRTH"},
    SHIPMENT,
    SHIPMENT
    | {"shipment_ref": "SH-9000003", "scac": "NRTH", "delivered_at": "2026-11-01T08:00:00Z"},
]
# What the rules find in RECORDS: ZZZZ is no carrier of the ERP, SH-9000003 arrived too soon.
FOUND = [
    ("shipment-carrier-known", "reference", "shipment_id=SH-9000002", "carrier_scac"),
    ("shipment-delivered-after-pickup", "expression", "shipment_id=SH-9000003", "delivered_at"),
]
# SH-0000042 of the sample was delivered on 7 November; this event says it is in transit.
LATE_EVENT = {
    "shipment_ref": "SH-0000042",
    "seq": "5",
    "status": "IN_TRANSIT",
    "event_time": "2026-11-08T16:00:00Z",
    "recorded_at": "2026-11-08T16:02:00Z",
    "location": "Reno NV",
}


def _csv(records: list[dict]) -> bytes:
    sink = io.StringIO()
    writer = csv.DictWriter(sink, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return sink.getvalue().encode()


def _post(served, body: bytes, content_type: str, encoding: str | None, path: str = SHIPMENTS):
    headers = served.as_("acme", "preparer") | {"content-type": content_type}
    if encoding is not None:
        headers["content-encoding"] = encoding
    return served.client.post(path, headers=headers, content=body)


def _found(answer: dict) -> list[tuple[str, str, str, str]]:
    return sorted((f["rule_id"], f["problem"], f["key"], f["field"]) for f in answer["findings"])


def _problem(response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": {400: "Bad request", 413: "Request body too large"}.get(
            status, "Unsupported media type"
        ),
        "status": status,
        "detail": detail,
    }


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZip", "identity, gzip"])
def test_a_gzip_json_body_finds_what_the_same_body_sent_plain_finds(served, encoding):
    body = json.dumps(RECORDS).encode()
    plain = _post(served, body, "application/json", None)
    assert plain.status_code == 200, plain.text
    assert _found(plain.json()) == FOUND

    compressed = _post(served, gzip.compress(body), "application/json", encoding)
    assert compressed.status_code == 200, compressed.text
    assert compressed.json() == plain.json()


def test_a_gzip_csv_body_finds_what_the_same_body_sent_plain_finds(served):
    body = _csv(RECORDS)
    plain = _post(served, body, "text/csv", None)
    assert plain.status_code == 200, plain.text
    assert _found(plain.json()) == FOUND

    compressed = _post(served, gzip.compress(body), "text/csv", "gzip")
    assert compressed.status_code == 200, compressed.text
    assert compressed.json() == plain.json()
    # Two gzip members one after the other are one body, as `cat a.gz b.gz` makes it.
    half = body.index(b"\n", len(body) // 2) + 1
    members = gzip.compress(body[:half]) + gzip.compress(body[half:])
    assert _post(served, members, "text/csv", "gzip").json() == plain.json()


def test_a_body_sent_plain_as_identity_is_read_as_it_is(served):
    response = _post(served, json.dumps(RECORDS).encode(), "application/json", "identity")
    assert response.status_code == 200, response.text
    assert _found(response.json()) == FOUND


def test_events_may_be_sent_with_gzip(served):
    body = gzip.compress(json.dumps([LATE_EVENT]).encode())
    events = "/v1/events?entity=shipment_event&system=tms"
    response = _post(served, body, "application/json", "gzip", path=events)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["events"], answer["states"]) == (1, {"shipment_id=SH-0000042": "IN_TRANSIT"})
    (finding,) = answer["findings"]
    assert (finding["rule_id"], finding["problem"], finding["key"]) == (
        "shipment-status-sequence",
        "status_regression",
        "shipment_id=SH-0000042",
    )
    assert (finding["owner_value"], finding["other_value"]) == ("DELIVERED", "IN_TRANSIT")


def test_a_gzip_body_is_held_to_the_body_limit_once_decompressed(make_served):
    served = make_served(max_body_bytes=2_000)
    records = [SHIPMENT | {"shipment_ref": f"SH-{n:07}"} for n in range(40)]
    body = json.dumps(records).encode()
    assert len(gzip.compress(body)) < 2_000 < len(body)
    response = _post(served, gzip.compress(body), "application/json", "gzip")
    _problem(
        response,
        413,
        "the body decompresses to over 2,000 bytes, this server's limit, which holds for a body "
        "once decompressed; send a smaller body, or fewer records per request.",
    )
    # Sent compressed, what fits the limit decompressed is read.
    fits = _post(
        served, gzip.compress(json.dumps(records[:5]).encode()), "application/json", "gzip"
    )
    assert fits.status_code == 200, fits.text
    assert fits.json()["records"] == 5


def test_a_gzip_bomb_is_refused_without_being_inflated():
    bomb = gzip.compress(bytes(200_000_000))
    assert len(bomb) < 250_000
    tracemalloc.start()
    try:
        with pytest.raises(ApiProblem) as refused:
            decoded(bomb, "gzip", max_body=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    # What is inflated stays near the limit, never the 200 MB the body would decompress to.
    assert peak < 5_000_000


def _gzip_with_wrong_checksum(body: bytes) -> bytes:
    compressed = bytearray(gzip.compress(body))
    compressed[-8] ^= 0xFF
    return bytes(compressed)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps(RECORDS).encode(), "incorrect header check"),
        (gzip.compress(json.dumps(RECORDS).encode())[:-12], "it ends before its gzip stream does"),
        (_gzip_with_wrong_checksum(json.dumps(RECORDS).encode()), "incorrect data check"),
    ],
    ids=["not-gzip", "cut-short", "wrong-checksum"],
)
def test_a_body_that_is_not_valid_gzip_is_a_bad_request(served, body, reason):
    response = _post(served, body, "application/json", "gzip")
    _problem(
        response,
        400,
        f"the body is not valid gzip: {reason}; send it compressed with gzip, or not "
        "compressed and without Content-Encoding.",
    )


@pytest.mark.parametrize(
    ("encoding", "said"),
    [("br", "br"), ("ZSTD", "zstd"), ("deflate", "deflate"), ("gzip, br", "gzip, br")],
)
def test_a_coding_other_than_gzip_is_refused(served, encoding, said):
    response = _post(served, b"\x1b\x00\x00", "application/json", encoding)
    _problem(
        response,
        415,
        f"the body is encoded as {said}, which this server does not read; send it compressed "
        "with gzip (Content-Encoding: gzip or x-gzip), or not compressed.",
    )
    assert response.headers["accept-encoding"] == "gzip"


def test_a_request_without_a_body_is_answered_whatever_its_content_encoding(served):
    headers = served.as_("acme", "viewer") | {"content-encoding": "br"}
    response = served.client.get("/v1/runs", headers=headers)
    assert response.status_code == 200, response.text


def test_the_app_reads_a_gzip_body_as_if_it_was_sent_plain():
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        headers = {
            name: request.headers.get(name) for name in ("content-encoding", "content-length")
        }
        return JSONResponse({"body": body.decode(), "headers": headers})

    metrics = Metrics()
    app = Guard(
        Starlette(routes=[Route("/echo", echo, methods=["POST"])]), max_body=100, metrics=metrics
    )
    with TestClient(app) as client:
        response = client.post(
            "/echo", content=gzip.compress(b"x" * 90), headers={"content-encoding": "gzip"}
        )
    assert response.json() == {
        "body": "x" * 90,
        "headers": {"content-encoding": None, "content-length": "90"},
    }
    # The route the app matched is still the one the request is timed by.
    labels = {"method": "POST", "route": "/echo", "status": "200"}
    count = "tallyclerk_request_duration_seconds_count"
    assert metrics.registry.get_sample_value(count, labels) == 1


def test_a_gzip_body_streamed_to_a_real_server_is_read(tmp_path, workspaces_template):
    from api.keys import KeyStore

    root = tmp_path / "workspaces"
    shutil.copytree(workspaces_template, root)
    store = KeyStore(root)
    key, _ = store.create(tenant="acme", role="viewer")
    store.close()
    compressed = gzip.compress(_csv(RECORDS))

    def pieces():
        # No Content-Length: the body arrives chunked, in pieces of 64 bytes.
        for start in range(0, len(compressed), 64):
            yield compressed[start : start + 64]

    headers = {
        "Authorization": f"Bearer {key}",
        "content-type": "text/csv",
        "content-encoding": "gzip",
    }
    with serving(root) as url:
        response = httpx.post(f"{url}{SHIPMENTS}", headers=headers, content=pieces(), timeout=60)
    assert response.status_code == 200, response.text
    assert _found(response.json()) == FOUND


def test_the_openapi_document_says_every_post_may_be_refused_for_its_coding(served):
    paths = served.client.get("/openapi.json").json()["paths"]
    refused = {
        path: operations["post"]["responses"]["415"]["content"][PROBLEM]["example"]["detail"]
        for path, operations in paths.items()
        if "post" in operations
    }
    assert refused.pop("/v1/validate").startswith("records cannot be sent as text/plain")
    assert refused.pop("/v1/events").startswith("records cannot be sent as text/plain")
    assert set(refused.values()) == {
        "the body is encoded as br, which this server does not read; send it compressed with "
        "gzip (Content-Encoding: gzip or x-gzip), or not compressed."
    }
