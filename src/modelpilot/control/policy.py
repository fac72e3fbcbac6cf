"""Remediation policies: conditions over signals, and the actions they call for, in YAML.

A policy is a list of rules. A rule names a model (or ``*``), a condition over one kind of signal, and the actions
to take when the condition holds. Signals are the monitor's alarm transitions and the SLO alerts (from the
in-process evaluator or Alertmanager); :func:`signal_of` reads both from their bus events.

Conditions:

- ``drift`` / ``quality`` / ``performance`` / ``change``: a monitor alarm of that kind at ``severity`` or worse,
  active for at least ``windows`` windows;
- ``slo_burn``: an SLO alert of ``severity`` (``page`` or ``ticket``) firing, optionally for one SLO.

Actions: ``rollback``, ``fallback``, ``freeze``, ``retrain``, ``notify``, ``require_approval``. The policy's guards
are checked in the decision itself (pure, see :mod:`modelpilot.control.remediation`): dry run, at most
``max_actions_per_hour`` per model, a cooldown per rule and model, and one decision per signal.

Example:
    >>> p = parse_policy('''
    ... name: credit
    ... rules:
    ...   - name: drifted
    ...     model: credit
    ...     when: {drift: {severity: critical, windows: 2}}
    ...     do: [fallback, notify]
    ...     notify: {url: "http://127.0.0.1:9/hook"}
    ... ''')
    >>> rule = p.rules[0]
    >>> rule.condition_kind, rule.when.drift.windows, rule.do
    ('drift', 2, ('fallback', 'notify'))
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelpilot.config.yamlcheck import compose, problems, refuse
from modelpilot.errors import ConfigError
from modelpilot.slo.spec import parse_duration

__all__ = [
    "ACTIONS",
    "AlarmCondition",
    "Approval",
    "Condition",
    "Notify",
    "Policy",
    "Retrain",
    "Rule",
    "SloCondition",
    "load_policy",
    "parse_policy",
]

ACTIONS = ("rollback", "fallback", "freeze", "retrain", "notify", "require_approval")
"""Every action a rule may call for."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class AlarmCondition(_Strict):
    """A monitor alarm of the condition's kind."""

    severity: Literal["warning", "critical"] = Field("critical", description="This severity or worse.")
    windows: int = Field(1, ge=1, description="Active for at least this many windows in a row.")


class SloCondition(_Strict):
    """An SLO burn-rate alert firing."""

    severity: Literal["page", "ticket"] = Field("page", description="page only, or ticket (and page).")
    slo: str | None = Field(None, description="One SLO id (<model>-<name>); default any SLO of the model.")


class Condition(_Strict):
    """Exactly one condition."""

    drift: AlarmCondition | None = None
    quality: AlarmCondition | None = None
    performance: AlarmCondition | None = None
    change: AlarmCondition | None = None
    slo_burn: SloCondition | None = None

    @model_validator(mode="after")
    def _one(self) -> Condition:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            names = ", ".join(type(self).model_fields)
            raise ValueError(f"give exactly one condition (one of {names}), got {given or 'none'}")
        return self


class Notify(_Strict):
    """Where a ``notify`` action posts."""

    url: str = Field(description="Webhook URL.")
    format: Literal["slack", "alertmanager"] = Field("slack", description="Body shape.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _http_url(value)


class Retrain(_Strict):
    """How a ``retrain`` action starts a retraining."""

    command: tuple[str, ...] | None = Field(
        None, min_length=1, description="A command run with the evidence as JSON on stdin."
    )
    timeout: str = Field("10m", description="The command is stopped (with its children) after this long.")
    url: str | None = Field(None, description="Or a webhook called with the evidence.")
    cooldown: str = Field("24h", description="At most one retraining per model in this time.")

    @model_validator(mode="after")
    def _target(self) -> Retrain:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command or url")
        parse_duration(self.cooldown)
        parse_duration(self.timeout)
        if self.url is not None:
            _http_url(self.url)
        return self

    @property
    def cooldown_s(self) -> float:
        """The cooldown in seconds."""
        return parse_duration(self.cooldown)

    @property
    def timeout_s(self) -> float:
        """The command's time limit in seconds."""
        return parse_duration(self.timeout)


class Approval(_Strict):
    """How long an action waits for ``modelpilot approve`` and what happens then."""

    timeout: str = Field("1h", description="How long to wait.")
    on_timeout: Literal["proceed", "cancel"] = Field("cancel", description="What to do when nobody answered.")

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        parse_duration(value)
        return value


class Rule(_Strict):
    """A condition and the actions it calls for."""

    name: str = Field(description="Recorded with every decision.")
    model: str = Field("*", description="A model name, or * for every model.")
    when: Condition
    do: tuple[Literal["rollback", "fallback", "freeze", "retrain", "notify", "require_approval"], ...] = Field(
        min_length=1
    )
    cooldown: str = Field("15m", description="The rule acts at most once per model in this time.")
    notify: Notify | None = None
    retrain: Retrain | None = None
    approval: Approval | None = None

    @model_validator(mode="after")
    def _settings_for_actions(self) -> Rule:
        parse_duration(self.cooldown)
        for action, setting in (("notify", self.notify), ("retrain", self.retrain)):
            if action in self.do and setting is None:
                raise ValueError(f"action {action} needs a `{action}:` section")
        if "require_approval" in self.do and len(self.do) == 1:
            raise ValueError("require_approval gates other actions: list the actions it waits for")
        if self.approval is not None and "require_approval" not in self.do:
            raise ValueError("an approval: section needs require_approval in do")
        return self

    @property
    def condition_kind(self) -> str:
        """``drift``, ``quality``, ``performance``, ``change`` or ``slo_burn``."""
        return next(k for k in Condition.model_fields if getattr(self.when, k) is not None)

    @property
    def cooldown_s(self) -> float:
        """The cooldown in seconds."""
        return parse_duration(self.cooldown)


class Policy(_Strict):
    """A remediation policy."""

    name: str = "default"
    version: int = Field(1, ge=1, description="Bump it when the rules change: decisions record it.")
    dry_run: bool = Field(False, description="Decide and record, but act on nothing.")
    max_actions_per_hour: int = Field(3, ge=1, description="Actions per model per hour at most (blast radius).")
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_the_cap(self) -> Policy:
        for rule in self.rules:
            acting = [a for a in rule.do if a != "require_approval"]
            if len(acting) > self.max_actions_per_hour:
                raise ValueError(
                    f"rule {rule.name} takes {len(acting)} actions but max_actions_per_hour is "
                    f"{self.max_actions_per_hour}: it could never act"
                )
        return self

    @field_validator("rules")
    @classmethod
    def _unique(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        names = [r.name for r in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names used twice: {', '.join(twice)}")
        return value


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Validate a policy file's text; every problem is named by line and field in one :class:`ConfigError`."""
    root, data = compose(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a `rules:` list", hint="see docs/remediation.md")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        refuse(
            problems(exc, root, source),
            "policy",
            "fix each line named above; nothing was applied (docs/remediation.md lists conditions and actions)",
        )
        raise  # pragma: no cover - refuse raised


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"policy {path} cannot be read: {exc.strerror}", hint="pass an existing file") from None
    return parse_policy(text, source=str(path))
