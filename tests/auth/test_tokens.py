"""Bearer tokens on a real store (SQLite and PostgreSQL): lifecycle, authentication, roles, audit, secrecy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from modelpilot.audit import AuditLog
from modelpilot.auth import Principal, Role, Tokens, TokenTable, hash_token
from modelpilot.errors import ConflictError, InvalidInputError, NotFoundError, UnauthenticatedError
from modelpilot.storage import Store
from modelpilot.storage.tables import audit_head, audit_log, tokens


class StepClock:
    """A clock that moves one second per reading, from a fixed start."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def service(store: Store, clock: StepClock) -> Tokens:
    return Tokens(store, clock=clock)


# ------------------------------------------------------------------------------------------------ roles
EXPECTED_ALLOWS = {
    (Role.predict, Role.predict): True,
    (Role.predict, Role.ingest): False,  # evidence from outside is its own grant
    (Role.predict, Role.operate): False,
    (Role.predict, Role.admin): False,
    (Role.ingest, Role.predict): False,
    (Role.ingest, Role.ingest): True,
    (Role.ingest, Role.operate): False,
    (Role.ingest, Role.admin): False,
    (Role.operate, Role.predict): True,
    (Role.operate, Role.ingest): True,
    (Role.operate, Role.operate): True,
    (Role.operate, Role.admin): False,
    (Role.admin, Role.predict): True,
    (Role.admin, Role.ingest): True,
    (Role.admin, Role.operate): True,
    (Role.admin, Role.admin): True,
}


@pytest.mark.parametrize(("held", "needed"), list(itertools.product(Role, Role)))
def test_role_hierarchy_is_exhaustively_as_specified(held: Role, needed: Role) -> None:
    assert held.allows(needed) is EXPECTED_ALLOWS[(held, needed)]


def test_roles_are_exactly_the_four_and_compare_as_strings() -> None:
    assert [r.value for r in Role] == ["predict", "ingest", "operate", "admin"]
    assert Role("admin") == "admin"
    assert len(EXPECTED_ALLOWS) == len(Role) ** 2


# ---------------------------------------------------------------------------------------------- lifecycle
def test_create_list_revoke(service: Tokens, clock: StepClock) -> None:
    info, secret = service.create("ci-bot", "predict", actor="ana", reason="CI")
    assert secret.startswith("mp_") and len(secret) == 3 + 43
    assert info.prefix == secret[3:11] and len(info.prefix) == 8
    assert info.role is Role.predict and info.created_by == "ana" and info.active
    assert info.created_at == datetime(2026, 3, 1, 9, 0, 1, tzinfo=UTC)
    ops, _ = service.create("ops.team_1", Role.operate, actor="ben")
    assert [t.name for t in service.list()] == ["ci-bot", "ops.team_1"]
    assert service.list()[0] == info

    revoked = service.revoke("ci-bot", actor="carl", reason="rotated")
    assert not revoked.active and revoked.revoked_by == "carl" and revoked.revoked_at is not None
    assert revoked.revoked_at > info.created_at
    listed = service.list()
    assert listed[0] == revoked and listed[1] == ops
    assert service.list(include_revoked=False) == [ops]


def test_each_secret_is_fresh(service: Tokens) -> None:
    secrets = {service.create(f"t{i}", "predict", actor="ana")[1] for i in range(5)}
    assert len(secrets) == 5
    assert len({t.prefix for t in service.list()}) == 5


def test_duplicate_name_is_a_conflict(service: Tokens) -> None:
    service.create("ci", "predict", actor="ana")
    with pytest.raises(ConflictError, match="token 'ci' already exists") as err:
        service.create("ci", "admin", actor="ana")
    assert "never reused" in err.value.hint
    assert len(service.list()) == 1


def test_revoked_names_are_never_reused(service: Tokens) -> None:
    service.create("ci", "predict", actor="ana")
    service.revoke("ci", actor="ana", reason="rotated")
    with pytest.raises(ConflictError, match="belonged to a revoked token") as err:
        service.create("ci", "predict", actor="ana")
    assert "never reused" in err.value.hint and "new name" in err.value.hint


