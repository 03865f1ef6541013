"""A small HTTP server for the tests, answering in the wire formats of OData v4, SuiteQL
and plain JSON REST, with the failures real APIs have (401, 403, 404, 500, 429)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "tok-7f3a9c"
CLIENT_ID = "tallyclerk"
CLIENT_SECRET = "cs-Zq81-very-secret"

ORDERS = [
    {"salesorderid": f"SO-{n}", "totalamount": amount, "modifiedon": modified, "statecode": state}
    for n, amount, modified, state in [
        (1, "100.10", "2026-11-01T08:00:00Z", 0),
        (2, "2500.00", "2026-11-02T09:30:00Z", 0),
        (3, "0.05", "2026-11-03T10:00:00Z", 1),
        (4, "17.25", "2026-11-03T10:00:00Z", 0),
        (5, "99999.99", "2026-11-04T12:00:00Z", 0),
    ]
]
ITEMS = [{"id": f"{n:06d}", "name": f"Item {n}", "price": f"{n}.50"} for n in range(1, 8)]


@dataclass
class ApiServer:
    url: str
    hits: Counter = field(default_factory=Counter)
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, dict, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server_state: ApiServer

    def log_message(self, *_: object) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        state = self.server_state
        state.hits[parts.path] += 1
        state.requests.append((method, parts.path, query, body))
        route = _ROUTES.get((method, parts.path))
        if route is None and parts.path.startswith("/status/"):
            code = int(parts.path.rsplit("/", 1)[1])
            return self._send(code, {"error": {"message": f"status {code} as asked"}})
        if route is None:
            return self._send(404, {"error": {"message": "no such resource"}})
        route(self, query, body)

    def _authorised(self) -> bool:
        presented = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        state = self.server_state
        if presented == TOKEN or (presented in state.issued and presented not in state.revoked):
            return True
        self._send(401, {"error": {"code": "invalid_token", "message": "token refused"}})
        return False

    def _send(self, code: int, document: object, headers: dict | None = None) -> None:
        data = json.dumps(document).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # --- OAuth2 -----------------------------------------------------------------

    def token(self, query: dict, body: str) -> None:
        form = {k: v[-1] for k, v in parse_qs(body).items()}
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return self._send(401, {"error": "invalid_client"})
        token = f"{TOKEN}-{len(self.server_state.issued) + 1}"
        self.server_state.issued.append(token)
        self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    # --- OData v4 ---------------------------------------------------------------

    def orders(self, query: dict, body: str) -> None:
        if not self._authorised():
            return
        rows = ORDERS
        text = query.get("$filter", "")
        for clause in filter(None, (c.strip("() ") for c in text.split(" and "))):
            name, op, value = clause.split(" ", 2)
            if op == "ge":
                rows = [r for r in rows if r[name] >= value]
            elif op == "eq":
                rows = [r for r in rows if str(r[name]) == value]
        if "$top" in query:
            rows = rows[: int(query["$top"])]
        if "$select" in query:
            names = query["$select"].split(",")
            rows = [{k: r[k] for k in names} for r in rows]
        size = int(self.headers.get("prefer", "odata.maxpagesize=2").split("=")[1])
        skip = int(query.get("$skiptoken", 0))
        page = [{"@odata.etag": 'W/"1"', **r} for r in rows[skip : skip + size]]
        document = {"@odata.context": f"{self.server_state.url}/odata/$metadata#orders"}
        document["value"] = page
        if skip + size < len(rows):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(skip + size)
            link = "&".join(f"{k}={v}" for k, v in rest.items())
            document["@odata.nextLink"] = f"{self.server_state.url}/odata/orders?{link}"
        self._send(200, document)

    def expiring(self, query: dict, body: str) -> None:
        """Like `orders`, but the first token issued expires after the first page."""
        self.orders(query, body)
        if self.server_state.issued:
            self.server_state.revoked.add(self.server_state.issued[0])

    def odata_loop(self, query: dict, body: str) -> None:
        document = {"value": [{"id": "x"}], "@odata.nextLink": "loop?$skiptoken=1"}
        self._send(200, document)

    # --- SuiteQL ----------------------------------------------------------------

    def suiteql(self, query: dict, body: str) -> None:
        if not self._authorised():
            return
        statement = json.loads(body)["q"]
        rows = [{"links": [], "id": r["id"], "itemid": r["name"]} for r in ITEMS]
        if "WHERE" in statement:
            rows = rows[4:]
        limit, offset = int(query["limit"]), int(query["offset"])
        page = rows[offset : offset + limit]
        total = len(rows) + (1 if "lost" in statement else 0)
        self._send(
            200,
            {
                "links": [],
                "count": len(page),
                "hasMore": offset + len(page) < len(rows),
                "offset": offset,
                "totalResults": total,
                "items": page,
            },
        )

    # --- REST -------------------------------------------------------------------

    def items_by_cursor(self, query: dict, body: str) -> None:
        start = int(query.get("cursor") or 0)
        page = ITEMS[start : start + 3]
        following = start + 3 if start + 3 < len(ITEMS) else None
        self._send(200, {"data": page, "meta": {"next_cursor": following}})

    def items_by_page(self, query: dict, body: str) -> None:
        size, number = int(query["per_page"]), int(query["page"])
        self._send(200, ITEMS[(number - 1) * size : number * size])

    def repeating_cursor(self, query: dict, body: str) -> None:
        cursor = query.get("cursor")
        following = "c2" if cursor in (None, "c1") else "c1"
        self._send(200, {"data": [{"id": cursor or "start"}], "meta": {"next_cursor": following}})

    def flaky(self, query: dict, body: str) -> None:
        if self.server_state.hits["/api/flaky"] <= 2:
            return self._send(503, {"error": "busy"})
        self._send(200, {"data": ITEMS[:1], "meta": {}})

    def throttled(self, query: dict, body: str) -> None:
        if self.server_state.hits["/api/throttled"] == 1:
            return self._send(429, {"error": "slow down"}, {"Retry-After": "7"})
        self._send(200, {"data": ITEMS[:2], "meta": {}})

    def always_500(self, query: dict, body: str) -> None:
        self._send(500, {"error": "internal"})

    def slow(self, query: dict, body: str) -> None:
        time.sleep(0.5)
        self._send(200, {"data": []})

    def halfway(self, query: dict, body: str) -> None:
        if query.get("cursor"):
            return self._send(500, {"error": "internal"})
        self._send(200, {"data": ITEMS[:3], "meta": {"next_cursor": "3"}})


_ROUTES = {
    ("POST", "/oauth/token"): _Handler.token,
    ("GET", "/odata/orders"): _Handler.orders,
    ("GET", "/odata/loop"): _Handler.odata_loop,
    ("GET", "/odata/expiring"): _Handler.expiring,
    ("POST", "/services/rest/query/v1/suiteql"): _Handler.suiteql,
    ("GET", "/api/items"): _Handler.items_by_cursor,
    ("GET", "/api/pages"): _Handler.items_by_page,
    ("GET", "/api/loop"): _Handler.repeating_cursor,
    ("GET", "/api/flaky"): _Handler.flaky,
    ("GET", "/api/throttled"): _Handler.throttled,
    ("GET", "/api/broken"): _Handler.always_500,
    ("GET", "/api/halfway"): _Handler.halfway,
    ("GET", "/api/slow"): _Handler.slow,
}


@contextmanager
def running_api() -> Iterator[ApiServer]:
    """Serve on a free loopback port in a background thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = ApiServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"server_state": state})
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
