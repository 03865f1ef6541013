"""Reads one query per entity from PostgreSQL or SQLite, through ADBC straight into Arrow.

The query is written in the database's own dialect and checked by sqlglot: one
SELECT, nothing that writes or locks. The connection itself is read-only as
well (PostgreSQL's default_transaction_read_only, a SQLite file opened with
mode=ro), so a function that writes cannot slip through either.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from tallyclerk.errors import ConfigError, SourceError, sql_error_reason

from .base import Extract, with_row_numbers
from .conninfo import conninfo_text, is_uri, parse_conninfo, safe_dsn
from .secrets import Secrets, is_env_reference

log = logging.getLogger(__name__)

_WRITES = (exp.DML, exp.DDL, exp.Command, exp.Into, exp.Lock, exp.Transaction, exp.Set, exp.Copy)
_SOURCE_ALIAS = "source"


def checked_query(query: str, dialect: str, *, where: str) -> exp.Query:
    """Parse `query` in `dialect`; refuse anything but one read-only SELECT."""
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise ConfigError(
            f"{where}: query: cannot parse the {dialect} query: {sql_error_reason(exc)}."
        ) from exc
    if len(statements) != 1:
        raise ConfigError(
            f"{where}: query: expected one SELECT statement, found {len(statements)}; "
            "write one query per entity."
        )
    tree = statements[0]
    writes = next((node for node in tree.walk() if isinstance(node, _WRITES)), None)
    if not isinstance(tree, exp.Query) or writes is not None:
        found = type(writes or tree).__name__.upper()
        raise ConfigError(
            f"{where}: query: only a read-only SELECT is allowed, but the query contains "
            f"{found}; tallyclerk never writes to a source system."
        )
    return tree


def since_query(tree: exp.Query, column: str, since: str) -> exp.Select:
    """The query narrowed to rows changed at or after `since` (equal rows are read
    again so none committed in the same instant is missed; merging by key dedupes)."""
    mark = exp.column(column, table=_SOURCE_ALIAS, quoted=True)
    return (
        exp.select(exp.Star())
        .from_(tree.subquery(_SOURCE_ALIAS, copy=True))
        .where(exp.GTE(this=mark, expression=exp.Literal.string(since)))
    )


def read_postgres(
    *,
    url: str,
    password: str | None,
    query: str,
    watermark: str | None,
    since: str | None,
    where: str,
    secrets: Secrets,
) -> Extract:
    """Run one read-only query on PostgreSQL and return its rows as Arrow."""
    import adbc_driver_postgresql.dbapi as postgres

    tree = checked_query(query, "postgres", where=where)
    if since is not None and watermark is not None:
        tree = since_query(tree, watermark, since)
    sql = tree.sql(dialect="postgres")
    uri = _postgres_uri(url, password, secrets=secrets, where=where)
    shown = safe_dsn(uri)
    # Driver errors may quote the connection string, so their text is redacted and
    # the original exception is not chained: its traceback would show the password.
    try:
        connection = postgres.connect(uri)
    except adbc_driver_manager.Error as exc:
        raise SourceError(
            f"{where}: cannot connect to {shown}: {_first_line(secrets.redact(str(exc)))}. "
            "Check that the server runs and that the user and password are right."
        ) from None
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
        cursor.close()
    except adbc_driver_manager.Error as exc:
        raise SourceError(
            f"{where}: PostgreSQL at {shown} refused the query: "
            f"{_first_line(secrets.redact(str(exc)))}. Fix `query:` in tallyclerk.yaml."
        ) from None
    finally:
        connection.close()
    return _extract(table, {"kind": "postgres", "url": shown, "query": sql}, watermark, where)


def read_sqlite(
    path: Path, *, query: str, watermark: str | None, since: str | None, where: str
) -> Extract:
    """Run one query on a SQLite file opened read-only."""
    import adbc_driver_sqlite.dbapi as sqlite

    tree = checked_query(query, "sqlite", where=where)
    if since is not None and watermark is not None:
        tree = since_query(tree, watermark, since)
    sql = tree.sql(dialect="sqlite")
    if not path.is_file():
        raise SourceError(
            f"{where}: the SQLite database {path} does not exist; check `file:` in tallyclerk.yaml."
        )
    try:
        connection = sqlite.connect(f"file:{quote(str(path.resolve()))}?mode=ro")
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
            cursor.close()
        finally:
            connection.close()
    except adbc_driver_manager.Error as exc:
        raise SourceError(
            f"{where}: SQLite refused the query on {path}: {_first_line(str(exc))}. "
            "Fix `query:` in tallyclerk.yaml."
        ) from exc
    return _extract(table, {"kind": "sqlite", "file": str(path), "query": sql}, watermark, where)


def _extract(table: pa.Table, source: dict, watermark: str | None, where: str) -> Extract:
    table = _plain_types(table)
    if watermark is not None and watermark not in table.column_names:
        raise ConfigError(
            f"{where}: watermark.column: the query returns no column {watermark!r}; "
            f"its columns are: {', '.join(table.column_names)}."
        )
    mark = None
    if watermark is not None and table.num_rows:
        highest = pc.max(table[watermark]).as_py()
        mark = highest.isoformat() if hasattr(highest, "isoformat") else str(highest)
    log.info("%s: the query returned %d rows", where, table.num_rows)
    return Extract(table=with_row_numbers(table), source=source, watermark=mark)


def _plain_types(table: pa.Table) -> pa.Table:
    """Drivers wrap some types (PostgreSQL NUMERIC) as extension types over text;
    keep the text, which the mapping casts exactly, and drop driver metadata."""
    fields = [
        pa.field(
            f.name, f.type.storage_type if isinstance(f.type, pa.BaseExtensionType) else f.type
        )
        for f in table.schema
    ]
    columns = [
        column.storage if isinstance(column.type, pa.BaseExtensionType) else column
        for column in (c.combine_chunks() for c in table.columns)
    ]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _postgres_uri(url: str, password: str | None, *, secrets: Secrets, where: str) -> str:
    """The connection string to connect with: the password added, the session read-only.

    Both of libpq's forms are kept as they are written: a URI stays a URI, key=value
    pairs stay pairs.
    """
    uri = secrets.resolve(url, where=f"{where}: url") if is_env_reference(url) else url
    secret = None if password is None else secrets.resolve(password, where=f"{where}: password")
    if not is_uri(uri):
        pairs = parse_conninfo(uri, where=f"{where}: url")
        if secret is not None:
            pairs["password"] = secret
        pairs["options"] = _read_only_options(pairs.get("options", ""))
        return conninfo_text(pairs)
    parts = urlsplit(uri)
    netloc = parts.netloc
    if secret is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{quote(user, safe='')}:{quote(secret, safe='')}@{host}"
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    options = dict(parse_qsl(parts.query)).get("options", "")
    query.append(("options", _read_only_options(options)))
    encoded = urlencode(query, quote_via=quote)
    return urlunsplit((parts.scheme, netloc, parts.path, encoded, parts.fragment))


def _read_only_options(options: str) -> str:
    """Server options that make every transaction of the session read-only."""
    return f"{options} -c default_transaction_read_only=on".strip()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no message"
