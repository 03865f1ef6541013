"""Reads a NetSuite-style SuiteQL query into Arrow, POSTed and paged by offset.

Each page answers with `items`, `count`, `offset`, `hasMore` and `totalResults`;
the extraction ends when `hasMore` is false, and fails when the rows read do not
add up to `totalResults`, so a page lost on the way never goes unnoticed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tallyclerk.errors import SourceError
from tallyclerk.wording import plural

from .base import Extract
from .database import checked_query, since_query
from .http import HttpClient, HttpSettings, highest
from .records import records_table
from .secrets import Secrets, safe_url

log = logging.getLogger(__name__)

# SuiteQL is close to Oracle SQL; sqlglot checks it as such.
DIALECT = "oracle"


def read_suiteql(
    settings: HttpSettings,
    *,
    query: str,
    page_size: int,
    watermark: str | None,
    since: str | None,
    where: str,
    secrets: Secrets,
    sleep: Callable[[float], None] | None = None,
) -> Extract:
    """Run `query` and read every page of its result.

    With a watermark, the query is narrowed to `<column> >= '<since>'`; select the
    column as ISO text (TO_CHAR(lastmodifieddate, 'YYYY-MM-DD"T"HH24:MI:SS')) so
    that the comparison and the highest value are exact.
    """
    tree = checked_query(query, DIALECT, where=where)
    if watermark and since:
        tree = since_query(tree, watermark, since)
    sql = tree.sql(dialect=DIALECT)
    records: list[dict] = []
    offset, pages, total = 0, 0, None
    extra = {"sleep": sleep} if sleep is not None else {}
    with HttpClient(settings, where=where, secrets=secrets, **extra) as client:
        while True:
            pages += 1
            body = client.post_json(
                settings.url,
                body={"q": sql},
                params={"limit": page_size, "offset": offset},
                headers={"Prefer": "transient"},
            )
            items, has_more, total = _page(body, where=where, url=settings.url, page=pages)
            records += [{k: v for k, v in item.items() if k != "links"} for item in items]
            if not has_more:
                break
            if not items:
                raise SourceError(
                    f"{where}: POST {safe_url(settings.url)} page {pages} (offset {offset}) "
                    "returned no items but hasMore is true, so the paging would never end."
                )
            offset += len(items)
    if total is not None and total != len(records):
        raise SourceError(
            f"{where}: POST {safe_url(settings.url)} announced totalResults {total} but "
            f"{len(records)} rows were read in {plural(pages, 'page')}; the result changed "
            "while it was paged. Run again."
        )
    log.info("%s: %d row(s) in %d page(s)", where, len(records), pages)
    return Extract(
        table=records_table(records),
        source={"kind": "suiteql", "url": safe_url(settings.url), "query": sql, "pages": pages},
        watermark=highest(records, watermark),
    )


def _page(body: object, *, where: str, url: str, page: int) -> tuple[list[dict], bool, int | None]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise SourceError(
            f"{where}: POST {safe_url(url)} page {page} returned no `items` list; "
            "`url:` must be the SuiteQL endpoint (…/query/v1/suiteql)."
        )
    has_more = body.get("hasMore")
    total = body.get("totalResults")
    return body["items"], has_more in (True, "true"), None if total is None else int(total)
