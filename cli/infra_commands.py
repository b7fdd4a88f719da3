"""`voicectl infra`: the CDK app, synthesised in-process (no CDK CLI, no Docker needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cli.errors import CommandError, ExitCode
from cli.options import JsonFlag, RegistryFile
from cli.output import Output
from cli.registry_file import load_or_fail

if TYPE_CHECKING:  # infra imports aws_cdk (starts node): only when the command runs
    from infra.synth import SynthReport

infra_app = typer.Typer(help="Deploy with AWS CDK: synthesise the control-plane and runtime stacks from a registry.",
                        no_args_is_help=True)


@infra_app.command()
def synth(
    file: RegistryFile,
    out: Annotated[Path, typer.Option("--out", help="Cloud assembly directory (what `cdk deploy --app` takes).")]
    = Path("cdk.out"),
    schema_check: Annotated[bool, typer.Option(
        "--schema-check/--no-schema-check",
        help="CDK's CloudFormation schema validation of the templates (most of the synthesis time).")] = True,
    relay_certificate_arn: Annotated[str | None, typer.Option(
        "--relay-certificate-arn", help="ACM certificate of the relay's public listener (wss://).")] = None,
    allow_plain_ws: Annotated[bool, typer.Option(
        "--allow-plain-ws", help="Without a certificate, accept a plain ws:// relay listener on the internet "
                                 "(a test deploy); otherwise synthesis refuses.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Synthesise both stacks from FILE and check them with cdk-nag (AwsSolutions).

    Prints the stacks, resource counts by type, the alarms, the nag findings and acknowledgments, and the time.
    Exit 0 when the assembly was written, 1 when the file is invalid or nag has unacknowledged findings.
    Deploy the result with: npx cdk deploy --app DIR --all
    """
    out_ = Output(json_mode=json_out)
    registry = load_or_fail(file, out_)
    # jsii starts node on first import of aws_cdk: silence its node 20 banner, and keep `voicectl` itself fast
    # (and usable in the relay container, which has no CDK) by importing infra only here.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.components.relay_service import PlainRelayListener
    from infra.settings import InfraSettings
    from infra.synth import synthesize

    settings = InfraSettings(cfn_schema_validation=schema_check, relay_certificate_arn=relay_certificate_arn,
                             relay_allow_plain_ws=allow_plain_ws)
    try:
        report = synthesize(registry, outdir=out, settings=settings)
    except PlainRelayListener as exc:
        raise CommandError(exc.what, next_step="pass --relay-certificate-arn <ACM ARN> for wss://, or "
                                               "--allow-plain-ws to deploy a test relay on ws://") from exc
    if json_out:
        out_.data(report.to_dict())
    else:
        _render(report, out_)
    if not report.ok:
        raise CommandError(f"cdk-nag: {len(report.findings)} unacknowledged finding(s); nothing written",
                           exit_code=ExitCode.INVALID_INPUT,
                           next_step="fix the resources listed above, or acknowledge each in code with a reason "
                                     "(infra.nag.acknowledge)")


def _render(report: SynthReport, out: Output) -> None:
    for stack in report.stacks:
        table = Table(title=f"{stack.name}: {stack.resource_total} resources", title_justify="left")
        table.add_column("type")
        table.add_column("count", justify="right")
        for kind, count in stack.resources.items():
            table.add_row(kind, str(count))
        out.show(table)
        if stack.alarms:
            out.show(f"alarms ({len(stack.alarms)}): {', '.join(stack.alarms)}")
    for message in report.warnings:
        out.warning(message)
    for message in report.validation:
        out.warning(f"CloudFormation validation: {message}")
    for finding in report.findings:
        out.error(f"{finding.rule} at {finding.path}: {finding.description}")
    out.show(f"cdk-nag AwsSolutions: {len(report.findings)} unacknowledged finding(s), "
             f"{len(report.acknowledged)} acknowledged with a reason in code")
    out.show(f"time: build + nag {report.build_seconds:.1f} s, synth {report.synth_seconds:.1f} s")
    if report.ok:
        out.hint(f"wrote {report.outdir}; deploy with: npx cdk deploy --app {report.outdir} --all")


def register(app: typer.Typer) -> None:
    """Attach the `infra` group to the voicectl app."""
    app.add_typer(infra_app, name="infra")
