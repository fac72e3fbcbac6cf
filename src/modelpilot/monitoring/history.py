"""Monitor results in the store: window results and alarm transitions (written by the monitor, read by
``modelpilot drift`` / ``performance`` / ``alarms`` and the controller), and snapshots of monitor state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelpilot.monitoring.performance.journal import SEGMENT, Changes
from modelpilot.monitoring.results import Alarm, WindowResult
from modelpilot.storage import Store
from modelpilot.storage import tables as t

__all__ = ["MonitorHistory"]


def _when(seconds: float | None) -> datetime | None:
    return None if seconds is None or seconds != seconds else datetime.fromtimestamp(seconds, UTC)


class MonitorHistory:
    """Window results, alarms and state snapshots on a :class:`~modelpilot.storage.Store`.

    Parameters
    ----------
    store
        Where to keep them.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, results: Iterable[WindowResult]) -> int:
        """Store window results and their alarms in one transaction; return how many windows were stored."""
        windows, alarms = self._rows(results)
        if not windows:
            return 0
        with self.store.write() as conn:
            self._insert(conn, windows, alarms)
        return len(windows)

    @staticmethod
    def _rows(results: Iterable[WindowResult]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        now = datetime.now(UTC)
        windows: list[dict[str, Any]] = []
        alarms: list[dict[str, Any]] = []
        for r in results:
            windows.append(
                {
                    "model": r.model,
                    "version": r.version,
                    "variant": r.variant,
                    "window": r.window,
                    "start_time": _when(r.start),
                    "end_time": _when(r.end),
                    "rows": r.rows,
                    "result": r.model_dump(mode="json", exclude={"alarms"}),
                    "recorded_at": now,
                }
            )
            alarms.extend(
                {
                    "model": a.model,
                    "version": a.version,
                    "variant": a.variant,
                    "kind": a.kind,
                    "transition": a.transition,
                    "severity": a.severity,
                    "window": a.window,
                    "alarm": a.model_dump(mode="json"),
                    "recorded_at": now,
                }
                for a in r.alarms
            )
        return windows, alarms

    @staticmethod
    def _insert(conn: sa.Connection, windows: list[dict[str, Any]], alarms: list[dict[str, Any]]) -> None:
        if windows:
            conn.execute(sa.insert(t.window_results), windows)
        if alarms:
            conn.execute(sa.insert(t.alarms), alarms)

    def commit(
        self, results: Iterable[WindowResult], name: str, state: Mapping[str, Any], joins: Changes | None = None
    ) -> None:
        """Store window results, replace the snapshot ``name`` and apply its label joins' changes in one
        transaction: a worker that replays its input from the snapshot's position after a crash closes each window
        exactly once and joins each label once."""
        windows, alarms = self._rows(results)
        with self.store.write() as conn:
            self._insert(conn, windows, alarms)
            self._save(conn, name, state)
            if joins:
                self._save_joins(conn, name, joins)

    def recorded(self, results: Iterable[WindowResult]) -> set[tuple[str, int, str, str, int]]:
        """Which of ``results`` are stored already, as ``(model, version, variant, kind, window)`` (a monitor
        replaying its journal after a crash closes again the windows it had recorded before it)."""
        keys = {(r.model, r.version, r.variant, r.window) for r in results}
        if not keys:
            return set()
        w = t.window_results
        query = sa.select(w.c.model, w.c.version, w.c.variant, w.c.window, w.c.result).where(
            sa.or_(
                *(sa.and_(w.c.model == m, w.c.version == v, w.c.variant == a, w.c.window == n) for m, v, a, n in keys)
            )
        )
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        return {(r.model, r.version, r.variant, str(r.result.get("kind")), r.window) for r in rows}

    def windows(
        self, model: str, *, version: int | None = None, variant: str | None = None, last: int = 20
    ) -> list[WindowResult]:
        """The last ``last`` windows of a model (optionally one version / variant), oldest first."""
        w = t.window_results
        query = sa.select(w.c.result).where(w.c.model == model)
        if version is not None:
            query = query.where(w.c.version == version)
        if variant is not None:
            query = query.where(w.c.variant == variant)
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(w.c.id.desc()).limit(last)).all()
        return [WindowResult.model_validate(r.result) for r in reversed(rows)]

    def alarms(self, model: str | None = None, *, version: int | None = None, last: int = 50) -> list[Alarm]:
        """The last ``last`` alarm transitions (of one model, optionally one version), oldest first."""
        a = t.alarms
        query = sa.select(a.c.alarm)
        if model is not None:
            query = query.where(a.c.model == model)
        if version is not None:
            query = query.where(a.c.version == version)
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(a.c.id.desc()).limit(last)).all()
        return [Alarm.model_validate(r.alarm) for r in reversed(rows)]

    def save_state(self, name: str, state: Mapping[str, Any], joins: Changes | None = None) -> None:
        """Replace the snapshot called ``name`` (and apply its label joins' changes, in the same transaction)."""
        with self.store.write() as conn:
            self._save(conn, name, state)
            if joins:
                self._save_joins(conn, name, joins)

    @staticmethod
    def _save_joins(conn: sa.Connection, name: str, joins: Changes) -> None:
        """Write only what changed: a snapshot's segment row (and the deletes of segments nothing alive is left in,
        or of every row on compaction), not what is held."""
        lj = t.label_joins
        if joins.clear:
            conn.execute(sa.delete(lj).where(lj.c.owner == name))
        if joins.deletes:
            keys = [f"{n:020d}" for n in joins.deletes]
            conn.execute(sa.delete(lj).where(lj.c.owner == name, lj.c.kind == SEGMENT, lj.c.key.in_(keys)))
        if joins.segment is not None:
            conn.execute(sa.insert(lj), [{"owner": name, **joins.segment}])

    def clear_joins(self, name: str) -> None:
        """Forget the label-join rows of the snapshot ``name``."""
        with self.store.write() as conn:
            conn.execute(sa.delete(t.label_joins).where(t.label_joins.c.owner == name))

    def load_joins(self, name: str) -> list[dict[str, Any]]:
        """The label-join rows of the snapshot ``name`` (``kind``, ``seq``, ``data``): its segments, in order."""
        lj = t.label_joins
        query = sa.select(lj.c.kind, lj.c.seq, lj.c.data).where(lj.c.owner == name).order_by(lj.c.seq)
        with self.store.read() as conn:
            return [{"kind": r.kind, "seq": r.seq, "data": r.data} for r in conn.execute(query)]

    @staticmethod
    def _save(conn: sa.Connection, name: str, state: Mapping[str, Any]) -> None:
        values = {"state": dict(state), "updated_at": datetime.now(UTC)}
        done = conn.execute(sa.update(t.monitor_state).where(t.monitor_state.c.name == name).values(**values))
        if not done.rowcount:
            conn.execute(sa.insert(t.monitor_state).values(name=name, **values))

    def load_state(self, name: str) -> dict[str, Any] | None:
        """The snapshot called ``name``, if any."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(t.monitor_state.c.state).where(t.monitor_state.c.name == name)).first()
        return None if row is None else dict(row.state)