@pytest.mark.parametrize("name", ["", "-ci", ".x", "has space", "x/y", "ü", "a" * 129, "ci\n"])
def test_bad_names_are_refused(service: Tokens, name: str) -> None:
    with pytest.raises(InvalidInputError, match="token name") as err:
        service.create(name, "predict", actor="ana")
    assert "letters, digits" in err.value.hint
    assert service.list() == []


def test_longest_name_is_accepted(service: Tokens) -> None:
    assert service.create("a" * 128, "admin", actor="ana")[0].name == "a" * 128


@pytest.mark.parametrize("role", ["root", "", "Admin", "reader"])
def test_bad_roles_are_refused_naming_the_choices(service: Tokens, role: str) -> None:
    with pytest.raises(InvalidInputError, match="token role") as err:
        service.create("ci", role, actor="ana")
    assert "predict, ingest, operate, admin" in err.value.message
    assert all(r in err.value.hint for r in ("predict", "ingest", "operate", "admin"))
    assert service.list() == []


def test_revoke_unknown_already_revoked_and_without_reason(service: Tokens) -> None:
    with pytest.raises(NotFoundError, match="token 'ghost' does not exist"):
        service.revoke("ghost", actor="ana", reason="x")
    service.create("ci", "predict", actor="ana")
    with pytest.raises(InvalidInputError, match="needs a reason"):
        service.revoke("ci", actor="ana", reason="  ")
    assert service.list()[0].active
    service.revoke("ci", actor="ana", reason="rotated")
    with pytest.raises(ConflictError, match="already revoked") as err:
        service.revoke("ci", actor="ben", reason="again")
    assert "by ana" in err.value.message
    assert service.list()[0].revoked_by == "ana"


# ---------------------------------------------------------------------------------------------- authenticate
def test_authenticate_ok_any_scheme_case(service: Tokens) -> None:
    _, secret = service.create("ci", "operate", actor="ana")
    _, admin_secret = service.create("root", "admin", actor="ana")
    table = service.table()
    assert len(table) == 2
    for header in (f"Bearer {secret}", f"bearer {secret}", f"BEARER  {secret} ", f"\tBearer {secret}"):
        assert table.authenticate(header) == Principal("ci", Role.operate)
    assert table.authenticate(f"Bearer {admin_secret}") == Principal("root", Role.admin)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "none was sent"),
        ("", "none was sent"),
        ("   ", "none was sent"),
        ("Basic dXNlcjpwYXNz", "not a bearer token"),
        ("{secret}", "not a bearer token"),
        ("Token {secret}", "not a bearer token"),
        ("Bearer", "exactly one bearer token"),
        ("Bearer {secret} extra", "exactly one bearer token"),
        ("Bearer mp_unknownunknownunknown", "not recognised"),
        ("Bearer {secret}x", "not recognised"),
    ],
)
def test_authenticate_refusals_are_401_and_never_echo_the_secret(
    service: Tokens, header: str | None, message: str
) -> None:
    _, secret = service.create("ci", "predict", actor="ana")
    table = service.table()
    sent = None if header is None else header.replace("{secret}", secret)
    with pytest.raises(UnauthenticatedError, match=message) as err:
        table.authenticate(sent)
    assert err.value.http_status == 401 and err.value.hint
    rendered = str(err.value.to_dict())
    assert secret[3:] not in rendered and "unknownunknown" not in rendered and "dXNlcjpwYXNz" not in rendered


def test_revoked_token_is_refused_after_reload(service: Tokens) -> None:
    _, secret = service.create("ci", "predict", actor="ana")
    before = service.table()
    service.revoke("ci", actor="ana", reason="leaked")
    assert before.authenticate(f"Bearer {secret}").name == "ci"  # a snapshot is immutable
    after = service.table()
    assert len(after) == 0
    with pytest.raises(UnauthenticatedError, match="unknown or revoked") as err:
        after.authenticate(f"Bearer {secret}")
    assert "modelpilot token create" in err.value.hint


