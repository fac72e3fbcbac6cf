"""The `modelpilot` command line (Typer)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Console entry point."""
    from modelpilot.cli.app import main as run

    sys.exit(run())
