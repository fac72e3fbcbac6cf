"""The demo: a seeded synthetic data set and the story `modelpilot demo` tells."""

from __future__ import annotations

from modelpilot.demo.data import credit_table

__all__ = ["credit_table"]