def test_table_is_an_immutable_snapshot() -> None:
    source = {hash_token("mp_a"): Principal("a", Role.admin)}
    table = TokenTable(source)
    source.clear()
    assert len(table) == 1 and table.version == (0, 0)
    assert "mp_a" not in repr(table) and hash_token("mp_a") not in repr(table)
    with pytest.raises(AttributeError):
        table.extra = 1  # type: ignore[attr-defined]


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# ---------------------------------------------------------------------------------------------- version
def test_version_changes_on_create_and_on_revoke(service: Tokens, store: Store) -> None:
    v0 = service.version()
    assert v0 == (0, 0)
    service.create("a", "predict", actor="ana")
    v1 = service.version()
    service.create("b", "admin", actor="ana")
    v2 = service.version()
    service.revoke("a", actor="ana", reason="done")
    v3 = service.version()
    assert len({v0, v1, v2, v3}) == 4
    assert service.table().version == v3
    with store.read() as conn:
        assert service.version(conn) == v3
    with pytest.raises(InvalidInputError):
        service.create("bad name", "admin", actor="ana")
    with pytest.raises(ConflictError):
        service.revoke("a", actor="ana", reason="again")
    assert service.version() == v3  # refused changes leave it alone


# ---------------------------------------------------------------------------------------------- audit, secrecy
def test_changes_are_audited_and_the_chain_verifies(service: Tokens, store: Store, clock: StepClock) -> None:
    info, _ = service.create("ci", "operate", actor="ana", reason="pipeline")
    service.revoke("ci", actor="ben", reason="rotated")
    entries = AuditLog(store).entries()
    assert [(e.action, e.subject, e.actor, e.reason) for e in entries] == [
        ("token.create", "token:ci", "ana", "pipeline"),
        ("token.revoke", "token:ci", "ben", "rotated"),
    ]
    expected = {"name": "ci", "role": "operate", "prefix": info.prefix}
    assert all(e.evidence_obj == expected and e.model is None for e in entries)
    assert AuditLog(store).verify().ok


def test_refused_changes_write_no_audit_entry(service: Tokens, store: Store) -> None:
    service.create("ci", "predict", actor="ana")
    for bad in (
        lambda: service.create("ci", "predict", actor="ana"),
        lambda: service.create("x", "root", actor="ana"),
        lambda: service.revoke("ghost", actor="ana", reason="x"),
    ):
        with pytest.raises((ConflictError, InvalidInputError, NotFoundError)):
            bad()
    assert [e.action for e in AuditLog(store).entries()] == ["token.create"]


def test_shared_audit_log_is_used(store: Store) -> None:
    log = AuditLog(store, clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    Tokens(store, log).create("ci", "predict", actor="ana")
    assert log.entries()[0].time == datetime(2030, 1, 1, tzinfo=UTC)


def _all_cells(store: Store, table: sa.Table) -> list[tuple[str, str]]:
    with store.read() as conn:
        return [(col, str(value)) for row in conn.execute(sa.select(table)) for col, value in row._asdict().items()]


def test_the_secret_is_never_stored_and_its_hash_only_in_tokens(service: Tokens, store: Store) -> None:
    made = [service.create(f"t{i}", role, actor="ana", reason="r") for i, role in enumerate(Role)]
    service.revoke("t0", actor="ana", reason="gone")
    token_cells = _all_cells(store, tokens)
    audit_cells = _all_cells(store, audit_log) + _all_cells(store, audit_head)
    assert token_cells and audit_cells
    for info, secret in made:
        body = secret[3:]
        digest = hash_token(secret)
        assert not any(body in value for _, value in token_cells + audit_cells)
        assert [col for col, value in token_cells if digest in value] == ["token_hash"]
        assert not any(digest in value for _, value in audit_cells)
        assert info.prefix in body
    with store.read() as conn:
        hashes = set(conn.execute(sa.select(tokens.c.token_hash)).scalars())
    assert hashes == {hash_token(s) for _, s in made}
