"""Hands each declared source to the adapter of its kind, one adapter module per kind.

The engine knows the configuration; adapters receive plain values, so they
never import the engine. Every error an adapter raises passes through here, and
leaves with its secrets and connection-string passwords masked.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import Extract
from adapters.database import read_postgres, read_sqlite
from adapters.files import FileOptions, expand, read_files
from adapters.http import Auth, HttpSettings
from adapters.odata import read_odata
from adapters.rest import Paging, read_rest
from adapters.secrets import Secrets
from adapters.suiteql import read_suiteql
from adapters.x12 import X12_SUFFIXES, read_x12
from tallyclerk.errors import TallyclerkError

from .sources import (
    FileSource,
    HttpSource,
    ODataSource,
    PostgresSource,
    RestSource,
    SourceConfig,
    SqliteSource,
    SuiteQLSource,
    X12Source,
)


def extract(
    root: Path, source: SourceConfig, *, where: str, since: str | None, secrets: Secrets
) -> Extract:
    """Read one source; `since` is the watermark of the previous run, None for a full read."""
    try:
        return _extract(root, source, where=where, since=since, secrets=secrets)
    except TallyclerkError as exc:
        shown = secrets.redact(str(exc))
        if shown == str(exc):
            raise
        # The cause is dropped along with the text: its traceback would show the secret.
        raise type(exc)(shown) from None


def _extract(
    root: Path, source: SourceConfig, *, where: str, since: str | None, secrets: Secrets
) -> Extract:
    column = getattr(getattr(source, "watermark", None), "column", None)
    if isinstance(source, FileSource):
        options = FileOptions(source.delimiter, source.encoding, source.sheet, source.records)
        return read_files(source.file, root=root, where=where, options=options)
    if isinstance(source, X12Source):
        paths = expand(source.file, root=root, where=where, suffixes=X12_SUFFIXES)
        return read_x12(
            paths, transaction=source.transaction, entity=source.entity, root=root, where=where
        )
    if isinstance(source, PostgresSource):
        return read_postgres(
            url=source.url,
            password=source.password,
            query=source.query,
            watermark=column,
            since=since,
            where=where,
            secrets=secrets,
        )
    if isinstance(source, SqliteSource):
        return read_sqlite(
            root / source.file, query=source.query, watermark=column, since=since, where=where
        )
    settings = _http_settings(source)
    if isinstance(source, ODataSource):
        return read_odata(
            settings,
            select=source.select,
            filter=source.filter,
            top=source.top,
            page_size=source.page_size,
            watermark=column,
            since=since,
            where=where,
            secrets=secrets,
        )
    if isinstance(source, SuiteQLSource):
        return read_suiteql(
            settings,
            query=source.query,
            page_size=source.page_size,
            watermark=column,
            since=since,
            where=where,
            secrets=secrets,
        )
    if isinstance(source, RestSource):
        paging = None
        if source.paging is not None:
            paging = Paging(**source.paging.model_dump())
        param = source.watermark.param if source.watermark else None
        return read_rest(
            settings,
            records=source.records,
            params=source.params,
            paging=paging,
            watermark=column,
            watermark_param=param,
            since=since,
            where=where,
            secrets=secrets,
        )
    raise NotImplementedError(f"no adapter reads sources of kind {source.kind!r} yet")


def _http_settings(source: HttpSource) -> HttpSettings:
    auth = None
    if source.auth is not None:
        auth = Auth(**source.auth.model_dump())
    return HttpSettings(url=source.url, auth=auth, timeout=source.timeout, retries=source.retries)
