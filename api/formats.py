"""Records in and findings out: JSON, CSV and Arrow IPC bodies; JSON, CSV and Parquet answers
chosen by `Accept`."""

from __future__ import annotations

import codecs
import csv
import io
import json
import struct
from datetime import date, datetime
from decimal import Decimal

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fastapi import Request, Response

from adapters.arrow_ipc import decompressed_bytes
from engine.lifecycle import RUN_FINDINGS_SCHEMA

from .problems import ApiProblem

JSON = "application/json"
CSV = "text/csv"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
ARROW_FILE = "application/vnd.apache.arrow.file"
PARQUET = "application/vnd.apache.parquet"
PARQUET_ALIASES = ("application/x-parquet", "application/parquet")
RECORD_TYPES = (JSON, CSV, ARROW_STREAM, ARROW_FILE)


def posted_table(request: Request, body: bytes, *, limit: int, noun: str) -> pa.Table:
    """The records of a request's body; none, or more than `limit`, are refused, as is an
    Arrow body holding more than the server's body limit once decompressed."""
    max_bytes = request.app.state.settings.max_body_bytes
    table = records_table(body, request.headers.get("content-type"), max_bytes=max_bytes)
    if table.num_rows > limit:
        raise ApiProblem(
            413,
            f"{table.num_rows:,} {noun} in one call; this server takes at most {limit:,} per call.",
        )
    if table.num_rows == 0:
        raise ApiProblem(422, f"the body holds no {noun}.")
    return table


def records_table(
    body: bytes, content_type: str | None, *, max_bytes: int | None = None
) -> pa.Table:
    """The posted records as an Arrow table; JSON and CSV values arrive as text, as in a file.
    An Arrow body may be compressed: past `max_bytes` of values it is refused."""
    media, *params = (part.strip() for part in (content_type or "").split(";"))
    media = media.lower()
    if media == JSON or media.endswith("+json"):
        _refuse_charset(params, media)
        return _json_records(body)
    if media == CSV:
        _refuse_charset(params, media)
        return _csv_records(body)
    if media in (ARROW_STREAM, ARROW_FILE):
        return _arrow_records(body, stream=media == ARROW_STREAM, max_bytes=max_bytes)
    raise ApiProblem(
        415,
        f"records cannot be sent as {media or 'a body without Content-Type'}; send "
        f"{', '.join(RECORD_TYPES)}.",
    )


