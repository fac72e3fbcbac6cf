"""Registry commands: register, models, versions, show, promote."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from modelpilot.cli.context import registry
from modelpilot.cli.output import OutputFormat, console, emit, err_console, table
from modelpilot.errors import GateFailedError, InvalidInputError
from modelpilot.loaders.base import TrustRequest
from modelpilot.protocol.signature import Outputs
from modelpilot.registry import GateReport, VersionInfo, load_policy, parse_lineage, read_metrics

__all__ = ["register_commands"]

OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


class Format(StrEnum):
    """Model formats accepted by `register`."""

    onnx = "onnx"
    skops = "skops"
    python = "python"
    pickle = "pickle"


def _fmt_time(v: VersionInfo) -> str:
    return v.created_at.strftime("%Y-%m-%d %H:%M:%S")


def gate_table(report: GateReport) -> Table:
    """The per-rule table of a gate evaluation."""
    with_detail = any(r.detail for r in report.results)
    rows = [
        (
            "PASS" if r.passed else "FAIL",
            r.rule,
            r.observed,
            r.threshold,
            *([r.detail] if with_detail else []),
        )
        for r in report.results
    ]
    holder = f"v{report.holder}" if report.holder is not None else "nobody"
    columns = ["result", "rule", "observed", "threshold", *(["detail"] if with_detail else [])]
    return table(columns, rows, title=f"gate {report.policy!r}: v{report.candidate} vs current holder {holder}")


_EXTENSIONS = {".onnx": "onnx", ".skops": "skops", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "pickle"}


def infer_format(artifact: str | None) -> str:
    """The format a file name implies, or an error asking for --format.

    >>> infer_format("model.skops"), infer_format("rules.py:predict")
    ('skops', 'python')
    """
    if artifact is not None:
        if ".py:" in artifact:
            return "python"
        suffix = Path(artifact).suffix.lower()
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    raise InvalidInputError(
        f"cannot tell the format of {artifact!r} from its name",
        hint="add --format onnx|skops|python|pickle",
    )


def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name, e.g. credit.")],
    artifact: Annotated[
        str | None, typer.Argument(help="Model file, or FILE.py:NAME / module:NAME for python.")
    ] = None,
    format: Annotated[
        Format | None, typer.Option("--format", "-f", help="Artifact format (default: from the file extension).")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="Reference data (CSV or Parquet), stored with the version.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The label column in the reference data.")] = None,
    signature: Annotated[Path | None, typer.Option(help="Signature file (JSON/YAML) instead of inferring it.")] = None,
    metrics: Annotated[Path | None, typer.Option(help='Offline metrics JSON, e.g. {"auc": 0.93}.')] = None,
    lineage: Annotated[list[str] | None, typer.Option(help="KEY=VALUE lineage pair; repeat it.")] = None,
    description: Annotated[str, typer.Option(help="What this version is.")] = "",
    trust_type: Annotated[list[str] | None, typer.Option(help="A reviewed skops type to trust; repeat it.")] = None,
    trust_pickle: Annotated[bool, typer.Option(help="Allow a pickle/joblib file (needs --reason).")] = False,
    trust_code: Annotated[bool, typer.Option(help="Allow a python model to run its code.")] = False,
    reason: Annotated[str, typer.Option(help="Why the trust decision was made (audited).")] = "",
    external: Annotated[
        bool, typer.Option("--external", help="A model served elsewhere, only monitored here (no artifact).")
    ] = False,
    prediction_column: Annotated[
        str | None, typer.Option("--prediction-column", help="--external: the reference column of predictions.")
    ] = None,
    proba_column: Annotated[
        list[str] | None,
        typer.Option("--proba-column", help="--external: CLASS=COLUMN of a class probability; repeat it."),
    ] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option("--output", "-o", help="json or yaml for the full record; default prints the version number."),
    ] = None,
) -> None:
    """Register a new version of a model and print its number."""
    outputs = _outputs(external, prediction_column, proba_column or [])
    reg = registry(ctx)
    info = reg.register(
        name,
        artifact,
        format="external" if external else format.value if format else infer_format(artifact),
        outputs=outputs,
        reference=reference,
        target=target,
        signature_file=signature,
        metrics=read_metrics(metrics) if metrics else None,
        lineage=parse_lineage(lineage or []),
        description=description,
        trust=TrustRequest(
            trusted_types=tuple(trust_type or ()),
            trust_pickle=trust_pickle,
            trust_code=trust_code,
            reason=reason,
        ),
    )
    profiled = ""
    if info.reference_digest is not None:
        from modelpilot.errors import ModelPilotError
        from modelpilot.monitoring.profiles import ProfileStore

        try:
            prof = ProfileStore(reg).build(name, info.version)
            profiled = f", profiled {len(prof.columns)} columns"
        except ModelPilotError as exc:  # the version stands; the monitor retries the profile when it needs it
            err_console.print(f"warning: the reference profile was not built: {exc.message}")
    if output is None or output is OutputFormat.table:
        typer.echo(info.version)
        err_console.print(
            f"registered {name} v{info.version} ({info.format}, {len(info.signature.features)} features{profiled})"
        )
    else:
        emit(info, output, lambda: "")


def _outputs(external: bool, prediction: str | None, probas: list[str]) -> Outputs | None:
    if not external:
        if prediction is not None or probas:
            raise InvalidInputError(
                "--prediction-column and --proba-column describe a model served elsewhere",
                hint="add --external, or drop them (a served model's outputs come from running it)",
            )
        return None
    if prediction is None:
        raise InvalidInputError(
            "--external needs --prediction-column", hint="name the reference column holding the model's predictions"
        )
    mapping: dict[str, str] = {}
    for item in probas:
        cls, sep, column = item.partition("=")
        if not sep or not cls or not column:
            raise InvalidInputError(
                f"--proba-column {item!r} is not CLASS=COLUMN",
                hint="e.g. --proba-column yes=p_yes --proba-column no=p_no",
            )
        mapping[cls] = column
    return Outputs(prediction=prediction, probabilities=mapping)


def models_cmd(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """List registered models."""
    items = registry(ctx).models()
    emit(
        items,
        output,
        lambda: table(
            ["model", "versions", "latest", "aliases", "created"],
            [
                (
                    m.name,
                    m.versions,
                    m.latest,
                    ", ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items())),
                    m.created_at.strftime("%Y-%m-%d %H:%M"),
                )
                for m in items
            ],
        ),
    )


def versions_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List the versions of a model."""
    items = registry(ctx).versions(name)
    emit(
        items,
        output,
        lambda: table(
            ["version", "format", "aliases", "features", "metrics", "registered", "by"],
            [
                (
                    v.version,
                    v.format,
                    ", ".join(v.aliases),
                    len(v.signature.features),
                    ", ".join(f"{k}={x:.4g}" for k, x in sorted(v.metrics.items())),
                    _fmt_time(v),
                    v.created_by,
                )
                for v in items
            ],
        ),
    )


