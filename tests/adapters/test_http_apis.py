"""OData v4, SuiteQL and JSON REST adapters against a local server speaking their wire formats."""

from __future__ import annotations

import pytest

from adapters.http import Auth, HttpSettings
from adapters.odata import read_odata
from adapters.rest import Paging, read_rest
from adapters.secrets import Secrets
from adapters.suiteql import read_suiteql
from tallyclerk.errors import SourceError
from tests.api_server import CLIENT_ID, CLIENT_SECRET, TOKEN

WHERE = "system 'erp', sales_order"
BEARER = Auth(bearer="env:ERP_TOKEN")
ENV = {"ERP_TOKEN": TOKEN, "ERP_SECRET": CLIENT_SECRET}


class Sleeps(list):
    """Records the waits the client asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _odata(server, path="/odata/orders", auth=BEARER, env=ENV, **options):
    defaults = {"select": [], "filter": None, "top": None, "page_size": 2, "watermark": None}
    defaults["since"] = None
    return read_odata(
        HttpSettings(url=f"{server.url}{path}", auth=auth),
        **{**defaults, **options},
        where=WHERE,
        secrets=Secrets(env),
        sleep=Sleeps(),
    )


def _rest(server, path, *, paging=None, records="data", sleep=None, retries=4):
    return read_rest(
        HttpSettings(url=f"{server.url}{path}", retries=retries),
        records=records,
        params={},
        paging=paging,
        watermark=None,
        watermark_param=None,
        since=None,
        where="system 'wms', item",
        secrets=Secrets({}),
        sleep=sleep if sleep is not None else Sleeps(),
    )


def test_odata_follows_next_links_and_drops_annotations(api_server):
    extract = _odata(api_server, select=["salesorderid", "totalamount"], filter="statecode eq 0")
    assert extract.table.select(["salesorderid", "totalamount"]).to_pylist() == [
        {"salesorderid": "SO-1", "totalamount": "100.10"},
        {"salesorderid": "SO-2", "totalamount": "2500.00"},
        {"salesorderid": "SO-4", "totalamount": "17.25"},
        {"salesorderid": "SO-5", "totalamount": "99999.99"},
    ]
    assert extract.source["pages"] == 2
    assert api_server.requests[0][2] == {
        "$select": "salesorderid,totalamount",
        "$filter": "(statecode eq 0)",
    }


def test_odata_delta_read_by_modified_on_watermark(api_server):
    extract = _odata(api_server, watermark="modifiedon", since="2026-11-03T10:00:00Z")
    assert extract.table.column("salesorderid").to_pylist() == ["SO-3", "SO-4", "SO-5"]
    assert extract.watermark == "2026-11-04T12:00:00Z"
    assert api_server.requests[0][2]["$filter"] == "modifiedon ge 2026-11-03T10:00:00Z"


def test_odata_top_limits_the_rows(api_server):
    assert _odata(api_server, top=3).table.num_rows == 3


def test_odata_with_oauth2_client_credentials(api_server):
    auth = Auth(
        token_url=f"{api_server.url}/oauth/token",
        client_id=CLIENT_ID,
        client_secret="env:ERP_SECRET",
        scope="api://erp/.default",
    )
    assert _odata(api_server, auth=auth).table.num_rows == 5
    assert api_server.hits["/oauth/token"] == 1


def test_an_access_token_that_expires_during_the_read_is_renewed_once(api_server):
    auth = Auth(
        token_url=f"{api_server.url}/oauth/token",
        client_id=CLIENT_ID,
        client_secret="env:ERP_SECRET",
    )
    extract = _odata(api_server, path="/odata/expiring", auth=auth)
    assert extract.table.num_rows == 5
    assert api_server.hits["/oauth/token"] == 2
    # Page 1 from /odata/expiring; its next links lead to /odata/orders, where the first
    # request is refused (401) and repeated with the new token.
    assert (api_server.hits["/odata/expiring"], api_server.hits["/odata/orders"]) == (1, 3)


def test_odata_wrong_client_secret(api_server):
    auth = Auth(
        token_url=f"{api_server.url}/oauth/token", client_id=CLIENT_ID, client_secret="env:X"
    )
    with pytest.raises(SourceError) as caught:
        _odata(api_server, auth=auth, env={"X": "guessed-wrong"})
    assert str(caught.value) == (
        f"{WHERE}: POST {api_server.url}/oauth/token (OAuth2 token) returned HTTP 401 "
        "Unauthorized: the client credentials were refused; check client_id, client_secret "
        "and scope."
    )


def test_odata_next_link_that_repeats_fails_instead_of_looping(api_server):
    with pytest.raises(SourceError) as caught:
        _odata(api_server, path="/odata/loop")
    assert str(caught.value) == (
        f"{WHERE}: page 2 of {api_server.url}/odata/loop links back to page 2 "
        "(@odata.nextLink repeats), so the paging would never end; ask the API's owner to "
        "fix the paging."
    )


def test_401_names_url_status_and_fix_without_the_token(api_server):
    with pytest.raises(SourceError) as caught:
        _odata(api_server, env={"ERP_TOKEN": "expired-token-value"})
    message = str(caught.value)
    assert message == (
        f"{WHERE}: GET {api_server.url}/odata/orders returned HTTP 401 Unauthorized: "
        "the credentials were refused: check the token or client secret in the environment. "
        'The server said: \'{"error": {"code": "invalid_token", "message": "token refused"}}\''
    )
    assert "expired-token-value" not in message


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (403, "HTTP 403 Forbidden: the credentials lack permission for this resource: ask the "
         "system's admin for read access."),
        (404, "HTTP 404 Not Found: the resource does not exist: check `url:` in tallyclerk.yaml."),
        (500, "HTTP 500 Internal Server Error after 3 attempts: the server failed: try again "
         "later, or ask the system's admin."),
    ],
)  # fmt: skip
def test_error_statuses(api_server, status, said):
    with pytest.raises(SourceError) as caught:
        _rest(api_server, f"/status/{status}", retries=2)
    assert str(caught.value) == (
        f"system 'wms', item: GET {api_server.url}/status/{status} returned {said} "
        f'The server said: \'{{"error": {{"message": "status {status} as asked"}}}}\''
    )


def test_5xx_is_retried_with_exponential_backoff(api_server):
    sleeps = Sleeps()
    extract = _rest(api_server, "/api/flaky", sleep=sleeps)
    assert extract.table.num_rows == 1
    assert sleeps == [0.5, 1.0]
    assert api_server.hits["/api/flaky"] == 3


def test_429_honours_retry_after(api_server):
    sleeps = Sleeps()
    assert _rest(api_server, "/api/throttled", sleep=sleeps).table.num_rows == 2
    assert sleeps == [7.0]


def test_rest_cursor_paging(api_server):
    paging = Paging(type="cursor", param="cursor", next="meta.next_cursor")
    extract = _rest(api_server, "/api/items", paging=paging)
    assert extract.table.column("id").to_pylist() == [f"{n:06d}" for n in range(1, 8)]
    assert extract.source["pages"] == 3


def test_rest_page_paging_stops_at_a_short_page(api_server):
    paging = Paging(type="page", param="page", size_param="per_page", size=3)
    extract = _rest(api_server, "/api/pages", paging=paging, records=None)
    assert extract.table.num_rows == 7
    assert [r[2]["page"] for r in api_server.requests] == ["1", "2", "3"]


def test_rest_cursor_that_repeats_fails_instead_of_looping(api_server):
    paging = Paging(type="cursor", param="cursor", next="meta.next_cursor")
    with pytest.raises(SourceError) as caught:
        _rest(api_server, "/api/loop", paging=paging)
    assert str(caught.value) == (
        f"system 'wms', item: GET {api_server.url}/api/loop returned cursor 'c2' on page 3 "
        "and already on page 1; the cursor repeats, so the paging would never end. Ask the "
        "API's owner to fix the cursor."
    )


def _suiteql(server, query, **options):
    return read_suiteql(
        HttpSettings(url=f"{server.url}/services/rest/query/v1/suiteql", auth=BEARER),
        query=query,
        page_size=3,
        watermark=options.get("watermark"),
        since=options.get("since"),
        where="system 'finance', item",
        secrets=Secrets(ENV),
        sleep=Sleeps(),
    )


def test_suiteql_offset_paging(api_server):
    extract = _suiteql(api_server, "SELECT id, itemid FROM item")
    assert extract.table.column("id").to_pylist() == [f"{n:06d}" for n in range(1, 8)]
    assert extract.table.column_names == ["__row", "id", "itemid"]
    offsets = [r[2]["offset"] for r in api_server.requests]
    assert offsets == ["0", "3", "6"]
    assert api_server.requests[0][3] == '{"q":"SELECT id, itemid FROM item"}'


def test_suiteql_watermark_narrows_the_query(api_server):
    extract = _suiteql(api_server, "SELECT id, itemid FROM item", watermark="id", since="000005")
    assert extract.table.column("id").to_pylist() == ["000005", "000006", "000007"]
    assert extract.watermark == "000007"
    assert extract.source["query"] == (
        'SELECT * FROM (SELECT id, itemid FROM item) source WHERE "source"."id" >= \'000005\''
    )


def test_suiteql_rows_that_do_not_add_up_to_total_results(api_server):
    with pytest.raises(SourceError) as caught:
        _suiteql(api_server, "SELECT id FROM item WHERE itemid <> 'lost'")
    assert "announced totalResults 4 but 3 rows were read in 1 page" in str(caught.value)


def test_a_server_that_does_not_answer_in_time(api_server):
    sleeps = Sleeps()
    with pytest.raises(SourceError) as caught:
        read_rest(
            HttpSettings(url=f"{api_server.url}/api/slow", timeout=0.1, retries=1),
            records="data",
            params={},
            paging=None,
            watermark=None,
            watermark_param=None,
            since=None,
            where="system 'wms', item",
            secrets=Secrets({}),
            sleep=sleeps,
        )
    assert str(caught.value) == (
        f"system 'wms', item: GET {api_server.url}/api/slow failed after 2 attempts: "
        "ReadTimeout: timed out. Check that the API is reachable and raise `timeout:` if it "
        "is slow."
    )
    assert sleeps == [0.5]
