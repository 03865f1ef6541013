"""Reads a generic JSON REST endpoint into Arrow, paged by cursor or by page number.

A cursor the API hands out twice, or a page that repeats the previous one,
means the paging would never end: the extraction fails instead of looping.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tallyclerk.errors import SourceError

from .base import Extract
from .http import HttpClient, HttpSettings, highest
from .records import dig, records_table
from .secrets import Secrets, safe_url

log = logging.getLogger(__name__)

MAX_PAGES = 100_000


@dataclass(frozen=True)
class Paging:
    """`cursor`: `param` takes the value found at `next`; `page`: numbered pages of `size`."""

    type: str
    param: str = "cursor"
    next: str = "next_cursor"
    size_param: str = "per_page"
    size: int = 100
    first: int = 1


def read_rest(
    settings: HttpSettings,
    *,
    records: str | None,
    params: Mapping[str, str | int],
    paging: Paging | None,
    watermark: str | None,
    watermark_param: str | None,
    since: str | None,
    where: str,
    secrets: Secrets,
    sleep: Callable[[float], None] | None = None,
) -> Extract:
    """Read every page of `settings.url`; `records` is the dotted path of the list."""
    query = dict(params)
    if watermark_param and since:
        query[watermark_param] = since
    if paging is not None and paging.type == "page":
        query[paging.size_param] = paging.size
    rows: list[dict] = []
    cursors: dict[str, int] = {}
    last_digest, page = None, 0
    extra = {"sleep": sleep} if sleep is not None else {}
    with HttpClient(settings, where=where, secrets=secrets, **extra) as client:
        while page < MAX_PAGES:
            page += 1
            if paging is not None and paging.type == "page":
                query[paging.param] = paging.first + page - 1
            body = client.get_json(settings.url, params=query)
            items = dig(body, records)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise SourceError(
                    f"{where}: GET {safe_url(settings.url)} page {page} has no list of records at "
                    f"{records or 'the top level'!r}; set `records:` to its path."
                )
            digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()
            if items and digest == last_digest:
                raise SourceError(
                    f"{where}: GET {safe_url(settings.url)} page {page} repeats page {page - 1}; "
                    "the API ignores the paging parameters, so the paging would never end."
                )
            last_digest = digest
            rows += items
            if paging is None or not items:
                break
            if paging.type == "page":
                if len(items) < paging.size:
                    break
                continue
            cursor = dig(body, paging.next)
            if cursor in (None, ""):
                break
            cursor = str(cursor)
            if cursor in cursors:
                raise SourceError(
                    f"{where}: GET {safe_url(settings.url)} returned cursor {cursor!r} on page "
                    f"{page} and already on page {cursors[cursor]}; the cursor repeats, so the "
                    "paging would never end. Ask the API's owner to fix the cursor."
                )
            cursors[cursor] = page
            query[paging.param] = cursor
        else:
            raise SourceError(
                f"{where}: GET {safe_url(settings.url)} still had pages after {MAX_PAGES}."
            )
    log.info("%s: %d record(s) in %d page(s)", where, len(rows), page)
    shown_params = {k: v for k, v in query.items() if paging is None or k != paging.param}
    return Extract(
        table=records_table(rows),
        source={
            "kind": "rest",
            "url": safe_url(settings.url),
            "params": shown_params,
            "pages": page,
        },
        watermark=highest(rows, watermark),
    )
