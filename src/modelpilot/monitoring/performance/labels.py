"""Joining late-arriving labels to the predictions they judge, by request id, in bounded memory.

A :class:`LabelJoiner` keeps predictions awaiting their label (at most ``max_pending``, oldest dropped first, each for
at most ``ttl_s`` after it arrived) and labels awaiting their prediction (events can be reordered on a bus; at most
``max_labels``, each for ``label_ttl_s``). A label is handed to every variant that answered the request (stable or
canary *and* shadows share the request id), one :class:`Joined` per variant. Nothing is dropped silently: every
prediction or label that does not end in a join is counted under a reason (see :attr:`LabelJoiner.stats`).

Example:
    >>> import numpy as np
    >>> now = [0.0]
    >>> j = LabelJoiner(clock=lambda: now[0])
    >>> j.add_prediction("r1", "credit", 3, "stable", 10.0, np.array([1, 0]), None, (0, 1))
    >>> j.add_prediction("r1", "credit", 4, "shadow", 10.0, np.array([1, 1]), None, (0, 1))
    >>> [(x.version, x.label.tolist()) for x in j.add_label("r1", [1, 0], time=70.0)]
    [(3, [1, 0]), (4, [1, 0])]
    >>> j.add_label("r1", [1, 1], time=80.0), j.duplicate, j.delay.max
    ([], 1, 60.0)
"""

from __future__ import annotations

import math
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from modelpilot.errors import InvalidInputError
from modelpilot.events.model import InferenceEvent, LabelEvent
from modelpilot.monitoring.performance.counters import Stat
from modelpilot.monitoring.performance.delay import LabelDelay
from modelpilot.monitoring.performance.joins import (
    INVALID_REASONS,
    Joined,
    Pending,
    PendingLabel,
    jsonable,
    label_from,
    label_json,
    label_rows,
    pending_from,
    pending_json,
)
from modelpilot.monitoring.performance.journal import Journal, unpack

__all__ = ["DEFAULT_LABEL_TTL_S", "DEFAULT_TTL_S", "LabelJoiner"]

#: Predictions wait 7 days for their label: daily and weekly label pipelines (reviews, chargeback feeds) land inside
#: it with slack; labels later than that are too stale for an autopilot, which relies on estimated performance then.
DEFAULT_TTL_S = 7 * 86_400.0
#: Labels wait one day for their prediction: bus reordering takes seconds, a lagging monitor consumer hours.
DEFAULT_LABEL_TTL_S = 86_400.0


DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024
"""What the predictions waiting for their label may hold at most, per joiner: beyond it the oldest are evicted
(counted like those evicted for ``max_pending``), so a few requests of 10,000 rows cannot hold gigabytes."""
_OVERHEAD = 400  # bytes a waiting prediction takes besides its arrays (objects, dict entry, id), measured roughly


def _size(p: Pending) -> int:
    """Bytes a waiting prediction holds: its arrays (and the text of object-dtype values), its classes, a share."""
    n = int(p.prediction.nbytes + (0 if p.probabilities is None else p.probabilities.nbytes)) + _OVERHEAD
    if p.prediction.dtype == object:
        n += sum(len(str(v)) for v in p.prediction.ravel())
    if p.classes:
        n += sum(16 + len(str(c)) for c in p.classes)
    return n


