"""Carrying out remediation decisions: the thin I/O shell around :mod:`modelpilot.control.remediation`.

- ``rollback``: the traffic plan's rollback (the canary's weight to 0, or the stable version back to the last
  known-good one);
- ``fallback``: the model's ``fallback`` alias becomes the stable version (the previous plan is in the evidence,
  to restore it when the signal clears);
- ``freeze``: rollouts of the model are refused for ``freeze_s`` (or until lifted);
- ``notify``: a webhook POST with a Slack-compatible body (``{"text": ...}``) or an Alertmanager-compatible list;
- ``retrain``: the rule's command, with the evidence as JSON on stdin, or its webhook.

Every outcome is a plain mapping (``done``, ``skipped`` or ``failed`` with a reason) for the audit entry; an
action never raises.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time as _time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx2
import sqlalchemy as sa

from modelpilot.control.policy import Rule
from modelpilot.control.remediation import Decision
from modelpilot.control.rollouts import RolloutStore
from modelpilot.errors import ModelPilotError, StoreError
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.storage import tables as t

__all__ = ["Actuator"]

log = logging.getLogger(__name__)

Outcome = dict[str, Any]


class Actuator:
    """Acts on decisions for one store."""

    def __init__(
        self,
        registry: Registry,
        *,
        actor: str,
        freeze_s: float = 86400.0,
        post: Callable[[str, Any], int] | None = None,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.registry = registry
        self.plans = TrafficPlans(registry.store)
        self.actor = actor
        self.freeze_s = freeze_s
        self.clock = clock
        self._post = post or _post
        self._id: int | None = None

    def act(self, decision: Decision, rule: Rule, decision_id: int | None = None) -> Outcome:
        """Carry out one decision; the outcome says what happened. Traffic-plan changes carry ``decision_id`` in
        their reason, so :meth:`effective` can tell later whether the action took place."""
        self._id = decision_id
        try:
            handler = getattr(self, f"_{decision.action}")
            out: Outcome = handler(decision, rule)
            return out
        except StoreError as exc:  # the store failed: not done, and worth retrying by hand
            return {"status": "failed", "reason": exc.message}
        except ModelPilotError as exc:
            return {"status": "skipped", "reason": exc.message}
        except Exception as exc:  # an action must not take the controller down
            log.exception("remediation action %s for %s failed", decision.action, decision.model)
            return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}

    def _reason(self, d: Decision) -> str:
        marker = "" if self._id is None else f" [decision {self._id}]"
        return f"policy rule {d.rule}: {d.signal.kind} {d.signal.severity} ({d.signal.id}){marker}"

    def effective(self, action: str, model: str, decision_id: int) -> bool | None:
        """Whether a traffic-plan or freeze action of ``decision_id`` took place (``None``: cannot be told, for
        actions whose effect is outside modelpilot)."""
        marker = f"[decision {decision_id}]"
        if action in ("rollback", "fallback"):
            return any(marker in change.reason for change in self.plans.history(model))
        if action == "freeze":
            with self.registry.store.read() as conn:
                row = conn.execute(sa.select(t.leases.c.holder).where(t.leases.c.name == f"freeze:{model}")).first()
            return row is not None and marker in str(row.holder)
        return None

    def _rollback(self, d: Decision, rule: Rule) -> Outcome:
        rollouts = RolloutStore(self.registry)
        ended = rollouts.end_active(d.model, actor=self.actor, reason=self._reason(d))
        if ended is not None:  # a rollout in progress: ending it takes the candidate out (its weight to 0)
            rollouts.reconcile(ended, actor=self.actor, note=self._reason(d))
            return {"status": "done", "rollout_aborted": ended.spec.version}
        change = self.plans.rollback(d.model, actor=self.actor, reason=self._reason(d))
        return {"status": "done", "plan": change.to_json()}

    def _fallback(self, d: Decision, rule: Rule) -> Outcome:
        RolloutStore(self.registry).end_active(d.model, actor=self.actor, reason=self._reason(d))
        target = self.registry.aliases(d.model).get("fallback")
        current = self.plans.get(d.model)
        if target is None:
            return {"status": "skipped", "reason": f"model {d.model!r} has no fallback alias"}
        if current is not None and current.stable == target and current.canary is None:
            return {"status": "skipped", "reason": f"v{target} already serves all traffic"}
        plan = TrafficPlan(model=d.model, stable=target)
        self.plans.set(plan, actor=self.actor, reason=self._reason(d))
        return {"status": "done", "stable": target, "previous": None if current is None else current.to_json()}

    def _freeze(self, d: Decision, rule: Rule) -> Outcome:
        until = self.clock() + self.freeze_s
        why = f"frozen by {self._reason(d)}"
        with self.registry.store.write() as conn:
            name = f"freeze:{d.model}"
            values = {"holder": why[:200], "expires_at": until, "renewed_at": datetime.now(UTC)}
            done = conn.execute(sa.update(t.leases).where(t.leases.c.name == name).values(**values))
            if not done.rowcount:
                conn.execute(sa.insert(t.leases).values(name=name, **values))
        return {"status": "done", "until": until}

    def _notify(self, d: Decision, rule: Rule) -> Outcome:
        assert rule.notify is not None
        text = (
            f"modelpilot: {d.model}: {d.signal.kind} {d.signal.severity}; rule {d.rule} calls for "
            f"{', '.join(rule.do)}" + (" (dry run)" if d.dry_run else "")
        )
        if rule.notify.format == "slack":
            body: Any = {"text": text}
        else:
            labels = {"alertname": f"Modelpilot{d.signal.kind.title().replace('_', '')}", "model": d.model}
            body = [{"labels": labels, "annotations": {"summary": text}}]
        status = self._post(rule.notify.url, body)
        return {"status": "done" if 200 <= status < 300 else "failed", "http_status": status}

    def _retrain(self, d: Decision, rule: Rule) -> Outcome:
        assert rule.retrain is not None
        payload = {"model": d.model, "version": d.signal.version, "rule": d.rule, "evidence": dict(d.evidence)}
        if rule.retrain.url is not None:
            status = self._post(rule.retrain.url, payload)
            return {"status": "done" if 200 <= status < 300 else "failed", "http_status": status}
        assert rule.retrain.command is not None
        # The operator's command, in its own process group (a timeout stops its children too), without
        # modelpilot's settings in its environment (the store URL may hold a password).
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
        proc = subprocess.Popen(
            list(rule.retrain.command),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(json.dumps(payload, default=str).encode(), timeout=rule.retrain.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {"status": "failed", "reason": f"the retrain command ran past {rule.retrain.timeout}: stopped"}
        tail = err.decode(errors="replace")[-500:]
        return {"status": "done" if proc.returncode == 0 else "failed", "exit_code": proc.returncode, "stderr": tail}

    def _require_approval(self, d: Decision, rule: Rule) -> Outcome:
        return {"status": "done", "reason": "the rule's other actions wait for `modelpilot approve`"}


def _post(url: str, body: Mapping[str, Any] | list[Any]) -> int:
    response = httpx2.post(url, json=body, timeout=5.0)
    return int(response.status_code)
