"""Incidents: the audit entries of one episode grouped, from the first signal to the recovery, with durations.

An episode opens at a model's first remediation decision (or a rollout rolled back by its judge) and closes when
the signal that called for the actions clears (``remediation.cleared``); a rollback closes its own episode. Times:

- *began*: when the signal first fired (the alarm's first active transition, the SLO alert's start; for a rollout,
  the start of the interval the judge failed);
- *detected*: the first decision; *mitigated*: the first action that was carried out; *recovered*: the clearing.

Time to detect, to mitigate and to recover are measured from *began*.

Example:
    >>> from datetime import UTC, datetime
    >>> from modelpilot.audit.chain import AuditEntry
    >>> def e(seq, t, action, evidence):
    ...     return AuditEntry(seq=seq, time=datetime.fromtimestamp(t, UTC), actor="c", action=action,
    ...         subject="model:m", model="m", reason="", evidence=evidence, prev_hash="0" * 64, hash="0" * 64)
    >>> found = incidents([
    ...     e(1, 160.0, "remediation.fallback", '{"first_signal_at": 100.0, "signal": {"kind": "drift"},'
    ...                                         ' "outcome": {"status": "done"}}'),
    ...     e(2, 400.0, "remediation.cleared", '{"signal": {"kind": "drift"}}')])
    >>> i = found[0]
    >>> i.time_to_detect, i.time_to_mitigate, i.time_to_recover, i.actions
    (60.0, 60.0, 300.0, ['fallback: done'])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from modelpilot.audit.chain import AuditEntry

__all__ = ["Incident", "incidents"]


class Incident(BaseModel):
    """One episode of one model."""

    model: str
    entries: list[int] = Field(description="The audit entries (sequence numbers) of the episode.")
    signals: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    began: float | None = None
    detected: float
    mitigated: float | None = None
    recovered: float | None = None

    @property
    def open(self) -> bool:
        """Whether the episode has not recovered yet."""
        return self.recovered is None

    def _since(self, t: float | None) -> float | None:
        return None if t is None or self.began is None else round(t - self.began, 3)

    @property
    def time_to_detect(self) -> float | None:
        """Seconds from the first signal to the first decision."""
        return self._since(self.detected)

    @property
    def time_to_mitigate(self) -> float | None:
        """Seconds from the first signal to the first action carried out."""
        return self._since(self.mitigated)

    @property
    def time_to_recover(self) -> float | None:
        """Seconds from the first signal to the clearing."""
        return self._since(self.recovered)


def _evidence(e: AuditEntry) -> dict[str, Any]:
    try:
        value = json.loads(e.evidence)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def incidents(entries: Sequence[AuditEntry]) -> list[Incident]:
    """The episodes in ``entries`` (in chain order), oldest first."""
    out: list[Incident] = []
    open_by_model: dict[str, Incident] = {}
    for e in entries:
        if e.model is None:
            continue
        t = e.time.timestamp()
        ev = _evidence(e)
        if e.action == "rollout.verdict" and (ev.get("transition") or {}).get("event") == "rolled_back":
            failed = [c["name"] for c in (ev.get("verdict") or {}).get("checks", []) if c.get("outcome") == "fail"]
            start = (ev.get("interval") or {}).get("start")
            out.append(
                Incident(
                    model=e.model,
                    entries=[e.seq],
                    signals=[f"canary judge: {', '.join(failed) or 'fail'}"],
                    actions=["rollback: done"],
                    began=float(start) if isinstance(start, int | float) else None,
                    detected=t,
                    mitigated=t,
                    recovered=t,
                )
            )
            continue
        if not e.action.startswith("remediation."):
            continue
        current = open_by_model.get(e.model)
        if e.action == "remediation.cleared":
            if current is not None:
                current.entries.append(e.seq)
                current.recovered = t
                del open_by_model[e.model]
            continue
        signal = ev.get("signal") or {}
        if current is None:
            began = ev.get("first_signal_at")
            current = Incident(
                model=e.model, entries=[], began=float(began) if isinstance(began, int | float) else None, detected=t
            )
            open_by_model[e.model] = current
            out.append(current)
        current.entries.append(e.seq)
        kind = str(signal.get("kind", "?"))
        if kind not in current.signals:
            current.signals.append(kind)
        status = str((ev.get("outcome") or {}).get("status", "?"))
        current.actions.append(f"{e.action.removeprefix('remediation.')}: {status}")
        if status == "done" and current.mitigated is None:
            current.mitigated = t
    return out