class LabelJoiner:
    """Predictions waiting for labels and labels waiting for predictions, joined by request id.

    Parameters
    ----------
    max_pending
        Predictions held at most; beyond it the oldest request's predictions are dropped (counted ``evicted``).
    ttl_s
        How long a prediction waits for its label after it arrived (counted ``expired`` when it passes).
    max_labels, label_ttl_s
        The same bounds for labels: unmatched ones wait for a reordered prediction; matched ones stay to join a late
        shadow and to recognise a duplicate. An unmatched label leaving is counted ``unknown``.
    clock
        Seconds since the epoch; expiry runs against it on every call.

    Counters (read-only attributes, and all together in :attr:`stats`):

    - ``joined``: labelled predictions handed out, one per variant;
    - ``late``: labels that came after their request's predictions were dropped;
    - ``unknown``: labels that left the buffer without ever meeting a prediction;
    - ``duplicate``: second and later labels of a request (the first one counts);
    - ``duplicate_predictions``: a variant's prediction of a request seen again (a redelivery), ignored;
    - ``missing``: predictions dropped without a label, ``expired`` (waited ``ttl_s``) plus ``evicted`` (to stay
      within ``max_pending``: raise it if this grows);
    - ``invalid``: labels that did not fit a prediction, by reason in :data:`INVALID_REASONS`
      (:attr:`invalid_reasons`);
    - ``skipped``: failed calls that came without a prediction.
    """

    _COUNTERS = ("joined", "late", "unknown", "duplicate", "duplicate_predictions", "expired", "evicted", "skipped")

    def __init__(
        self,
        *,
        max_pending: int = 100_000,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        ttl_s: float = DEFAULT_TTL_S,
        max_labels: int = 100_000,
        label_ttl_s: float = DEFAULT_LABEL_TTL_S,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        for name, n in (
            ("max_pending", max_pending),
            ("max_labels", max_labels),
            ("max_pending_bytes", max_pending_bytes),
        ):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise InvalidInputError(f"{name}: {n!r} is not a positive integer", hint="use the default of 100000")
        for name, s in (("ttl_s", ttl_s), ("label_ttl_s", label_ttl_s)):
            if not isinstance(s, int | float) or isinstance(s, bool) or not (0 < s < math.inf):
                raise InvalidInputError(f"{name}: {s!r} is not a positive number of seconds", hint="e.g. 86400")
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.ttl_s = float(ttl_s)
        self.max_labels = max_labels
        self.label_ttl_s = float(label_ttl_s)
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        self._pending: OrderedDict[str, list[Pending]] = OrderedDict()
        self._n_pending = 0
        self._pending_bytes = 0
        self._labels: OrderedDict[str, PendingLabel] = OrderedDict()
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._s = dict.fromkeys(self._COUNTERS, 0)
        self._invalid = dict.fromkeys(INVALID_REASONS, 0)
        self._n_orphans = 0
        self._delay = LabelDelay()
        self._missing_by: dict[tuple[str, int, str], int] = {}
        self.journal: Journal | None = None

    def journaled(self) -> LabelJoiner:
        """Note every change of what is held in :attr:`journal`, so a store can keep it row by row
        (:mod:`~modelpilot.monitoring.performance.journal`); what is held now is noted as new."""
        self.journal = Journal()
        for kind, held in (("pending", self._pending), ("label", self._labels), ("gone", self._gone)):
            for rid in held:
                self.journal.added(kind, rid)
        return self

    def _added(self, kind: str, request_id: str) -> None:
        if self.journal is not None:
            self.journal.added(kind, request_id)

    def _touched(self, kind: str, request_id: str) -> None:
        if self.journal is not None:
            self.journal.touched(kind, request_id)

    joined = Stat(int, "Labelled predictions handed out, one per variant.")
    late = Stat(int, "Labels that came after their request's predictions were dropped.")
    unknown = Stat(int, "Labels that left the buffer without ever meeting a prediction.")
    duplicate = Stat(int, "Second and later labels of a request (the first one counts).")
    duplicate_predictions = Stat(int, "A variant's prediction of a request seen again (a redelivery), ignored.")
    expired = Stat(int, "Predictions dropped after waiting ``ttl_s`` without a label.")
    evicted = Stat(int, "Predictions dropped to stay within ``max_pending``.")
    skipped = Stat(int, "Failed calls that came without a prediction.")

    @property
    def missing(self) -> int:
        """Predictions dropped without a label (``expired`` + ``evicted``)."""
        return self._s["expired"] + self._s["evicted"]

    @property
    def missing_by(self) -> dict[tuple[str, int, str], int]:
        """``missing`` split by ``(model, version, variant)``, since this joiner was made (not part of its state)."""
        return dict(self._missing_by)

    @property
    def invalid(self) -> int:
        """Predictions whose label did not fit (all reasons)."""
        return sum(self._invalid.values())

    @property
    def invalid_reasons(self) -> dict[str, int]:
        """Invalid joins by reason."""
        return dict(self._invalid)

    @property
    def pending(self) -> int:
        """Predictions waiting for a label now."""
        return self._n_pending

    @property
    def pending_bytes(self) -> int:
        """What the waiting predictions hold, in bytes (arrays, plus a fixed share per prediction)."""
        return self._pending_bytes

    @property
    def orphans(self) -> int:
        """Labels waiting for a prediction now (not counting late ones)."""
        return self._n_orphans

    @property
    def delay(self) -> LabelDelay:
        """Label delays, one per labelled request (at its first join)."""
        return self._delay

    @property
    def stats(self) -> dict[str, int]:
        """Every counter and the two gauges ``pending`` and ``orphans``; invalid ones as ``invalid_<reason>``."""
        out = {**self._s, "missing": self.missing, "invalid": self.invalid}
        out.update({f"invalid_{k}": v for k, v in self._invalid.items()})
        return {**out, "pending": self.pending, "orphans": self.orphans}

    def add_prediction(
        self,
        request_id: str,
        model: str,
        version: int,
        variant: str,
        time: float,
        prediction: Any,
        probabilities: Any = None,
        classes: tuple[Any, ...] | None = None,
    ) -> Joined | None:
        """Hold one variant's prediction; returns its join at once when the label came first."""
        now = self._clock()
        self.expire(now)
        if prediction is None:
            self._s["skipped"] += 1
            return None
        try:
            pred = np.atleast_1d(np.asarray(prediction))
            proba = None if probabilities is None else np.asarray(probabilities, dtype=np.float64)
            cls = None if classes is None else tuple(jsonable(c) for c in classes)
            p = Pending(str(model), int(version), str(variant), float(time), now, pred, proba, cls)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"prediction of {request_id!r}: {exc}", hint="pass what the event holds") from exc
        rec = self._labels.get(request_id)
        waiting = self._pending.get(request_id, [])
        if (rec is not None and p.key in rec.joined) or any(q.key == p.key for q in waiting):
            self._s["duplicate_predictions"] += 1
            return None
        if rec is not None:
            return self._join(request_id, p, rec)
        if waiting:
            waiting.append(p)
            self._touched("pending", request_id)
        else:
            self._pending[request_id] = [p]
            self._added("pending", request_id)
        self._n_pending += 1
        self._pending_bytes += _size(p)
        while self._n_pending > self.max_pending or self._pending_bytes > self.max_pending_bytes:
            self._drop_oldest_pending("evicted")
        return None

    def add_label(self, request_id: str, label: Any, time: float, model: str | None = None) -> list[Joined]:
        """Join a label to every variant's prediction of the request (one :class:`Joined` each; may be none)."""
        now = self._clock()
        self.expire(now)
        if request_id in self._labels:
            self._s["duplicate"] += 1
            return []
        if not isinstance(time, int | float) or isinstance(time, bool):
            raise InvalidInputError(f"time: {time!r} is not seconds since the epoch", hint="pass the label's time")
        rec = PendingLabel(jsonable(label), float(time), now, model)
        self._labels[request_id] = rec
        self._added("label", request_id)
        while len(self._labels) > self.max_labels:
            self._drop_oldest_label()
        if request_id in self._gone:
            del self._gone[request_id]
            self._touched("gone", request_id)
            rec.late = True
            self._s["late"] += 1
        self._n_orphans += not rec.late  # until its first join
        waiting = self._pending.pop(request_id, [])
        if waiting:
            self._touched("pending", request_id)
        self._n_pending -= len(waiting)
        self._pending_bytes -= sum(_size(p) for p in waiting)
        return [j for p in waiting if (j := self._join(request_id, p, rec)) is not None]

    def add_event(self, event: InferenceEvent | LabelEvent) -> list[Joined]:
        """Feed one bus event (an inference or a label); returns the joins it completed."""
        if isinstance(event, LabelEvent):
            return self.add_label(event.request_id, event.label, event.time, event.model)
        j = self.add_prediction(
            event.request_id,
            event.model,
            event.version,
            event.variant,
            event.time,
            event.prediction,
            event.probabilities,
            event.classes,
        )
        return [] if j is None else [j]

    def _join(self, request_id: str, p: Pending, rec: PendingLabel) -> Joined | None:
        self._touched("label", request_id)
        self._n_orphans -= not rec.matched and not rec.late
        rec.joined.add(p.key)
        rec.matched = True
        try:
            values, reason = (None, "model") if rec.model not in (None, p.model) else label_rows(rec.label, p)
        except (TypeError, ValueError):  # e.g. an unhashable value where a class was expected
            values, reason = None, "rows"
        if values is None:
            self._invalid[reason or "rows"] += 1
            return None
        if not rec.delay_recorded:
            self._delay.update([rec.time - p.time])
            rec.delay_recorded = True
        self._s["joined"] += 1
        return Joined(
            request_id,
            p.model,
            p.version,
            p.variant,
            p.prediction,
            p.probabilities,
            p.classes,
            values,
            p.time,
            rec.time,
        )

    def _drop_oldest_pending(self, counter: str) -> None:
        request_id, dropped = self._pending.popitem(last=False)
        self._touched("pending", request_id)
        self._n_pending -= len(dropped)
        self._pending_bytes -= sum(_size(p) for p in dropped)
        self._s[counter] += len(dropped)
        for p in dropped:
            self._missing_by[p.key] = self._missing_by.get(p.key, 0) + 1
        if request_id not in self._gone:
            self._gone[request_id] = None
            self._added("gone", request_id)
        while len(self._gone) > self.max_pending:
            self._touched("gone", self._gone.popitem(last=False)[0])

    def _drop_oldest_label(self) -> None:
        request_id, rec = self._labels.popitem(last=False)
        self._touched("label", request_id)
        if not rec.matched and not rec.late:
            self._s["unknown"] += 1
            self._n_orphans -= 1

    def expire(self, now: float | None = None) -> int:
        """Drop predictions and labels past their TTL at ``now`` (default: the clock); returns how many went."""
        now = self._clock() if now is None else now
        before = self._n_pending + len(self._labels)
        while self._pending and next(iter(self._pending.values()))[0].arrived + self.ttl_s <= now:
            self._drop_oldest_pending("expired")
        while self._labels and next(iter(self._labels.values())).arrived + self.label_ttl_s <= now:
            self._drop_oldest_label()
        return before - self._n_pending - len(self._labels)

    def to_state(self, *, held: bool = True) -> dict[str, Any]:
        """Plain JSON state: settings, counters, delay summary, and (unless ``held=False``: a journaled joiner's
        store keeps them as rows) everything held."""
        settings = {
            k: getattr(self, k) for k in ("max_pending", "max_pending_bytes", "ttl_s", "max_labels", "label_ttl_s")
        }
        out: dict[str, Any] = {
            "settings": settings,
            "counts": dict(self._s),
            "invalid": dict(self._invalid),
            "delay": self._delay.to_state(),
        }
        if held:
            out["pending"] = [{"id": rid, **pending_json(p)} for rid, ps in self._pending.items() for p in ps]
            out["labels"] = [{"id": rid, **label_json(r)} for rid, r in self._labels.items()]
            out["gone"] = list(self._gone)
        return out

    def entry(self, kind: str, request_id: str) -> dict[str, Any] | None:
        """What is held for a request as JSON for the store (``kind``: ``pending``, ``label`` or ``gone``), or
        ``None``; numeric arrays are left to the store's orjson encoder."""
        if kind == "pending":
            ps = self._pending.get(request_id)
            return None if not ps else {"id": request_id, "p": [pending_json(p, arrays=True) for p in ps]}
        if kind == "label":
            r = self._labels.get(request_id)
            return None if r is None else {"id": request_id, **label_json(r)}
        return {"id": request_id} if request_id in self._gone else None

    def load(self, rows: Iterable[Mapping[str, Any]]) -> LabelJoiner:
        """Take back what is held from the stored rows (segments of :func:`~.journal.changes`, or an older build's
        one row per entry), in the order it was taken."""
        entries, stored, sizes, older = unpack(rows)
        try:
            for row in entries:
                d, kind = row["data"], row["kind"]
                rid = str(d["id"])
                if kind == "pending":
                    ps = [pending_from(x) for x in d["p"]]
                    self._pending[rid] = ps
                    self._n_pending += len(ps)
                    self._pending_bytes += sum(_size(p) for p in ps)
                elif kind == "label":
                    self._labels[rid] = label_from(d)
                else:
                    self._gone[rid] = None
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"label joins: not a joiner's rows ({exc})", hint="pass what entry() gave") from exc
        if self.journal is not None:
            self.journal.marks.clear()  # what was loaded is stored already
            self.journal.restored(stored, sizes, compact=older)
        self._n_orphans = sum(not r.matched and not r.late for r in self._labels.values())
        return self

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, clock: Callable[[], float] = _time.time) -> LabelJoiner:
        """Rebuild from :meth:`to_state`; it then behaves as the original would."""
        try:
            j = cls(**state["settings"], clock=clock)
            j._s.update({k: int(state["counts"][k]) for k in cls._COUNTERS})
            j._invalid.update({k: int(state["invalid"][k]) for k in INVALID_REASONS})
            j._delay = LabelDelay.from_state(state["delay"])
            for d in state.get("pending", []):
                p = pending_from(d)
                j._pending.setdefault(d["id"], []).append(p)
                j._n_pending += 1
                j._pending_bytes += _size(p)
            for d in state.get("labels", []):
                j._labels[d["id"]] = label_from(d)
            j._gone = OrderedDict.fromkeys(state.get("gone", []))
            j._n_orphans = sum(not r.matched and not r.late for r in j._labels.values())
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"state: not a joiner state ({exc})", hint="pass what to_state() gave") from exc
        return j
