"""What every command shares: the resolved settings (read once) and the registry built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from modelpilot.config import Settings, load_settings
from modelpilot.registry import Registry

__all__ = ["AppState", "registry", "settings"]


@dataclass
class AppState:
    """Global options, resolved lazily so `--help` never touches the store."""

    config: Path | None = None
    home: Path | None = None
    store: str | None = None
    actor: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _registry: Registry | None = field(default=None, repr=False)


def _state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def settings(ctx: typer.Context) -> Settings:
    """The settings tree for this invocation."""
    st = _state(ctx)
    if st._settings is None:
        st._settings = load_settings(st.config, home=st.home, store=st.store, actor=st.actor)
    return st._settings


def registry(ctx: typer.Context) -> Registry:
    """The registry for this invocation (opens and migrates the store on first use)."""
    st = _state(ctx)
    if st._registry is None:
        st._registry = Registry.open(settings(ctx))
        ctx.find_root().call_on_close(st._registry.store.close)
    return st._registry
