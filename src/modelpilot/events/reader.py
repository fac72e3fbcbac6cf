"""Reading events back from a JSON-lines file (what :class:`~modelpilot.events.sinks.JsonlSink` writes), from a
byte offset, so a reader that saved its offset continues where it stopped.

Example:
    >>> import tempfile, pathlib
    >>> from modelpilot.events.model import LabelEvent
    >>> from modelpilot.events.sinks import JsonlSink
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> sink = JsonlSink(path); sink([LabelEvent("r1", 1, 0.0), LabelEvent("r2", 0, 1.0)]); sink.close()
    >>> events, offset, bad = read_events(path, 0)
    >>> [e.request_id for e in events], offset == path.stat().st_size, bad
    (['r1', 'r2'], True, [])
"""

from __future__ import annotations

from pathlib import Path

import orjson

from modelpilot.errors import InvalidInputError
from modelpilot.events.model import AlarmEvent, Event, InferenceEvent, LabelEvent, SloAlertEvent

__all__ = ["read_events"]


def read_events(path: Path, offset: int, *, limit: int = 10_000) -> tuple[list[Event], int, list[str]]:
    """Up to ``limit`` complete lines from ``offset``: the events, the offset after them, and a reason for each line
    that was not an event (``line N: ...``). A partial last line (still being written) is left for the next read."""
    events: list[Event] = []
    bad: list[str] = []
    with path.open("rb") as f:
        f.seek(offset)
        for _ in range(limit):
            line = f.readline()
            if not line or not line.endswith(b"\n"):
                break
            where = offset
            offset += len(line)
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
                kind = doc.get("kind", "inference") if isinstance(doc, dict) else None
                if kind == "label":
                    events.append(LabelEvent.from_dict(doc))
                elif kind == "alarm":
                    events.append(AlarmEvent.from_dict(doc))
                elif kind == "slo_alert":
                    events.append(SloAlertEvent.from_dict(doc))
                elif kind == "inference":
                    events.append(InferenceEvent.from_dict(doc))
                else:
                    bad.append(f"byte {where}: not an event object")
            except orjson.JSONDecodeError as exc:
                bad.append(f"byte {where}: not JSON ({exc})")
            except InvalidInputError as exc:
                bad.append(f"byte {where}: {exc.message}")
    return events, offset, bad