def _refuse_charset(params: list[str], media: str) -> None:
    """JSON and CSV bodies are read as UTF-8: one declared in another charset would be
    misread, so it is refused rather than guessed at."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() != "charset":
            continue
        charset = value.strip().strip('"')
        if _is_utf8(charset):
            continue
        raise ApiProblem(
            415,
            f"the body is {media} in charset {charset!r}; this server reads {media} as UTF-8 "
            "only: send it as UTF-8 (charset=utf-8, or no charset).",
        )


def _is_utf8(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False


def _json_records(body: bytes) -> pa.Table:
    try:
        # orjson is the fast parser, but turns integers past 64 bits into floats: what it
        # reads is kept only when every value is text (or null), so no number went through it.
        document = _records_of(orjson.loads(body))
    except orjson.JSONDecodeError:
        document = None  # also NaN and lone surrogates, which the standard parser reads
    if document is not None:
        names = _names(document)
        if document and not names:
            # Records without fields still count, so the mapping can say what they lack.
            empty = pa.table({"__empty": pa.nulls(len(document), pa.string())})
            return empty.drop_columns(["__empty"])
        try:
            fields = pa.struct([(name, pa.string()) for name in names])
            return pa.Table.from_struct_array(pa.array(document, fields))
        except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
            pass
    document = _records_of(_parsed_json(body))
    return pa.table({name: _json_column(document, name) for name in _names(document)})


def _records_of(document: object) -> list[dict]:
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        document = document["records"]
    if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
        raise ApiProblem(
            422, 'send the records as a JSON array of objects, or as {"records": [...]}.'
        )
    return document


def _names(document: list[dict]) -> list[str]:
    """Every field of the records: the first record's in its order, then the others'."""
    names = list(document[0]) if document else []
    return names + sorted(set().union(*document) - set(names))


def _parsed_json(body: bytes) -> object:
    # Numbers keep the text the body gives them (412.50, 1e3, NaN, 30 digits), as a file would.
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiProblem(400, "the JSON body is not UTF-8 text.") from None
    try:
        return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except ValueError as exc:
        raise ApiProblem(400, f"the body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ApiProblem(400, "the body is not valid JSON: it is nested too deeply.") from None


def _json_column(document: list[dict], name: str) -> pa.Array:
    """One field of every record as text; a nested value is refused, naming the record."""
    values = [record.get(name) for record in document]
    try:
        # Most exports send text already: Arrow takes it as it is.
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        pass
    for number, value in enumerate(values, start=1):
        if isinstance(value, dict | list):
            raise ApiProblem(
                422, f"record {number}: {name} holds a nested value; send plain values."
            )
        if isinstance(value, str) and not _is_unicode(value):
            raise ApiProblem(
                422,
                f"record {number}: {name} holds a lone surrogate escape (\\ud800 to "
                "\\udfff without its pair), which is not text; send the character itself.",
            )
    return pa.array([_text(value) for value in values], pa.string())


def _is_unicode(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_records(body: bytes) -> pa.Table:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiProblem(400, "the CSV body is not UTF-8 text.") from None
    header = next(csv.reader(io.StringIO(text)), None)
    if not header:
        raise ApiProblem(422, "the CSV body has no header row naming its columns.")
    if len(set(header)) != len(header):
        raise ApiProblem(422, "the CSV header names a column twice.")
    # Only an empty field is missing, quoted or not, as in a file a run reads: NA, NULL and
    # n/a are values (pyarrow would read its whole list of such words as NULL).
    options = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=True,
        null_values=[""],
    )
    try:
        return pa_csv.read_csv(io.BytesIO(text.encode()), convert_options=options)
    except pa.ArrowInvalid as exc:
        raise ApiProblem(422, f"the CSV body is malformed: {exc}.") from None


def _arrow_records(body: bytes, *, stream: bool, max_bytes: int | None) -> pa.Table:
    kind = "stream" if stream else "file"
    try:
        reader = pa.ipc.open_stream(body) if stream else pa.ipc.open_file(body)
        _check_arrow_columns(reader.schema)
        # Sized from the metadata before anything is decompressed, so a small body cannot
        # fill the memory. A file holds its batches as a stream after its 8-byte magic.
        size = decompressed_bytes(pa.py_buffer(body) if stream else pa.py_buffer(body)[8:])
        if max_bytes is not None and size > max_bytes:
            raise ApiProblem(
                413,
                f"the Arrow {kind} holds {size:,} bytes of values once decompressed, over "
                f"this server's limit of {max_bytes:,}; send fewer records per request.",
            )
        return reader.read_all()
    except (pa.ArrowInvalid, OSError, ValueError, struct.error) as exc:
        raise ApiProblem(422, f"the body is not an Arrow IPC {kind}: {exc}.") from None


def _check_arrow_columns(schema: pa.Schema) -> None:
    """Refuse a column named twice, nested values, and types the checks cannot read."""
    seen: set[str] = set()
    for field in schema:
        if field.name in seen:
            raise ApiProblem(422, f"the Arrow body names the column {field.name!r} twice.")
        seen.add(field.name)
        # A dictionary holds its values in another type, an extension type in its storage.
        kind = field.type
        while isinstance(kind, pa.DictionaryType | pa.BaseExtensionType):
            kind = kind.value_type if pa.types.is_dictionary(kind) else kind.storage_type
        if pa.types.is_nested(kind):
            raise ApiProblem(
                422, f"{field.name} holds nested values ({field.type}); send plain values."
            )
        if pa.types.is_float16(kind) or pa.types.is_decimal256(kind):
            raise ApiProblem(
                422,
                f"{field.name} is {field.type}, which cannot be read; send it as text, a "
                "32- or 64-bit float, or a decimal of at most 38 digits.",
            )


def jsonable(value: object) -> object:
    """A value of a findings row as JSON: money stays exact as text, days as ISO dates."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def rows(table: pa.Table) -> list[dict]:
    """The rows of `table` as JSON objects; only money and times need turning into text."""
    found = table.to_pylist()
    special = [f.name for f in table.schema if pa.types.is_decimal(f.type) or _is_time(f.type)]
    for row in found:
        for name in special:
            row[name] = jsonable(row[name])
    return found


