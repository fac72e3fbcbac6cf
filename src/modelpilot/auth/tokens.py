"""API bearer tokens: create, list and revoke them on the store (audited), and authenticate a request's header.

A token is ``mp_`` followed by 256 random bits (``secrets.token_urlsafe(32)``). The secret is returned once, by
:meth:`Tokens.create`; the store keeps only its SHA-256 and the first 8 characters after ``mp_`` (the *prefix*,
shown in lists so people can tell tokens apart). A fast, unsalted hash is the right choice here: the secret is
uniformly random and far too long to guess or brute-force, so a slow password hash (bcrypt, argon2) would add
latency to every request and no security. The server caches a :class:`TokenTable` (hash -> :class:`Principal`
of the active tokens) and reloads it when :meth:`Tokens.version` changes.

Token names are never reused, not even after revocation, so a name in the audit log always means one token.

Example:
    >>> import tempfile
    >>> from modelpilot.storage import Store
    >>> tokens = Tokens(Store(f"sqlite:///{tempfile.mkdtemp()}/mp.db"))
    >>> info, secret = tokens.create("ci-bot", "predict", actor="ana", reason="CI smoke tests")
    >>> secret.startswith("mp_" + info.prefix), info.role, info.active
    (True, <Role.predict: 'predict'>, True)
    >>> principal = tokens.table().authenticate(f"Bearer {secret}")
    >>> principal.name, principal.role.allows(Role.operate)
    ('ci-bot', False)
    >>> tokens.revoke("ci-bot", actor="ana", reason="rotated").active
    False
    >>> len(tokens.table())
    0
    >>> tokens.store.close()
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from modelpilot.audit import AuditLog
from modelpilot.errors import ConflictError, InvalidInputError, NotFoundError, UnauthenticatedError
from modelpilot.storage import Store
from modelpilot.storage.tables import tokens as tokens_table

__all__ = ["Principal", "Role", "TokenInfo", "TokenTable", "Tokens", "hash_token"]

_LEADER = "mp_"  # every secret starts with it, so leaked tokens are easy to spot and scan for
_PREFIX_LEN = 8
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CREATE_HINT = "create one with: modelpilot token create --name NAME --role predict|operate|admin"
_SEND_HINT = "send the header 'Authorization: Bearer <token>'"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    """What a token may do. ``predict`` and ``ingest`` are separate grants; ``operate`` holds both and more,
    ``admin`` everything (``admin`` ⊇ ``operate`` ⊇ ``predict``, ``ingest``).

    >>> [r.value for r in Role if r.allows(Role.operate)]
    ['operate', 'admin']
    >>> Role.predict.allows(Role.ingest), Role.ingest.allows(Role.predict), Role.operate.allows(Role.ingest)
    (False, False, True)
    """

    predict = "predict"
    """Call inference routes."""
    ingest = "ingest"
    """Post evidence from outside: inference events (``/v1/events``) and labels (``/v1/feedback``). Separate from
    ``predict``, because what it posts feeds the alarms that drive remediation."""
    operate = "operate"
    """Also change traffic (weights, canaries, rollbacks) and acknowledge alarms."""
    admin = "admin"
    """Everything, including managing tokens and registry changes over HTTP."""

    def allows(self, needed: Role) -> bool:
        """Whether a holder of this role may call a route that needs ``needed``."""
        return Role(needed) in _GRANTS[self]


_GRANTS: dict[Role, frozenset[Role]] = {
    Role.predict: frozenset({Role.predict}),
    Role.ingest: frozenset({Role.ingest}),
    Role.operate: frozenset({Role.predict, Role.ingest, Role.operate}),
    Role.admin: frozenset(Role),
}
_ROLE_CHOICES = ", ".join(r.value for r in Role)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known about a token once created: everything except the secret (and its hash)."""

    name: str
    role: Role
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        """``True`` until the token is revoked."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is acting as: the token's name and role."""

    name: str
    role: Role


