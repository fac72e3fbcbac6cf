"""The canary judge: no verdict on noise (A/A over 100 seeds), every injected regression caught and named, the
evidence recorded, analysis files validated by line and field."""

from __future__ import annotations

import numpy as np
import pytest

from modelpilot.control.analysis import Analysis, parse_analysis
from modelpilot.control.judge import CanaryJudge, Performance
from modelpilot.control.samples import VariantSample
from modelpilot.errors import ConfigError

CLASSES = np.array(["low", "mid", "high"])
P = np.array([0.6, 0.3, 0.1])


def serve(
    rng: np.random.Generator,
    n: int,
    *,
    slow: float = 0.0,
    error_rate: float = 0.005,
    probs: np.ndarray = P,
    prefix: str = "r",
) -> VariantSample:
    """``n`` simulated requests: gamma latencies (mean 40 ms) times ``1 + slow``, failures at ``error_rate``."""
    sample = VariantSample(rng=rng)
    latencies = rng.gamma(4.0, 0.01, n) * (1.0 + slow)
    failed = rng.random(n) < error_rate
    labels = rng.choice(CLASSES, size=n, p=probs)
    for i in range(n):
        sample.add(f"{prefix}{i}", latency_s=float(latencies[i]), ok=not failed[i], predictions=[str(labels[i])])
    return sample


def test_a_and_a_over_100_seeds_never_fails() -> None:
    outcomes = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        v = CanaryJudge().judge(serve(rng, 2000, prefix="s"), serve(rng, 2000, prefix="c"))
        assert v.outcome != "fail", (seed, [(c.name, c.reason) for c in v.checks if c.outcome == "fail"])
        outcomes.append(v.outcome)
    assert outcomes.count("pass") >= 90  # and it does come to a verdict: the same model passes


@pytest.mark.parametrize(
    ("regression", "check"),
    [
        ({"slow": 0.5}, "latency"),
        ({"error_rate": 0.055}, "errors"),
        ({"probs": np.array([0.3, 0.3, 0.4])}, "predictions"),
    ],
    ids=["latency+50%", "errors+5pt", "prediction-shift"],
)
def test_injected_regressions_fail_and_name_the_check(regression: dict[str, object], check: str) -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        v = CanaryJudge().judge(serve(rng, 2000, prefix="s"), serve(rng, 2000, prefix="c", **regression))  # type: ignore[arg-type]
        assert v.outcome == "fail" and check in v.failed, (seed, v.failed)
        result = v.check(check)
        assert result.statistics and result.thresholds and result.samples  # the evidence is there


def test_a_silent_accuracy_drop_seen_through_estimated_performance_fails() -> None:
    rng = np.random.default_rng(1)
    stable, canary = serve(rng, 2000, prefix="s"), serve(rng, 2000, prefix="c")
    v = CanaryJudge().judge(stable, canary, performance=(Performance(0.86, 2000), Performance(0.78, 2000)))
    assert v.outcome == "fail" and v.failed == ["performance"]
    perf = v.check("performance")
    assert perf.statistics["difference"] == pytest.approx(-0.08)
    # a small dip: with 2000 rows a side it could still hide a 3-point drop; with 5000 it cannot
    small = (Performance(0.86, 2000), Performance(0.855, 2000))
    assert CanaryJudge().judge(stable, canary, performance=small).check("performance").outcome == "inconclusive"
    more = (Performance(0.86, 5000), Performance(0.855, 5000))
    assert CanaryJudge().judge(stable, canary, performance=more).check("performance").outcome == "pass"


def test_too_few_samples_are_inconclusive_never_a_verdict() -> None:
    rng = np.random.default_rng(3)
    v = CanaryJudge().judge(serve(rng, 50, prefix="s"), serve(rng, 50, prefix="c", slow=2.0, error_rate=0.5))
    assert v.outcome == "inconclusive"
    assert {c.name: c.outcome for c in v.checks if c.name in ("errors", "latency", "predictions")} == {
        "errors": "inconclusive",
        "latency": "inconclusive",
        "predictions": "inconclusive",
    }
    assert "fewer than 200 requests" in v.check("errors").reason


def test_shadow_disagreement_pairs_requests_by_id() -> None:
    rng = np.random.default_rng(5)
    stable, same, other = VariantSample(rng=rng), VariantSample(rng=rng), VariantSample(rng=rng)
    for i in range(400):
        label = ["yes", "no"][i % 2]
        stable.add(f"r{i}", latency_s=0.01, ok=True, predictions=[label])
        same.add(f"r{i}", latency_s=0.01, ok=True, predictions=[label])
        other.add(f"r{i}", latency_s=0.01, ok=True, predictions=["yes" if i % 5 else "no"])  # differs often
    assert CanaryJudge().judge(stable, same).check("shadow").outcome == "pass"
    shadow = CanaryJudge().judge(stable, other).check("shadow")
    want = np.mean([stable.by_request[r] != other.by_request[r] for r in stable.by_request])
    assert shadow.outcome == "fail" and shadow.statistics["disagreement"] == pytest.approx(want)
    assert shadow.samples == {"pairs": 400, "rows": 400}
    assert CanaryJudge().judge(stable, serve(rng, 10, prefix="x")).check("shadow").outcome == "skipped"


def test_critical_alarms_on_the_canary_fail_it() -> None:
    rng = np.random.default_rng(2)
    stable, canary = serve(rng, 2000, prefix="s"), serve(rng, 2000, prefix="c")
    assert CanaryJudge().judge(stable, canary, alarms={"drift": "critical"}).failed == ["alarms"]
    assert CanaryJudge().judge(stable, canary, alarms={"drift": "warning"}).check("alarms").outcome == "pass"
    strict = CanaryJudge(parse_analysis("alarms: {fail_on: warning}"))
    assert strict.judge(stable, canary, alarms={"quality": "warning"}).failed == ["alarms"]


def test_disabled_checks_are_skipped_and_required_checks_decide_a_pass() -> None:
    rng = np.random.default_rng(4)
    stable, canary = serve(rng, 3000, prefix="s"), serve(rng, 3000, prefix="c")
    only_errors = CanaryJudge(Analysis.model_validate({"latency": {"enabled": False}, "required": ["errors"]}))
    v = only_errors.judge(stable, canary)
    assert v.check("latency").outcome == "skipped" and v.outcome == "pass"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("errors: {tolerence: 0.01}\n", "a.yaml:1: errors.tolerence"),
        ("name: x\nlatency:\n  alpha: 2\n", "a.yaml:3: latency.alpha"),
        ("required: [errors, speed]\n", "unknown check(s) ['speed']"),
        ("canary: {}\n", "a.yaml:1: canary"),
        ("- errors\n", "expected a mapping"),
    ],
)
def test_bad_analysis_files_name_the_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_analysis(text, source="a.yaml")
    assert expected in info.value.message
