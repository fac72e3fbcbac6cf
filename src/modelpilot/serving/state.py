"""What one serving process serves: the loaded versions of every planned model, swapped whole on each change.

:meth:`ModelTable.reload` reads every traffic plan and ``fallback`` alias, loads the versions not loaded yet (in the
calling thread — the server calls it off the event loop), and then replaces the whole table in one assignment. A
model whose new versions fail to load keeps serving its previous plan (the failure is logged and counted), so no
replica ever serves half a plan. :meth:`ModelTable.marker` is the cheap read a replica polls to notice changes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from modelpilot.config.settings import ServingSettings
from modelpilot.errors import NotFoundError
from modelpilot.registry import Registry, VersionInfo
from modelpilot.serving.plan import Router, TrafficPlan
from modelpilot.serving.runner import VersionRunner
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.storage.tables import alias_history, traffic_history
from modelpilot.telemetry import metrics

__all__ = ["FALLBACK_ALIAS", "LoadedVersion", "ModelTable", "ServedModel"]

log = logging.getLogger(__name__)

RETRY_FAILED_S = 30.0
"""A plan whose versions failed to load is tried again this often (a shared volume may come back)."""

FALLBACK_ALIAS = "fallback"
"""The alias whose version answers when the routed version errors or times out."""


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    """A registered version and its runner."""

    info: VersionInfo
    runner: VersionRunner


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One model as this process serves it now."""

    name: str
    plan: TrafficPlan
    router: Router
    versions: Mapping[int, LoadedVersion]
    fallback: LoadedVersion | None = None

    def version(self, number: int) -> LoadedVersion:
        """A served version, or 404 naming the served ones."""
        loaded = self.versions.get(number)
        if loaded is None and self.fallback is not None and self.fallback.info.version == number:
            loaded = self.fallback
        if loaded is None:
            served = sorted({*self.versions, *([self.fallback.info.version] if self.fallback else [])})
            raise NotFoundError(
                f"model {self.name!r} does not serve version {number}",
                hint=f"served versions: {served}; change them with: modelpilot traffic set {self.name}",
            )
        return loaded

    def role(self, number: int) -> str:
        """The variant a served version plays."""
        role = self.plan.role_of(number)
        if role is None:
            return "fallback"
        return role


class ModelTable:
    """The served models of one process, reloaded from the store when plans or aliases change.

    Parameters
    ----------
    registry
        Where versions are loaded from.
    plans
        Where traffic plans are read.
    executor
        The thread pool model code runs in.
    settings
        Concurrency, timeouts.
    seed
        Seeds the routers' random choices (``None``: from the OS).
    """

    def __init__(
        self,
        registry: Registry,
        plans: TrafficPlans,
        executor: Executor,
        settings: ServingSettings,
        *,
        seed: int | None = None,
    ) -> None:
        self.registry = registry
        self.plans = plans
        self.executor = executor
        self.settings = settings
        self._rng = random.Random(seed)
        self.models: Mapping[str, ServedModel] = {}
        self._loaded: dict[tuple[str, int], LoadedVersion] = {}
        self.loaded_marker: tuple[int, int] | None = None
        self.revision = 0  # plan revision of the table being served
        self.retry_at = 0.0  # monotonic time after which a failed reload is tried again
        self.ready = False
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._info_labels: set[tuple[str, str, str, str]] = set()

    def marker(self) -> tuple[int, int]:
        """(newest plan change, newest alias move): changes whenever a reload could change anything.

        Both are maxima of primary keys, so the poll every replica runs twice a second reads one index entry.
        """
        with self.plans.store.read() as conn:
            changes = conn.execute(sa.select(sa.func.max(traffic_history.c.id))).scalar()
            moves = conn.execute(sa.select(sa.func.max(alias_history.c.id))).scalar()
        return int(changes or 0), int(moves or 0)

    def _load(self, info: VersionInfo) -> LoadedVersion:
        key = (info.model, info.version)
        cached = self._loaded.get(key)
        if cached is not None:
            return cached
        model = self.registry.load(info.model, info.version)
        s = self.settings
        runner = VersionRunner(
            info.model,
            info.version,
            model,
            self.executor,
            concurrency=s.model_concurrency,
            timeout_s=s.model_timeout_s,
            queue_timeout_s=s.queue_timeout_s,
            max_batch_rows=s.max_batch_rows,
        )
        loaded = LoadedVersion(info, runner)
        self._loaded[key] = loaded
        return loaded

    def _build(self, plan: TrafficPlan) -> ServedModel:
        versions = {v: self._load(self.registry.get(plan.model, v)) for v in plan.versions}
        fallback = None
        fallback_version = self.registry.aliases(plan.model).get(FALLBACK_ALIAS)
        if fallback_version is not None:
            try:
                fallback = versions.get(fallback_version) or self._load(self.registry.get(plan.model, fallback_version))
            except Exception as exc:  # a broken fallback must not stop the plan from being served
                log.error("model %s: fallback v%s cannot be loaded: %s", plan.model, fallback_version, exc)
        router = Router(plan, rng=random.Random(self._rng.getrandbits(64)))
        return ServedModel(plan.model, plan, router, versions, fallback)

    def preload(self, plan: TrafficPlan) -> None:
        """Load every version a plan needs (raises if one cannot be loaded here), without serving it yet."""
        with self._lock:
            for v in plan.versions:
                self._load(self.registry.get(plan.model, v))

    def reload(self) -> dict[str, Any]:
        """Read every plan and swap in the new table; returns what changed and what failed.

        Reloads are serialised (the watcher and admin requests may ask at once), so one table is built at a time
        and a newer table is never replaced by an older one.
        """
        with self._lock:
            return self._reload()

    def _reload(self) -> dict[str, Any]:
        marker = self.marker()
        revision, plans = self.plans.all()
        current = dict(self.models)
        table: dict[str, ServedModel] = {}
        failed: dict[str, str] = {}
        for name, plan in plans.items():
            try:
                table[name] = self._build(plan)
            except Exception as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
                log.error("model %s: plan revision %d not applied, keeping the previous one: %s", name, revision, exc)
                if name in current:
                    table[name] = current[name]
        in_use = {(m.name, v) for m in table.values() for v in m.versions} | {
            (m.name, m.fallback.info.version) for m in table.values() if m.fallback is not None
        }
        for key in [k for k in self._loaded if k not in in_use]:
            del self._loaded[key]
        self.models = table
        self.loaded_marker = marker
        self.revision = revision
        self.errors = failed
        self.retry_at = time.monotonic() + RETRY_FAILED_S if failed else 0.0
        self.ready = True
        metrics.PLAN_REVISION.set(revision)
        metrics.PLAN_RELOADS.labels(outcome="failed" if failed else "ok").inc()
        labels = {(m.name, str(v), m.role(v), lv.info.format) for m in table.values() for v, lv in m.versions.items()}
        labels |= {
            (m.name, str(m.fallback.info.version), "fallback", m.fallback.info.format)
            for m in table.values()
            if m.fallback is not None
        }
        for gone in self._info_labels - labels:  # zero, not remove: removal does not reach multi-process files
            metrics.MODEL_INFO.labels(*gone).set(0)
        for now in labels:
            metrics.MODEL_INFO.labels(*now).set(1)
        self._info_labels = labels
        return {"revision": revision, "models": sorted(table), "failed": failed}

    def get(self, name: str) -> ServedModel:
        """A served model, or 404."""
        model = self.models.get(name)
        if model is None:
            raise NotFoundError(
                f"model {name!r} is not served here",
                hint=f"served models: {sorted(self.models)}; serve one with: modelpilot traffic set {name} --stable V",
            )
        return model