def hash_token(secret: str) -> str:
    """The SHA-256 (hex) of a token secret, the only form in which it is stored.

    >>> hash_token("mp_example")[:16]
    'd6654c1f27a9f7de'
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenTable:
    """An immutable snapshot of the active tokens (hash -> :class:`Principal`), cheap to authenticate against.

    Parameters
    ----------
    principals
        Token hash (see :func:`hash_token`) to the principal it stands for; only active tokens belong here.
    version
        The :meth:`Tokens.version` the snapshot was read at (``(0, 0)`` when unknown).

    >>> table = TokenTable({hash_token("mp_s3cret"): Principal("ci", Role.predict)})
    >>> table.authenticate("bearer mp_s3cret")
    Principal(name='ci', role=<Role.predict: 'predict'>)
    """

    __slots__ = ("_principals", "version")

    def __init__(self, principals: Mapping[str, Principal], version: tuple[int, int] = (0, 0)) -> None:
        self._principals: Mapping[str, Principal] = MappingProxyType(dict(principals))
        self.version = version

    def authenticate(self, authorization_header: str | None) -> Principal:
        """The principal an ``Authorization: Bearer <token>`` header stands for (scheme is case-insensitive).

        Raises :class:`~modelpilot.errors.UnauthenticatedError` (HTTP 401) when the header is missing, uses
        another scheme, or carries an unknown or revoked token. Messages never repeat what the client sent:
        it may be a secret (a token sent without the ``Bearer`` word, say).
        """
        parts = (authorization_header or "").split()
        if not parts:
            raise UnauthenticatedError("this route needs a bearer token and none was sent", hint=_SEND_HINT)
        if parts[0].lower() != "bearer":
            raise UnauthenticatedError(
                "the Authorization header is not a bearer token",
                hint=f"{_SEND_HINT} (the word Bearer, a space, the token)",
            )
        if len(parts) != 2:
            raise UnauthenticatedError("the Authorization header must hold exactly one bearer token", hint=_SEND_HINT)
        # A dict lookup by the SHA-256 of the presented secret: the client controls the secret, not its hash,
        # so lookup timing reveals nothing useful about stored hashes.
        principal = self._principals.get(hash_token(parts[1]))
        if principal is None:
            hint = (
                f"no tokens are active yet; {_CREATE_HINT}"
                if not self._principals
                else "check the token was copied whole; list active tokens with: modelpilot token list"
            )
            raise UnauthenticatedError("the bearer token is not recognised (unknown or revoked)", hint=hint)
        return principal

    def __len__(self) -> int:
        return len(self._principals)

    def __repr__(self) -> str:
        return f"TokenTable({len(self)} active tokens, version={self.version})"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"token name {name!r} is not allowed",
            hint="use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def _check_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInputError(
            f"token role {role!r} is not one of {_ROLE_CHOICES}",
            hint="give --role predict (inference), ingest (events and labels from outside), operate (both, and"
            " traffic changes) or admin (everything)",
        ) from None


def _info(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        name=row.name,
        role=Role(row.role),
        prefix=row.prefix,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


class Tokens:
    """Bearer tokens on a :class:`~modelpilot.storage.Store`; every create and revoke is audited.

    Parameters
    ----------
    store
        The store that holds the ``tokens`` table and the audit log.
    audit
        The audit log to append to (default: the store's, with the same clock).
    clock
        Returns the current UTC time; injected for tests.
    """

    def __init__(self, store: Store, audit: AuditLog | None = None, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.store = store
        self.audit = audit if audit is not None else AuditLog(store, clock=clock)
        self.clock = clock

    def create(self, name: str, role: Role | str, *, actor: str, reason: str = "") -> tuple[TokenInfo, str]:
        """Create a token; returns its record and its secret, which is never available again."""
        _check_name(name)
        role = _check_role(role)
        secret = _LEADER + secrets.token_urlsafe(32)
        prefix = secret[len(_LEADER) : len(_LEADER) + _PREFIX_LEN]
        info = TokenInfo(
            name=name,
            role=role,
            prefix=prefix,
            created_at=self.clock(),
            created_by=actor,
            revoked_at=None,
            revoked_by=None,
        )
        try:
            with self.store.write() as conn:
                existing = conn.execute(sa.select(tokens_table.c.revoked_at).where(tokens_table.c.name == name)).first()
                if existing is not None:
                    raise self._name_taken(name, revoked=existing.revoked_at is not None)
                conn.execute(
                    sa.insert(tokens_table).values(
                        name=name,
                        role=role.value,
                        token_hash=hash_token(secret),
                        prefix=prefix,
                        created_at=info.created_at,
                        created_by=actor,
                    )
                )
                self.audit.append(
                    conn,
                    actor=actor,
                    action="token.create",
                    subject=f"token:{name}",
                    reason=reason or "token created",
                    evidence={"name": name, "role": role.value, "prefix": prefix},
                )
        except IntegrityError as exc:  # pragma: no cover - writes are serialised, so only a race with raw SQL
            raise self._name_taken(name, revoked=False) from exc
        return info, secret

    @staticmethod
    def _name_taken(name: str, *, revoked: bool) -> ConflictError:
        if revoked:
            return ConflictError(
                f"token name {name!r} belonged to a revoked token",
                hint="token names are never reused, so the audit log stays unambiguous; pick a new name",
            )
        return ConflictError(
            f"token {name!r} already exists",
            hint=f"pick another name (names are never reused); to replace the token, create one under a new name, "
            f"then revoke the old one with: modelpilot token revoke {name} --reason TEXT",
        )

    def list(self, *, include_revoked: bool = True) -> builtins.list[TokenInfo]:
        """Every token (or only active ones), oldest first."""
        q = sa.select(tokens_table).order_by(tokens_table.c.id)
        if not include_revoked:
            q = q.where(tokens_table.c.revoked_at.is_(None))
        with self.store.read() as conn:
            return [_info(r) for r in conn.execute(q)]

    def revoke(self, name: str, *, actor: str, reason: str) -> TokenInfo:
        """Revoke a token for good; servers stop accepting it at their next :meth:`version` poll."""
        if not reason.strip():
            raise InvalidInputError("revoking a token needs a reason", hint="add --reason TEXT")
        with self.store.write() as conn:
            row = conn.execute(sa.select(tokens_table).where(tokens_table.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"token {name!r} does not exist", hint="list tokens with: modelpilot token list")
            if row.revoked_at is not None:
                when = row.revoked_at.isoformat(timespec="seconds")
                raise ConflictError(
                    f"token {name!r} was already revoked at {when} by {row.revoked_by}",
                    hint="nothing to do; create a new token with another name if one is needed",
                )
            now = self.clock()
            conn.execute(
                sa.update(tokens_table).where(tokens_table.c.id == row.id).values(revoked_at=now, revoked_by=actor)
            )
            self.audit.append(
                conn,
                actor=actor,
                action="token.revoke",
                subject=f"token:{name}",
                reason=reason,
                evidence={"name": name, "role": row.role, "prefix": row.prefix},
            )
        return TokenInfo(
            name=row.name,
            role=Role(row.role),
            prefix=row.prefix,
            created_at=row.created_at,
            created_by=row.created_by,
            revoked_at=now,
            revoked_by=actor,
        )

    def table(self) -> TokenTable:
        """A snapshot of the active tokens for authentication, read in one transaction.

        Its ``version`` is read before the tokens, so a change racing the read can only make the snapshot
        newer than its version says (one needless reload later), never older.
        """
        with self.store.read() as conn:
            version = self.version(conn)
            rows = conn.execute(
                sa.select(tokens_table.c.token_hash, tokens_table.c.name, tokens_table.c.role).where(
                    tokens_table.c.revoked_at.is_(None)
                )
            )
            principals = {r.token_hash: Principal(r.name, Role(r.role)) for r in rows}
        return TokenTable(principals, version)

    def version(self, conn: Connection | None = None) -> tuple[int, int]:
        """A cheap change marker: ``(highest token id, number of revoked tokens)``.

        Tokens are never deleted and revocation is final, so every create raises the first number and every
        revoke raises the second: a server that polls this (one indexed aggregate query) and sees a pair
        different from its cached :attr:`TokenTable.version` reloads :meth:`table`. Pass ``conn`` to read
        inside a transaction you already hold.
        """
        q = sa.select(sa.func.coalesce(sa.func.max(tokens_table.c.id), 0), sa.func.count(tokens_table.c.revoked_at))
        if conn is not None:
            top, revoked = conn.execute(q).one()
        else:
            with self.store.read() as own:
                top, revoked = own.execute(q).one()
        return int(top), int(revoked)
