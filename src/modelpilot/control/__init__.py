"""The autopilot: the canary judge (and, as the issue lands, rollouts, remediation policies and the reconcile loop)."""

from __future__ import annotations

__all__: list[str] = []
