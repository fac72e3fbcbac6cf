"""``as_text``: the values of a categorical column as strings, the same whether the column takes the fast path
(strings and missing values only) or the value-by-value one."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from modelpilot.monitoring.columns import as_text


def _one(v: Any) -> str | None:
    """The rule, value by value (written here from the docstring: NaN and None missing, booleans as true/false,
    whole floats without their .0)."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


values = st.one_of(st.none(), st.text(max_size=5), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True))


@given(st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=50))
def test_strings_and_missing_values_come_back_as_they_are(items: list[str | None]) -> None:
    column = np.empty(len(items), dtype=object)
    column[:] = items
    out = as_text(column)
    assert out.tolist() == items and out is not column  # a copy: the caller's column is left alone


@given(st.lists(values, max_size=50))
def test_any_mix_follows_the_rule_value_by_value(items: list[Any]) -> None:
    column = np.empty(len(items), dtype=object)
    column[:] = items
    assert as_text(column).tolist() == [_one(v) for v in items]