def _is_time(type_: pa.DataType) -> bool:
    return pa.types.is_timestamp(type_) or pa.types.is_date(type_)


def run_rows(findings: pa.Table) -> list[dict]:
    """Findings found outside a run, in every column of a run's, in its order: those a run
    adds (status, first seen, age, waiver, cause, SLA) are empty, since no run has compared
    them with an earlier one."""
    columns = [
        findings[field.name]
        if field.name in findings.column_names
        else pa.nulls(findings.num_rows, field.type)
        for field in RUN_FINDINGS_SCHEMA
    ]
    return rows(pa.Table.from_arrays(columns, schema=RUN_FINDINGS_SCHEMA))


def checked_query(
    request: Request, single: tuple[str, ...], repeatable: tuple[str, ...] = ()
) -> None:
    """Refuse a query parameter the endpoint does not take (a misspelt `perod=` would
    otherwise be ignored, silently), and one of `single` given more than once (it would
    otherwise mean its last value)."""
    known = (*single, *repeatable)
    for name in request.query_params:
        if name not in known:
            raise ApiProblem(
                422, f"unknown query parameter {name!r}; this endpoint takes {', '.join(known)}."
            )
    for name in single:
        given = request.query_params.getlist(name)
        if len(given) > 1:
            raise ApiProblem(
                422,
                f"{name} is given {len(given)} times ({', '.join(given)}); it takes one value.",
            )


def chosen_type(request: Request, offered: tuple[str, ...]) -> str:
    """The type of `offered` the request's `Accept` values (all its Accept lines) rank
    highest. Each offered type takes the q of the most specific range naming it (`text/csv`
    before `text/*` before `*/*`), so `application/json;q=0, */*` refuses JSON; a q that is
    not a number from 0 to 1 is 0. Of equal q, the type the client named first is chosen,
    then the type offered first."""
    accept = ", ".join(request.headers.getlist("accept")).strip()
    if not accept:
        return offered[0]
    ranges: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        media = PARQUET if media.lower() in PARQUET_ALIASES else media.lower()
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _quality(value.strip())
        ranges.setdefault(media, (quality, position))
    ranked = []
    for index, offer in enumerate(offered):
        kind = offer.split("/")[0] + "/*"
        quality, position = next((ranges[m] for m in (offer, kind, "*/*") if m in ranges), (0, 0))
        if quality > 0:
            ranked.append((-quality, position, index, offer))
    if not ranked:
        raise ApiProblem(406, f"this answer is available as {', '.join(offered)}; ask for one.")
    return min(ranked)[3]


def _quality(text: str) -> float:
    try:
        quality = float(text)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0  # NaN compares false: 0


def table_response(table: pa.Table, media: str, *, headers: dict[str, str]) -> Response:
    """Findings as CSV or Parquet (JSON answers are built by the routes)."""
    sink = io.BytesIO()
    if media == CSV:
        pa_csv.write_csv(table, sink)
    else:
        pq.write_table(table, sink)
    return Response(sink.getvalue(), media_type=media, headers=headers)
