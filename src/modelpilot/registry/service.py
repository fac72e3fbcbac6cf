"""The registry: models, immutable versions, aliases with history, gated promotion, verified loading.

Every state change happens in one serialised store transaction together with its audit entry; a registration
that fails leaves no version row and no orphan artifact.

Example:
    >>> import tempfile, pathlib
    >>> from modelpilot.config import load_settings
    >>> home = pathlib.Path(tempfile.mkdtemp())
    >>> reg = Registry.open(load_settings(home=home, actor="doc"))
    >>> _ = (home / "m.py").write_text("def predict(batch):\\n    return batch['x'] * 2\\n")
    >>> _ = (home / "ref.csv").write_text("x\\n1\\n2\\n")
    >>> reg.register("doubler", str(home / "m.py") + ":predict", format="python",
    ...              reference=home / "ref.csv", trust=TrustRequest(trust_code=True, reason="doc")).version
    1
    >>> reg.set_alias("doubler", "production", 1, reason="first release").version
    1
    >>> reg.resolve("doubler", "production").version
    1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from modelpilot.audit import AuditLog
from modelpilot.config import Settings
from modelpilot.errors import ArtifactError, GateFailedError, InvalidInputError, NotFoundError
from modelpilot.ids import version_number
from modelpilot.loaders import base as loader_base
from modelpilot.loaders.base import LoadedModel, TrustRequest
from modelpilot.protocol.signature import Outputs, Signature
from modelpilot.registry.artifacts import ArtifactStore
from modelpilot.registry.gates import DEFAULT_POLICY, GatePolicy, GateReport, GateSubject, evaluate
from modelpilot.registry.intake import Candidate, check_name, prepare
from modelpilot.registry.lineage import Lineage
from modelpilot.registry.records import AliasMove, ModelInfo, PromotionResult, VersionInfo
from modelpilot.registry.reference import table_from_parquet_bytes, table_to_parquet_bytes
from modelpilot.storage import Store
from modelpilot.storage.tables import alias_history, aliases, models, versions

__all__ = ["Registry"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Registry:
    """Models, versions and aliases on a :class:`~modelpilot.storage.Store` and an :class:`ArtifactStore`."""

    def __init__(
        self,
        store: Store,
        artifacts: ArtifactStore,
        *,
        actor: str,
        max_categories: int = 1000,
        production_alias: str = "production",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.audit = AuditLog(store, clock=clock)
        self.actor = actor
        self.max_categories = max_categories
        self.production_alias = production_alias
        self.clock = clock

    @classmethod
    def open(cls, settings: Settings) -> Registry:
        """The registry the settings point at (migrating the store on first use)."""
        return cls(
            Store(settings.store_url),
            ArtifactStore(settings.artifacts_dir),
            actor=settings.actor_name,
            max_categories=settings.registry.max_categories,
            production_alias=settings.registry.production_alias,
        )

    # ------------------------------------------------------------------------------------------- lookups
    def _model_row(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(sa.select(models).where(models.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"model {name!r} is not registered", hint="list models with: modelpilot models")
        return row

    def _aliases_of(self, conn: Connection, model_id: int) -> dict[str, int]:
        rows = conn.execute(sa.select(aliases.c.alias, aliases.c.version).where(aliases.c.model_id == model_id))
        return {r.alias: r.version for r in rows}

    def _version_info(self, name: str, row: Row[Any], alias_map: dict[str, int]) -> VersionInfo:
        return VersionInfo(
            model=name,
            version=row.version,
            format=row.format,
            artifact_digest=row.artifact_digest,
            artifact_size=row.artifact_size,
            artifact_name=row.artifact_name,
            entrypoint=row.entrypoint,
            signature=Signature.model_validate(row.signature),
            reference_digest=row.reference_digest,
            reference_rows=row.reference_rows,
            outputs=Outputs.model_validate(row.outputs) if row.outputs else None,
            target=row.target,
            metrics=dict(row.metrics),
            lineage=Lineage.model_validate(row.lineage),
            trust=dict(row.trust),
            description=row.description,
            created_at=row.created_at,
            created_by=row.created_by,
            aliases=sorted(a for a, v in alias_map.items() if v == row.version),
        )

    def models(self) -> list[ModelInfo]:
        """Every model, by name."""
        with self.store.read() as conn:
            counts = {
                r.model_id: (r.n, r.latest)
                for r in conn.execute(
                    sa.select(
                        versions.c.model_id,
                        sa.func.count().label("n"),
                        sa.func.max(versions.c.version).label("latest"),
                    ).group_by(versions.c.model_id)
                )
            }
            out = []
            for m in conn.execute(sa.select(models).order_by(models.c.name)):
                n, latest = counts.get(m.id, (0, None))
                out.append(
                    ModelInfo(
                        name=m.name,
                        description=m.description,
                        created_at=m.created_at,
                        created_by=m.created_by,
                        versions=n,
                        latest=latest,
                        aliases=self._aliases_of(conn, m.id),
                    )
                )
        return out

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of a model, oldest first."""
        with self.store.read() as conn:
            m = self._model_row(conn, name)
            alias_map = self._aliases_of(conn, m.id)
            rows = conn.execute(sa.select(versions).where(versions.c.model_id == m.id).order_by(versions.c.version))
            return [self._version_info(name, r, alias_map) for r in rows]

    def get(self, name: str, version: int) -> VersionInfo:
        """One version, or a not-found error listing what exists."""
        with self.store.read() as conn:
            m = self._model_row(conn, name)
            row = conn.execute(
                sa.select(versions).where(versions.c.model_id == m.id, versions.c.version == version)
            ).first()
            if row is None:
                latest = conn.execute(
                    sa.select(sa.func.max(versions.c.version)).where(versions.c.model_id == m.id)
                ).scalar()
                raise NotFoundError(
                    f"model {name!r} has no version {version}",
                    hint=f"versions run from 1 to {latest}; list them with: modelpilot versions {name}"
                    if latest
                    else f"register one with: modelpilot register {name} ...",
                )
            return self._version_info(name, row, self._aliases_of(conn, m.id))

    def resolve(self, name: str, ref: str | int) -> VersionInfo:
        """A version by number (``3``, ``v3``), alias (``production``) or ``latest``."""
        text = str(ref)
        if text.isascii() and (text.isdigit() or (text[:1] == "v" and text[1:].isdigit())):
            return self.get(name, version_number(text, f"model {name!r} version", error=NotFoundError))
        with self.store.read() as conn:
            m = self._model_row(conn, name)
            if text == "latest":
                v = conn.execute(sa.select(sa.func.max(versions.c.version)).where(versions.c.model_id == m.id)).scalar()
            else:
                v = self._aliases_of(conn, m.id).get(text)
        if v is None:
            raise NotFoundError(
                f"model {name!r} has no version or alias {text!r}",
                hint=f"see its aliases with: modelpilot alias list {name}",
            )
        return self.get(name, int(v))

    def aliases(self, name: str) -> dict[str, int]:
        """Current alias → version map of a model."""
        with self.store.read() as conn:
            return self._aliases_of(conn, self._model_row(conn, name).id)

    # -------------------------------------------------------------------------------------- registration
    def register(
        self,
        name: str,
        artifact: str | None,
        *,
        format: str,
        reference: Path | None = None,
        target: str | None = None,
        signature_file: Path | None = None,
        metrics: dict[str, float] | None = None,
        lineage: Lineage | None = None,
        description: str = "",
        trust: TrustRequest | None = None,
        actor: str | None = None,
        outputs: Outputs | None = None,
    ) -> VersionInfo:
        """Check every input, store the artifact and reference data, and add the next version atomically.

        ``outputs`` names the reference columns holding the model's outputs (``format="external"``: a model served
        elsewhere and only monitored here)."""
        check_name(name)
        actor = actor or self.actor
        cand = prepare(
            format=format,
            artifact=artifact,
            reference=reference,
            target=target,
            signature_file=signature_file,
            metrics=dict(metrics or {}),
            lineage=lineage or Lineage(),
            trust=trust or TrustRequest(),
            max_categories=self.max_categories,
            outputs=outputs,
        )
        created: list[str] = []
        try:
            art = None
            if cand.artifact is not None:
                art = self.artifacts.put_file(cand.artifact)
                if art[2]:
                    created.append(art[0])
            ref = None
            if cand.reference is not None:
                ref = self.artifacts.put_bytes(table_to_parquet_bytes(cand.reference))
                if ref[2]:
                    created.append(ref[0])
            return self._insert_version(name, cand, art, ref, description, actor)
        except BaseException:
            self._forget_unreferenced(created)
            raise

    def _insert_version(
        self,
        name: str,
        cand: Candidate,
        art: tuple[str, int, bool] | None,
        ref: tuple[str, int, bool] | None,
        description: str,
        actor: str,
    ) -> VersionInfo:
        now = self.clock()
        with self.store.write() as conn:
            m = conn.execute(sa.select(models).where(models.c.name == name)).first()
            if m is None:
                model_id = conn.execute(
                    sa.insert(models)
                    .values(name=name, description=description, created_at=now, created_by=actor)
                    .returning(models.c.id)
                ).scalar_one()
                self.audit.append(
                    conn,
                    actor=actor,
                    action="model.create",
                    subject=f"model:{name}",
                    model=name,
                    reason="first version registered",
                    evidence={"description": description},
                )
            else:
                model_id = m.id
            latest = conn.execute(
                sa.select(sa.func.max(versions.c.version)).where(versions.c.model_id == model_id)
            ).scalar()
            number = (latest or 0) + 1
            lineage = cand.lineage
            if lineage.parent_version is not None and not 1 <= lineage.parent_version <= number - 1:
                raise InvalidInputError(
                    f"lineage parent_version={lineage.parent_version} is not an existing version of {name!r}",
                    hint=f"give a version from 1 to {number - 1}"
                    if number > 1
                    else "drop parent_version for a first version",
                )
            lineage = lineage.model_copy(update={"registered_by": actor, "registered_at": now.isoformat()})
            values = {
                "model_id": model_id,
                "version": number,
                "format": cand.format,
                "artifact_digest": art[0] if art else None,
                "artifact_size": art[1] if art else None,
                "artifact_name": cand.artifact.name if cand.artifact else None,
                "entrypoint": cand.entrypoint,
                "signature": cand.signature.model_dump(mode="json"),
                "reference_digest": ref[0] if ref else None,
                "reference_rows": cand.reference.num_rows if cand.reference is not None else None,
                "target": cand.target,
                "outputs": cand.outputs.model_dump(mode="json") if cand.outputs else None,
                "metrics": cand.metrics,
                "lineage": lineage.model_dump(mode="json"),
                "trust": cand.trust,
                "description": description,
                "created_at": now,
                "created_by": actor,
            }
            conn.execute(sa.insert(versions).values(**values))
            subject = f"model:{name}/v{number}"
            self.audit.append(
                conn,
                actor=actor,
                action="version.register",
                subject=subject,
                model=name,
                reason=description or "registered",
                evidence={
                    "format": cand.format,
                    "artifact_digest": values["artifact_digest"],
                    "reference_digest": values["reference_digest"],
                    "features": cand.signature.names,
                    "target": cand.target,
                    "metrics": cand.metrics,
                    "lineage": values["lineage"],
                },
            )
            kind = cand.trust.get("kind")
            if kind in ("pickle", "code-execution") or cand.trust.get("trusted_types"):
                action = {"pickle": "trust.pickle", "code-execution": "trust.code"}.get(str(kind), "trust.types")
                self.audit.append(
                    conn,
                    actor=actor,
                    action=action,
                    subject=subject,
                    model=name,
                    reason=str(cand.trust.get("reason") or "trusted at registration"),
                    evidence=cand.trust,
                )
            alias_map = self._aliases_of(conn, model_id)
            row = conn.execute(
                sa.select(versions).where(versions.c.model_id == model_id, versions.c.version == number)
            ).one()
            return self._version_info(name, row, alias_map)

    def _forget_unreferenced(self, digests: Iterable[str]) -> None:
        for digest in digests:
            with self.store.read() as conn:
                used = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(versions)
                    .where((versions.c.artifact_digest == digest) | (versions.c.reference_digest == digest))
                ).scalar_one()
            if not used:
                self.artifacts.remove(digest)

    # ---------------------------------------------------------------------------------------------- aliases
    def _move_alias(
        self,
        conn: Connection,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        reason: str,
        forced: bool,
        action: str,
        evidence: dict[str, Any],
    ) -> AliasMove:
        check_name(alias, "alias")
        if (alias.isascii() and alias.lstrip("v").isdigit()) or alias == "latest":
            raise InvalidInputError(
                f"alias {alias!r} would read as a version number", hint="use a name such as production or canary"
            )
        if not reason.strip():
            raise InvalidInputError("every alias move needs a reason", hint="add --reason TEXT")
        m = self._model_row(conn, name)
        if (
            version is not None
            and conn.execute(
                sa.select(versions.c.id).where(versions.c.model_id == m.id, versions.c.version == version)
            ).first()
            is None
        ):
            raise NotFoundError(
                f"model {name!r} has no version {version}",
                hint=f"list versions with: modelpilot versions {name}",
            )
        previous = self._aliases_of(conn, m.id).get(alias)
        if version is None and previous is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}", hint=f"see: modelpilot alias list {name}")
        now = self.clock()
        conn.execute(sa.delete(aliases).where(aliases.c.model_id == m.id, aliases.c.alias == alias))
        if version is not None:
            conn.execute(sa.insert(aliases).values(model_id=m.id, alias=alias, version=version, updated_at=now))
        entry = self.audit.append(
            conn,
            actor=actor,
            action=action,
            subject=f"model:{name}/alias:{alias}",
            model=name,
            reason=reason,
            evidence={
                "alias": alias,
                "version": version,
                "previous_version": previous,
                "forced": forced,
                **evidence,
            },
        )
        conn.execute(
            sa.insert(alias_history).values(
                model_id=m.id,
                alias=alias,
                version=version,
                previous_version=previous,
                moved_at=now,
                actor=actor,
                reason=reason,
                forced=forced,
                audit_seq=entry.seq,
            )
        )
        return AliasMove(
            model=name,
            alias=alias,
            version=version,
            previous_version=previous,
            moved_at=now,
            actor=actor,
            reason=reason,
            forced=forced,
            audit_seq=entry.seq,
        )

    def set_alias(self, name: str, alias: str, version: int, *, reason: str, actor: str | None = None) -> AliasMove:
        """Point an alias at a version (no gates: use :meth:`promote` for gated moves)."""
        with self.store.write() as conn:
            return self._move_alias(
                conn,
                name,
                alias,
                version,
                actor=actor or self.actor,
                reason=reason,
                forced=False,
                action="alias.set",
                evidence={},
            )

    def unset_alias(self, name: str, alias: str, *, reason: str, actor: str | None = None) -> AliasMove:
        """Remove an alias (recorded in its history as a move to no version)."""
        with self.store.write() as conn:
            return self._move_alias(
                conn,
                name,
                alias,
                None,
                actor=actor or self.actor,
                reason=reason,
                forced=False,
                action="alias.unset",
                evidence={},
            )

    def alias_history(self, name: str, alias: str) -> list[AliasMove]:
        """Every move of an alias, oldest first."""
        with self.store.read() as conn:
            m = self._model_row(conn, name)
            rows = conn.execute(
                sa.select(alias_history)
                .where(alias_history.c.model_id == m.id, alias_history.c.alias == alias)
                .order_by(alias_history.c.moved_at, alias_history.c.id)
            )
            return [
                AliasMove(
                    model=name,
                    alias=r.alias,
                    version=r.version,
                    previous_version=r.previous_version,
                    moved_at=r.moved_at,
                    actor=r.actor,
                    reason=r.reason,
                    forced=r.forced,
                    audit_seq=r.audit_seq,
                )
                for r in rows
            ]

    def alias_at(self, name: str, alias: str, at: datetime) -> AliasMove | None:
        """The move that set what the alias held at time ``at`` (``None`` if it held nothing then)."""
        moves = [mv for mv in self.alias_history(name, alias) if mv.moved_at <= at]
        return moves[-1] if moves and moves[-1].version is not None else None

    # -------------------------------------------------------------------------------------------- promotion
    def _subject(self, v: VersionInfo) -> GateSubject:
        return GateSubject(version=v.version, metrics=v.metrics, lineage=v.lineage, signature=v.signature)

    def artifact_ok(self, v: VersionInfo) -> bool | None:
        """Re-hash the version's artifact: ``True`` if intact, ``False`` if missing or changed, ``None`` if none."""
        if v.artifact_digest is None:
            return None
        try:
            self.artifacts.verified_path(v.artifact_digest)
        except ArtifactError:
            return False
        return True

    def gate_report(
        self, name: str, version: int, *, alias: str | None = None, policy: GatePolicy | None = None
    ) -> GateReport:
        """What the promotion gates say of ``version`` against the alias holder, without moving anything."""
        alias = alias or self.production_alias
        cand = self.get(name, version)
        holder_no = self.aliases(name).get(alias)
        holder = self.get(name, holder_no) if holder_no is not None else None
        return evaluate(
            policy or DEFAULT_POLICY,
            self._subject(cand),
            None if holder is None else self._subject(holder),
            artifact_ok=self.artifact_ok(cand),
        )

    def promote(
        self,
        name: str,
        version: int,
        *,
        alias: str | None = None,
        policy: GatePolicy | None = None,
        force: bool = False,
        reason: str = "",
        actor: str | None = None,
    ) -> PromotionResult:
        """Evaluate the gate policy; move the alias if it passes (or if forced, with a reason).

        A refusal raises :class:`~modelpilot.errors.GateFailedError` carrying the full report in ``details``.
        """
        alias = alias or self.production_alias
        if force and not reason.strip():
            raise InvalidInputError("--force needs a reason", hint="add --reason 'why the gate is overridden'")
        policy = policy or DEFAULT_POLICY
        actor = actor or self.actor
        with self.store.write() as conn:  # hold the write lock so the holder cannot change under the gate
            cand = self.get(name, version)
            holder_no = self._aliases_of(conn, self._model_row(conn, name).id).get(alias)
            holder = self.get(name, holder_no) if holder_no is not None else None
            report = evaluate(
                policy,
                self._subject(cand),
                None if holder is None else self._subject(holder),
                artifact_ok=self.artifact_ok(cand),
            )
            evidence = {"policy": policy.model_dump(mode="json"), "gate": report.model_dump(mode="json")}
            # --force overrides judgement (metrics, lineage, compatibility), never integrity: a changed artifact
            # is not the artifact anyone reviewed.
            tampered = any(r.rule == "artifact_verified" and not r.passed for r in report.results)
            refused = not report.passed and (not force or tampered)
            if refused:  # a refusal is a decision too: record it, then tell the caller
                self.audit.append(
                    conn,
                    actor=actor,
                    action="promote.refused",
                    subject=f"model:{name}/alias:{alias}",
                    model=name,
                    reason=reason or "promotion gates failed",
                    evidence={"alias": alias, "version": version, "holder": holder_no, **evidence},
                )
            else:
                self._move_alias(
                    conn,
                    name,
                    alias,
                    version,
                    actor=actor,
                    reason=reason or "promotion gates passed",
                    forced=not report.passed,
                    action="promote",
                    evidence=evidence,
                )
        if refused:
            failed = ", ".join(r.rule for r in report.failed)
            raise GateFailedError(
                f"promotion of {name} v{version} to {alias!r} refused: {failed}",
                hint="fix the version, or override with --force --reason TEXT (audited)",
                details={"report": report.model_dump(mode="json")},
            )
        return PromotionResult(
            model=name,
            alias=alias,
            version=version,
            previous=holder_no,
            report=report,
            forced=not report.passed,
            moved=True,
        )

    # -------------------------------------------------------------------------------------------- loading
    def load(self, name: str, ref: str | int) -> LoadedModel:
        """Load a version after verifying its artifact digest."""
        v = self.resolve(name, ref)
        path = self.artifacts.verified_path(v.artifact_digest) if v.artifact_digest else None
        loader = loader_base.get_loader(v.format)
        return loader.load(path, entrypoint=v.entrypoint, trust=v.trust, signature=v.signature)

    def reference(self, name: str, ref: str | int) -> pa.Table:
        """The reference data stored with a version (verified)."""
        v = self.resolve(name, ref)
        if v.reference_digest is None:
            raise NotFoundError(
                f"{name} v{v.version} has no reference data", hint="register a version with --reference FILE"
            )
        return table_from_parquet_bytes(self.artifacts.verified_path(v.reference_digest))
