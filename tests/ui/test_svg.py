"""The dashboard's pictures: well-formed SVG for any input (empty, gaps, one point, hostile text), escaped text,
scales that keep every mark inside the picture, and no inline styles or scripts (the page's CSP forbids both)."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpilot.ui import figures, svg

HOSTILE = '<script>alert("x")</script>&'


def _parse(markup: str) -> ET.Element:
    root = ET.fromstring(markup)  # raises on anything not well-formed
    assert "style=" not in markup and "<script" not in markup and "javascript:" not in markup
    return root


def _numbers(markup: str, attribute: str) -> list[float]:
    return [float(v) for v in re.findall(rf' {attribute}="(-?[0-9.]+)"', markup)]


def test_every_picture_is_well_formed_and_escapes_its_text() -> None:
    pictures = [
        svg.line_chart([(HOSTILE, [(0.0, 1.0), (5.0, 2.0)])], title=HOSTILE),
        svg.heatmap([HOSTILE], [HOSTILE], [[0.3]], marks=[["critical"]], tips=[[HOSTILE]], title=HOSTILE),
        svg.sparkline([1.0, None, 3.0]),
        figures.burn_bars([(HOSTILE, 3.0)], title=HOSTILE),
        figures.budget_meter(-3.0),
        figures.split_bar(HOSTILE, HOSTILE, 10.0),
        figures.timeline(
            [
                figures.Lane(
                    label=HOSTILE,
                    start=0.0,
                    end=10.0,
                    steps=[(0.0, 5.0)],
                    marks=[(5.0, "pass", HOSTILE)],
                    final=HOSTILE,
                )
            ]
        ),
    ]
    for markup in pictures:
        _parse(markup)
        assert HOSTILE not in markup
    assert all("&lt;script&gt;" in m for i, m in enumerate(pictures) if i not in (2, 4))  # the text-free ones
    assert "&lt;script&gt;" in svg.legend([HOSTILE]) and "<script>" not in svg.legend([HOSTILE])


def test_empty_inputs_draw_a_labelled_empty_chart() -> None:
    for markup in (svg.line_chart([]), svg.line_chart([("a", [(0.0, None)])]), svg.heatmap([], [], [])):
        assert _parse(markup).findtext("{*}text") == "no data yet"
    assert "no rollouts yet" in figures.timeline([])


def test_gaps_split_a_line_and_single_points_show_as_dots() -> None:
    markup = svg.line_chart([("a", [(0, 1.0), (1, 2.0), (2, None), (3, 4.0), (4, 5.0)]), ("b", [(0, 1.0)])])
    root = _parse(markup)
    paths = root.findall(".//{*}g[@data-series='a']/{*}path")
    assert len(paths) == 2  # the gap splits the line
    assert len(root.findall(".//{*}g[@data-series='b']/{*}circle")) == 1
    assert 'data-points="4"' in markup and 'data-points="1"' in markup


@given(
    st.lists(
        st.tuples(
            st.floats(-1e9, 1e9, allow_nan=False),
            st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
        ),
        max_size=30,
    )
)
def test_line_charts_keep_every_mark_inside_the_picture(points: list[tuple[float, float | None]]) -> None:
    width, height = 400, 160
    markup = svg.line_chart([("s", points)], width=width, height=height, markers=True)
    _parse(markup)
    xs = _numbers(markup, "cx")
    ys = _numbers(markup, "cy")
    assert all(-0.5 <= x <= width + 0.5 for x in xs) and all(-0.5 <= y <= height + 0.5 for y in ys)
    for d in re.findall(r' d="([^"]+)"', markup):
        for x, y in re.findall(r"[ML](-?[0-9.]+),(-?[0-9.]+)", d):
            assert -0.5 <= float(x) <= width + 0.5 and -0.5 <= float(y) <= height + 0.5


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (0, 0.0031), (-5, 17), (100, 100.5), (0, 61.3)])
def test_ticks_are_round_and_cover_the_range(lo: float, hi: float) -> None:
    ticks = svg.nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 9
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    mantissa = next(iter(steps)) / 10 ** math.floor(math.log10(next(iter(steps))))
    assert round(mantissa, 6) in (1, 2, 2.5, 5, 10)


def test_the_heatmap_colours_by_psi_bin_and_outlines_findings() -> None:
    markup = svg.heatmap(
        ["income", "age"], ["w1", "w2"], [[0.01, 0.3], [None, 0.12]], marks=[[None, "critical"], [None, "warning"]]
    )
    root = _parse(markup)
    cells = root.findall(".//{*}rect[@class]")
    fills = [c.get("fill") for c in cells if (c.get("class") or "").startswith("cell")]
    assert fills == [svg.heat_colour(0.01), svg.heat_colour(0.3), svg.heat_colour(None), svg.heat_colour(0.12)]
    assert [c.get("class") for c in cells if (c.get("class") or "").startswith("cell")] == [
        "cell", "cell critical", "cell", "cell warning",
    ]  # fmt: skip


def test_burn_bars_use_a_log_scale_and_mark_the_alert_thresholds() -> None:
    markup = figures.burn_bars([("5m", 1.0), ("1h", 14.4), ("6h", 0.0)])
    root = _parse(markup)
    bars = {b.findtext("{*}title", default="").split(":")[0]: b for b in root.findall(".//{*}rect")}
    widths = {k: float(v.get("width") or 0) for k, v in bars.items()}
    assert widths["5m"] < widths["1h"] and widths["6h"] <= 1.5
    assert [b.get("class") for b in bars.values()] == ["bar warning", "bar critical", "bar ok"]
    assert len(root.findall(".//{*}line[@class='threshold']")) == 3


def test_the_timeline_draws_one_lane_per_rollout_with_its_verdicts() -> None:
    lanes = [
        figures.Lane(label="#2 v3", start=10.0, end=20.0, steps=[(10.0, 50.0), (20.0, 100.0)],
                     marks=[(20.0, "pass", "ok")], final="promoted"),
        figures.Lane(label="#1 v2", start=0.0, end=4.0, steps=[(0.0, 50.0), (4.0, 0.0)],
                     marks=[(2.0, "inconclusive", "wait"), (4.0, "fail", "errors")], final="rolled_back"),
    ]  # fmt: skip
    root = _parse(figures.timeline(lanes))
    assert root.get("data-lanes") == "2"
    outcomes = [c.get("class") for c in root.findall(".//{*}circle")]
    assert outcomes == ["verdict pass", "verdict inconclusive", "verdict fail"]
    assert [t.text for t in root.findall(".//{*}text") if "phase" in (t.get("class") or "")] == [
        "promoted",
        "rolled back",
    ]
