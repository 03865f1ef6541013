"""Reads an OData v4 entity set (Dynamics 365, SAP) into Arrow, following server-driven paging.

`$select`, `$filter` and `$top` are sent as declared; a watermark adds
`<field> ge <value>` to the filter so only changed records are read. Pages are
followed through `@odata.nextLink` until there is none; a link that repeats
means the paging never ends and fails the extraction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urljoin

from tallyclerk.errors import SourceError

from .base import Extract
from .http import HttpClient, HttpSettings, highest
from .records import records_table
from .secrets import Secrets, safe_url

log = logging.getLogger(__name__)

NEXT_LINK = "@odata.nextLink"


def read_odata(
    settings: HttpSettings,
    *,
    select: list[str],
    filter: str | None,
    top: int | None,
    page_size: int | None,
    watermark: str | None,
    since: str | None,
    where: str,
    secrets: Secrets,
    sleep: Callable[[float], None] | None = None,
) -> Extract:
    """Read every page of the entity set at `settings.url`."""
    params = _query_options(select, filter, top, watermark, since)
    headers = {"OData-Version": "4.0", "OData-MaxVersion": "4.0"}
    if page_size:
        headers["Prefer"] = f"odata.maxpagesize={page_size}"
    records: list[dict] = []
    seen: dict[str, int] = {}
    extra = {"sleep": sleep} if sleep is not None else {}
    with HttpClient(settings, where=where, secrets=secrets, **extra) as client:
        url: str | None = settings.url
        page_params: dict | None = params
        while url is not None:
            page = len(seen) + 1
            body = client.get_json(url, params=page_params, headers=headers)
            values = body.get("value") if isinstance(body, dict) else None
            if not isinstance(values, list):
                raise SourceError(
                    f"{where}: GET {safe_url(url)} (page {page}) returned no `value` list; "
                    "`url:` must name an OData v4 entity set."
                )
            records += [_without_annotations(v) for v in values]
            seen[url] = page
            link = body.get(NEXT_LINK)
            url = urljoin(url, link) if link else None
            if url is not None and url in seen:
                raise SourceError(
                    f"{where}: page {page} of {safe_url(settings.url)} links back to page "
                    f"{seen[url]} ({NEXT_LINK} repeats), so the paging would never end; "
                    "ask the API's owner to fix the paging."
                )
            page_params = None  # a next link already carries every query option
    log.info("%s: %d record(s) in %d page(s)", where, len(records), len(seen))
    return Extract(
        table=records_table(records),
        source={
            "kind": "odata",
            "url": safe_url(settings.url),
            "params": params,
            "pages": len(seen),
        },
        watermark=highest(records, watermark),
    )


def _query_options(
    select: list[str], filter: str | None, top: int | None, watermark: str | None, since: str | None
) -> dict[str, str]:
    params: dict[str, str] = {}
    if select:
        params["$select"] = ",".join(select)
    clauses = [f"({filter})"] if filter else []
    if watermark and since:
        # OData v4 writes DateTimeOffset literals bare: modifiedon ge 2026-11-03T10:00:00Z
        clauses.append(f"{watermark} ge {since}")
    if clauses:
        params["$filter"] = " and ".join(clauses)
    if top:
        params["$top"] = str(top)
    return params


def _without_annotations(record: dict) -> dict:
    """A record without OData's control information (`@odata.etag`, `x@odata.type`)."""
    return {k: v for k, v in record.items() if not k.startswith("@") and "@odata." not in k}
