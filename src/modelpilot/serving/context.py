"""The state one server process shares between its routes, and the auth guard the routes call.

Routes reach it as ``request.app.state.mp``. It holds the settings, the served-model table, the bus, the shadow
queue and the cached token table; the background watcher (see :mod:`modelpilot.serving.app`) refreshes the last two
caches when the store says something changed.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from modelpilot.auth import Principal, Role, Tokens, TokenTable
from modelpilot.config.settings import Settings
from modelpilot.errors import PermissionDeniedError
from modelpilot.events.bus import Bus
from modelpilot.events.model import InferenceEvent
from modelpilot.registry import Registry
from modelpilot.serving.shadow import ShadowQueue
from modelpilot.serving.state import ModelTable
from modelpilot.serving.traffic import TrafficPlans

__all__ = ["ANONYMOUS", "ServerContext", "is_loopback", "require"]

ANONYMOUS = Principal(name="anonymous", role=Role.predict)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServerContext:
    """Everything the routes of one process share."""

    settings: Settings
    registry: Registry
    plans: TrafficPlans
    tokens: Tokens
    table: ModelTable
    executor: ThreadPoolExecutor
    bus: Bus | None
    shadows: ShadowQueue | None = None
    token_table: TokenTable = field(default_factory=lambda: TokenTable({}))
    token_version: tuple[int, int] = (0, 0)
    draining: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    inference_auth: bool = False

    def __post_init__(self) -> None:
        # Whether inference routes need a token: the explicit setting, else on for non-loopback binds.
        explicit = self.settings.auth.inference_required
        self.inference_auth = explicit if explicit is not None else not is_loopback(self.settings.serving.host)

    def publish(self, event: InferenceEvent) -> None:
        """Hand an event to the bus (never blocks)."""
        if self.bus is not None:
            self.bus.publish(event)


def require(request: Request, role: Role) -> Principal:
    """The caller's principal when its token allows ``role``; 401 or 403 otherwise."""
    ctx: ServerContext = request.app.state.mp
    if role in (Role.predict, Role.ingest) and not ctx.inference_auth:
        return ANONYMOUS
    principal = ctx.token_table.authenticate(request.headers.get("authorization"))
    if not principal.role.allows(role):
        raise PermissionDeniedError(
            f"token {principal.name!r} has role {principal.role.value}, this route needs {role.value}",
            hint=f"use a token with role {role.value} or higher (modelpilot token create --role {role.value})",
        )
    return principal
