"""The demo's narration: lines of story, and while it waits a live status (requests/s, p50/p99, errors, the error
budget left, the traffic plan) — a Rich live view on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from modelpilot.demo.traffic import LoadGenerator

__all__ = ["Narrator", "TimedOut"]


class TimedOut(RuntimeError):
    """The story did not reach a step in time."""


class Narrator:
    """Story lines and live waits.

    Parameters
    ----------
    console
        Where everything goes.
    load
        The traffic whose statistics the status shows.
    context
        Returns the rest of the status: ``{"budget": float | None, "plan": str}``.
    """

    def __init__(self, console: Console, load: LoadGenerator, context: Callable[[], dict[str, Any]]) -> None:
        self.console = console
        self.load = load
        self.context = context
        self.started = time.monotonic()
        self._last_plain = 0.0

    def say(self, text: str) -> None:
        """One line of the story."""
        self.console.print(text, highlight=False)

    def _status(self) -> tuple[list[str], Table]:
        s = self.load.stats()
        ctx = self.context()
        budget = ctx.get("budget")
        values = [
            f"{time.monotonic() - self.started:5.0f} s",
            f"{s.rate:5.1f}",
            "-" if s.p50_ms is None else f"{s.p50_ms:.1f} ms",
            "-" if s.p99_ms is None else f"{s.p99_ms:.1f} ms",
            f"{s.error_share:.1%}",
            "-" if budget is None else f"{budget:.0%}",
            str(ctx.get("plan", "-")),
        ]
        table = Table(box=None, pad_edge=False, show_edge=False)
        for name in ("time", "req/s", "p50", "p99", "errors", "budget left", "traffic plan"):
            table.add_column(name, style="bold" if name == "traffic plan" else None)
        table.add_row(*values)
        return values, table

    def wait(self, done: Callable[[], Any], *, timeout: float, what: str) -> Any:
        """Show the live status until ``done()`` returns something truthy (returned); TimedOut after ``timeout``."""
        deadline = time.monotonic() + timeout
        if self.console.is_terminal:
            with Live(self._status()[1], console=self.console, refresh_per_second=4, transient=True) as live:
                while time.monotonic() < deadline:
                    found = done()
                    if found:
                        return found
                    live.update(self._status()[1])
                    time.sleep(0.5)
        else:
            while time.monotonic() < deadline:
                found = done()
                if found:
                    return found
                if time.monotonic() - self._last_plain >= 5.0:
                    self._last_plain = time.monotonic()
                    values = self._status()[0]
                    self.console.print(
                        f"   [{values[0].strip()}] {values[1].strip()} req/s, p50 {values[2]}, p99 {values[3]}, "
                        f"errors {values[4]}, budget left {values[5]}, plan {values[6]}",
                        highlight=False,
                    )
                time.sleep(0.5)
        raise TimedOut(f"the demo waited {timeout:.0f} s for {what}")
