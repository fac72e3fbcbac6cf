"""What the monitor produces: one result per closed window, and alarm events when an alarm changes state.

Both are plain JSON (pydantic models): they are stored, printed by ``modelpilot analyze`` / ``drift``, exported as
metrics and published on the bus for the controller.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.monitoring.rules import Severity

__all__ = ["Alarm", "AlarmKind", "ColumnResult", "QualityResult", "WindowResult"]

AlarmKind = Literal["drift", "quality", "performance", "change"]


class ColumnResult(BaseModel):
    """One column's drift in one window, with the rule's verdict."""

    model_config = ConfigDict(frozen=True)

    key: str
    role: str
    kind: str
    n: int
    psi: float
    js: float
    hellinger: float
    wasserstein: float | None
    ks: float | None
    chi2: float | None
    p_value: float
    test: str
    judged: bool = Field(description="enough values in the window to be judged")
    significant: bool = Field(description="significant after the Benjamini-Hochberg correction")
    severity: Severity | None


class QualityResult(BaseModel):
    """One column's data-quality counts in one window, their ratios and the rule's verdict."""

    model_config = ConfigDict(frozen=True)

    key: str
    counts: dict[str, int]
    ratios: dict[str, float]
    severity: Severity | None
    worst: str | None = Field(default=None, description="the field with the highest severity")


class Alarm(BaseModel):
    """A change of an alarm's state for one model version and variant, with the evidence."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    variant: str
    kind: AlarmKind
    transition: Literal["raised", "escalated", "changed", "resolved", "held"] = Field(
        description="held: still active, unchanged, in a later window (announced to the controller so policies can "
        "count windows; never recorded)"
    )
    severity: Severity | None
    subjects: dict[str, Severity] = Field(description="the columns (or metrics) in alarm and their severity")
    window: int
    time: float | None
    evidence: dict[str, Any]


class WindowResult(BaseModel):
    """Everything the monitor measured in one window of one model version and variant."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    variant: str
    kind: Literal["traffic", "labels"] = Field(
        default="traffic", description="a window of predictions, or (live) a window of joined labels"
    )
    window: int
    start: float | None
    end: float | None
    rows: int
    events: int
    errors: int
    mean_latency_s: float | None
    drift: list[ColumnResult]
    quality: list[QualityResult]
    flagged_rows: int = Field(
        default=0,
        description="rows with at least one data-quality violation in any column (0 in windows of labels)",
    )
    unknown_columns: dict[str, int] = Field(default_factory=dict)
    estimated: dict[str, float | None] | None = None
    realized: dict[str, float | None] | None = None
    labeled: int = 0
    changes: dict[str, int] = Field(default_factory=dict, description="change detections per signal in the window")
    reconciliation: dict[str, dict[str, Any]] | None = None
    alarms: list[Alarm] = Field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        """Columns with a drift finding in this window."""
        return [c.key for c in self.drift if c.severity is not None]
