"""Bus subscribers that write events somewhere: a JSON-lines file (one event per line, append-only).

Set ``events.jsonl_path`` (env ``MODELPILOT_EVENTS__JSONL_PATH``) and the server appends every event there — handy
for offline analysis and for checking, after a shutdown, that every answered request was recorded.

Example:
    >>> import tempfile, pathlib
    >>> from modelpilot.events.model import LabelEvent
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> sink = JsonlSink(path)
    >>> sink([LabelEvent(request_id="r1", label=1, time=0.0)])
    >>> sink.close()
    >>> path.read_text().count("\\n")
    1
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import orjson

from modelpilot.events.model import Event

__all__ = ["JsonlSink"]


class JsonlSink:
    """Append events to a file as JSON lines (flushed after every batch)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self._lock = threading.Lock()

    def __call__(self, events: Sequence[Event]) -> None:
        lines = b"".join(
            orjson.dumps(e.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE) for e in events
        )
        with self._lock:
            self._file.write(lines)
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()
