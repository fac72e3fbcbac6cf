"""How the disk spool stores a record: a segment starts with :data:`MAGIC`; each record is its body's length and
CRC32, then the body: the lengths of topic, key and value, and the three. :func:`parse` stops at the first torn or
corrupt record, so a crash mid-write costs only the record being written."""

from __future__ import annotations

import struct
import zlib

from modelpilot.errors import InvalidInputError

__all__ = ["MAGIC", "Record", "frame", "parse"]

Record = tuple[str, bytes, bytes]
"""One encoded Kafka message: ``(topic, key, value)``."""

MAGIC = b"MPSPOOL1"
"""The first bytes of every segment file (format version 1)."""

_HEAD = struct.Struct("<II")  # body length, crc32(body)
_LENS = struct.Struct("<HII")  # topic, key, value lengths


def frame(record: Record) -> bytes:
    """One record as it is stored: length, CRC32 and the length-prefixed topic, key and value.

    >>> records, end = parse(MAGIC + frame(("t", b"k", b"v")))
    >>> records, end == len(MAGIC) + len(frame(("t", b"k", b"v")))
    ([('t', b'k', b'v')], True)
    """
    topic, key, value = record
    t = topic.encode()
    if len(t) > 0xFFFF or _LENS.size + len(t) + len(key) + len(value) > 0xFFFFFFFF:
        raise InvalidInputError(
            f"spool record for topic {topic[:80]!r}: too large to frame ({len(t)}, {len(key)}, {len(value)} bytes)",
            hint="topics are at most 65535 bytes, key and value together under 4 GiB",
        )
    body = b"".join((_LENS.pack(len(t), len(key), len(value)), t, key, value))
    return _HEAD.pack(len(body), zlib.crc32(body)) + body


def parse(data: bytes, start: int = len(MAGIC)) -> tuple[list[Record], int]:
    """The good records of a segment's bytes from ``start``, and the offset where they end.

    The offset is ``len(data)`` when every record is good; otherwise it is where the first torn or corrupt record
    starts, and nothing after it is read.
    """
    records: list[Record] = []
    view = memoryview(data)
    pos, size = start, len(data)
    while pos + _HEAD.size <= size:
        length, crc = _HEAD.unpack_from(view, pos)
        body, end = pos + _HEAD.size, pos + _HEAD.size + length
        if length < _LENS.size or end > size or zlib.crc32(view[body:end]) != crc:
            break
        t_len, k_len, v_len = _LENS.unpack_from(view, body)
        if _LENS.size + t_len + k_len + v_len != length:
            break
        k_at = body + _LENS.size + t_len
        v_at = k_at + k_len
        try:
            topic = str(view[body + _LENS.size : k_at], "utf-8")
        except UnicodeDecodeError:
            break
        records.append((topic, bytes(view[k_at:v_at]), bytes(view[v_at:end])))
        pos = end
    return records, pos
