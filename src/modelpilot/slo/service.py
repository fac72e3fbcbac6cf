"""The SLO evaluator as a service: every ``tick_s`` it reads this process's metric samples, updates the budget and
burn-rate gauges, puts alert transitions on the bus as :class:`~modelpilot.events.model.SloAlertEvent` (for the
controller) and saves each SLO's status in the store (what ``modelpilot slo status`` prints). The ledgers are saved
every ``snapshot_s`` and at stop, and loaded at start, so a restart keeps the period's budget.

Example (one evaluation by hand, over samples given instead of this process's metrics):
    >>> import tempfile
    >>> from modelpilot.slo.spec import SloSpec
    >>> from modelpilot.storage import Store
    >>> store = Store(f"sqlite:///{tempfile.mkdtemp()}/doc.db")
    >>> spec = SloSpec(name="avail", model="m", sli={"kind": "availability"}, objective=99.0)
    >>> labels = {"model": "m", "variant": "stable"}
    >>> counts = {"200": 0.0, "500": 0.0}
    >>> sample = lambda: [("modelpilot_requests_total", {**labels, "code": c}, n) for c, n in counts.items()]
    >>> svc = SloService([spec], store, sample=sample)
    >>> counts.update({"200": 990.0, "500": 10.0})
    >>> [(s.slo, s.sli["5m"], s.burn_rates["5m"]) for s in svc.tick(now=1000.0)]
    [('m-avail', 0.99, 1.0)]
    >>> [(st.slo, st.budget_remaining) for st, saved in load_statuses(store)]
    [('m-avail', 0.0)]
    >>> store.close()
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelpilot.events.bus import Bus
from modelpilot.events.model import SloAlertEvent
from modelpilot.slo.evaluator import Evaluator, SloStatus
from modelpilot.slo.sli import Sample
from modelpilot.slo.spec import SloSpec
from modelpilot.storage import Store
from modelpilot.storage import tables as t
from modelpilot.telemetry import metrics as m

__all__ = ["SloService", "load_statuses"]

log = logging.getLogger(__name__)


class SloService:
    """Runs an :class:`~modelpilot.slo.evaluator.Evaluator` on a schedule.

    Parameters
    ----------
    specs
        The SLOs to evaluate.
    store
        Where statuses and ledgers are saved.
    bus
        Where alert transitions go (none: logged only).
    tick_s, snapshot_s
        How often to evaluate, and to save the ledgers.
    sample
        Reads the current metric samples (default: this process's registry, as a scrape would).
    """

    def __init__(
        self,
        specs: Sequence[SloSpec],
        store: Store,
        *,
        bus: Bus | None = None,
        tick_s: float = 10.0,
        snapshot_s: float = 60.0,
        clock: Callable[[], float] = _time.time,
        sample: Callable[[], Sequence[Sample]] = m.samples,
    ) -> None:
        self.evaluator = Evaluator(specs, step_s=min(10.0, tick_s))
        self.store = store
        self.bus = bus
        self.tick_s = tick_s
        self.snapshot_s = snapshot_s
        self.clock = clock
        self.sample = sample
        self.statuses: list[SloStatus] = []
        self._restore_failed = False  # then the saved ledgers are kept, not overwritten by fresh ones
        self._unsent: list[SloAlertEvent] = []  # transitions the bus refused (queue full): offered again each tick
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: float | None = None) -> list[SloStatus]:
        """Evaluate once: gauges, alert events, statuses saved."""
        t_now = self.clock() if now is None else now
        with self._lock:
            statuses, transitions = self.evaluator.evaluate(self.sample(), t_now)
            self.statuses = statuses
        for st in statuses:
            _export(st)
        for alert in transitions:
            log.warning(
                "SLO %s %s alert %s (burn rates %s)",
                alert["slo"],
                alert["severity"],
                alert["state"],
                {k: v for k, v in alert["burn_rates"].items() if v is not None},
            )
            self._unsent.append(SloAlertEvent(alert, t_now))
        self._publish()
        try:
            self._save(statuses, None)
        except Exception:
            log.exception("SLO statuses could not be saved; the next evaluation tries again")
        return statuses

    def _publish(self) -> None:
        if self.bus is None:
            self._unsent.clear()
            return
        while self._unsent:
            if not self.bus.publish(self._unsent[0]):
                log.warning("SLO alert events waiting for room on the bus: %d", len(self._unsent))
                return
            self._unsent.pop(0)

    def snapshot(self) -> None:
        """Save every ledger with its status."""
        with self._lock:
            state = None if self._restore_failed else self.evaluator.to_state()
            statuses = list(self.statuses)
        self._save(statuses, state)

    def restore(self) -> list[str]:
        """Load the saved ledgers of these SLOs; return the ids restored."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(t.slo_state.c.slo, t.slo_state.c.state)).all()
        state = {r.slo: r.state for r in rows if r.state is not None}
        with self._lock:
            return self.evaluator.restore(state)

    def _save(self, statuses: Sequence[SloStatus], state: dict[str, Any] | None) -> None:
        now = datetime.now(UTC)
        with self.store.write() as conn:
            for st in statuses:
                values: dict[str, Any] = {"model": st.model, "status": st.model_dump(mode="json"), "updated_at": now}
                if state is not None:
                    values["state"] = state.get(st.slo)
                done = conn.execute(sa.update(t.slo_state).where(t.slo_state.c.slo == st.slo).values(**values))
                if not done.rowcount:
                    conn.execute(sa.insert(t.slo_state).values(slo=st.slo, **values))

    # ----------------------------------------------------------------------------------------------- thread
    def start(self) -> SloService:
        """Load saved ledgers, count from the counters' present values, and evaluate every ``tick_s``."""
        try:
            restored = self.restore()
            if restored:
                log.info("SLO ledgers restored: %s", ", ".join(restored))
        except Exception:
            self._restore_failed = True
            log.exception("SLO ledgers could not be restored; budgets start empty and the saved ones are kept")
        with self._lock:
            self.evaluator.prime(self.sample())
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="modelpilot-slo", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        last_snapshot = _time.monotonic()
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
                if _time.monotonic() - last_snapshot >= self.snapshot_s:
                    self.snapshot()
                    last_snapshot = _time.monotonic()
            except Exception:
                log.exception("SLO evaluation failed; trying again in %.0f s", self.tick_s)

    def stop(self) -> None:
        """Stop the thread, evaluate a last time and save the ledgers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.tick()
            self.snapshot()
        except Exception:
            log.exception("SLO ledgers could not be saved at stop")


def _export(st: SloStatus) -> None:
    for window, value in st.burn_rates.items():
        if value is not None:
            m.SLO_BURN_RATE.labels(st.slo, st.model, window).set(value)
    for window, value in st.sli.items():
        if value is not None:
            m.SLO_SLI_ERROR.labels(st.slo, st.model, window).set(round(1.0 - value, 12))
    m.SLO_BUDGET_REMAINING.labels(st.slo, st.model).set(st.budget_remaining)
    for severity, since in st.alerts.items():
        m.SLO_ALERT_STATE.labels(st.slo, st.model, severity).set(0 if since is None else 1)


def load_statuses(store: Store, model: str | None = None) -> list[tuple[SloStatus, datetime]]:
    """The saved statuses (and when each was saved), optionally of one model, ordered by SLO id."""
    query = sa.select(t.slo_state.c.status, t.slo_state.c.updated_at).order_by(t.slo_state.c.slo)
    if model is not None:
        query = query.where(t.slo_state.c.model == model)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [(SloStatus.model_validate(r.status), r.updated_at) for r in rows]
