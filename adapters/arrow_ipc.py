"""How many bytes an Arrow IPC stream's record batches hold once decompressed, read from the
messages' metadata without decompressing anything.

A compressed buffer starts with its decompressed length (or -1 when it was left as it
is), so a small body that would decompress into gigabytes can be refused before it is
read. The metadata is a FlatBuffers `Message` (Arrow's format/Message.fbs); this module
reads the few fields it needs, as the format defines them.
"""

from __future__ import annotations

import struct

import pyarrow as pa

# MessageHeader union tags and field positions, from format/Message.fbs.
_DICTIONARY_BATCH, _RECORD_BATCH = 2, 3
_MESSAGE_HEADER_TYPE, _MESSAGE_HEADER = 1, 2
_BATCH_BUFFERS, _BATCH_COMPRESSION = 2, 3
_DICTIONARY_DATA = 1
_BUFFER = struct.Struct("<qq")  # offset, length


def decompressed_bytes(stream: pa.Buffer) -> int:
    """The bytes every record and dictionary batch of `stream` holds once decompressed;
    ValueError when the metadata does not describe its body."""
    total = 0
    for message in pa.ipc.MessageReader.open_stream(stream):
        if message.body is None:
            continue
        meta = message.metadata.to_pybytes()
        root = _uoffset(meta, 0)
        kind = _scalar(meta, root, _MESSAGE_HEADER_TYPE, "<B", 0)
        batch = _subtable(meta, root, _MESSAGE_HEADER)
        if kind == _DICTIONARY_BATCH and batch is not None:
            batch = _subtable(meta, batch, _DICTIONARY_DATA)
        elif kind != _RECORD_BATCH:
            continue
        if batch is None:
            continue
        total += _batch_bytes(meta, batch, message.body.to_pybytes())
    return total


def _batch_bytes(meta: bytes, batch: int, body: bytes) -> int:
    compressed = _field(meta, batch, _BATCH_COMPRESSION) is not None
    vector = _vector(meta, batch, _BATCH_BUFFERS)
    if vector is None:
        return 0
    start, count = vector
    total = 0
    for n in range(count):
        offset, length = _BUFFER.unpack_from(meta, start + n * _BUFFER.size)
        if offset < 0 or length < 0 or offset + length > len(body):
            raise ValueError(f"buffer {n} lies outside the message body")
        if not compressed or length < 8:
            total += length
            continue
        (size,) = struct.unpack_from("<q", body, offset)
        if size < -1:
            raise ValueError(f"buffer {n} gives a negative length")
        total += length - 8 if size == -1 else size
    return total


def _uoffset(data: bytes, at: int) -> int:
    return at + struct.unpack_from("<I", data, at)[0]


def _field(data: bytes, table: int, index: int) -> int | None:
    """Where field `index` of the table at `table` is, or None when it is absent."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    vtable_size = struct.unpack_from("<H", data, vtable)[0]
    entry = 4 + 2 * index
    if entry >= vtable_size:
        return None
    offset = struct.unpack_from("<H", data, vtable + entry)[0]
    return None if offset == 0 else table + offset


def _scalar(data: bytes, table: int, index: int, layout: str, default: int) -> int:
    at = _field(data, table, index)
    return default if at is None else struct.unpack_from(layout, data, at)[0]


def _subtable(data: bytes, table: int, index: int) -> int | None:
    at = _field(data, table, index)
    return None if at is None else _uoffset(data, at)


def _vector(data: bytes, table: int, index: int) -> tuple[int, int] | None:
    at = _field(data, table, index)
    if at is None:
        return None
    start = _uoffset(data, at)
    return start + 4, struct.unpack_from("<I", data, start)[0]