def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version number or alias.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show one version: artifact, signature, lineage, metrics, trust."""
    v = registry(ctx).resolve(name, version)

    def render() -> RenderableType:
        facts = [
            ("model", f"{v.model} v{v.version}"),
            ("aliases", ", ".join(v.aliases) or "-"),
            ("format", v.format),
            (
                "artifact",
                f"sha256:{v.artifact_digest} ({v.artifact_size} bytes)" if v.artifact_digest else (v.entrypoint or "-"),
            ),
            (
                "reference",
                f"sha256:{v.reference_digest} ({v.reference_rows} rows)" if v.reference_digest else "-",
            ),
            ("target", v.target or "-"),
            ("trust", ", ".join(f"{k}={x}" for k, x in v.trust.items())),
            ("registered", f"{_fmt_time(v)} by {v.created_by}"),
            ("description", v.description or "-"),
        ]
        lineage = v.lineage.model_dump(exclude_none=True)
        facts += [(f"lineage.{k}", str(x)) for k, x in lineage.items() if x not in ({}, "")]
        facts += [(f"metric.{k}", f"{x:.6g}") for k, x in sorted(v.metrics.items())]
        feats = table(
            ["feature", "type", "nullable", "range / categories"],
            [
                (
                    f.name,
                    f.type,
                    "yes" if f.nullable else "no",
                    f"[{f.min:g}, {f.max:g}]"
                    if f.min is not None and f.max is not None
                    else ", ".join(f.categories[:8]) + (" ..." if len(f.categories) > 8 else "")
                    if f.categories
                    else "",
                )
                for f in v.signature.features
            ],
            title="signature",
        )
        return Group(table(["field", "value"], facts), Text(""), feats)

    emit(v, output, render)


def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    to: Annotated[str | None, typer.Option("--to", help="Alias to move (default: production).")] = None,
    policy: Annotated[Path | None, typer.Option(help="Gate policy YAML; default: artifact + signature checks.")] = None,
    force: Annotated[bool, typer.Option(help="Move the alias even if gates fail (needs --reason; audited).")] = False,
    reason: Annotated[str, typer.Option(help="Why (recorded in the alias history and audit log).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Evaluate the promotion gates, then move the alias (exit 1 with the rule table if refused)."""
    reg = registry(ctx)
    try:
        result = reg.promote(
            name,
            version,
            alias=to,
            policy=load_policy(policy) if policy else None,
            force=force,
            reason=reason,
        )
    except GateFailedError as exc:
        report = GateReport.model_validate(exc.details["report"])
        emit({"moved": False, "report": report}, output, lambda: gate_table(report))
        raise
    emit(result, output, lambda: gate_table(result.report))
    if output is OutputFormat.table:
        how = "FORCED past failing gates" if result.forced else "gates passed"
        console.print(
            f"{name}: {result.alias} -> v{result.version} (was "
            f"{'v' + str(result.previous) if result.previous else 'unset'}; {how})"
        )


def register_commands(app: typer.Typer) -> None:
    """Attach the registry commands to the root app."""
    app.command("register")(register)
    app.command("models")(models_cmd)
    app.command("versions")(versions_cmd)
    app.command("show")(show)
    app.command("promote")(promote)
