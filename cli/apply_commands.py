"""plan and apply: show what the registry file would change in AWS, then make exactly those changes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.errors import CommandError, ExitCode
from cli.options import EndpointUrl, JsonFlag, Profile, Region, RegistryFile, clients_from
from cli.output import Output
from cli.registry_file import load_or_fail
from control_plane.apply import ClientSource, execute, observe, resolve_target, steps_for, still_pending
from control_plane.aws.live_store import read_live_state
from control_plane.compiler import AwsTarget, Plan, compile_plan
from control_plane.diff import Action, Change, diff, summary
from control_plane.impact import TrafficImpact, traffic_impact

MAX_VALUE_CHARS = 240  # longer values are cut in the human plan; --json has them whole
SIGN = {Action.CREATE: ("+", "green"), Action.UPDATE: ("~", "yellow"), Action.DELETE: ("-", "red")}

DetailedExitcode = Annotated[bool, typer.Option(
    "--detailed-exitcode",
    help="Exit 0 when in sync, 2 when there are changes (like terraform); errors keep their codes (1 file, 4 AWS).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking (required when stdin is not a terminal).")]


@dataclass(frozen=True)
class PlannedRun:
    """Everything plan computes and apply reuses: the desired plan, where it goes, and the changes."""

    plan: Plan
    target: AwsTarget
    changes: list[Change]
    clients: ClientSource
    impact: TrafficImpact


def _prepare(file: Path, out: Output, endpoint_url: str | None, region: str | None,
             profile: str | None) -> PlannedRun:
    registry = load_or_fail(file, out)
    clients = clients_from(endpoint_url, region, profile)
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    changes = diff(plan, observe(clients, plan, target))
    live = read_live_state(clients.client("ssm"), plan.namespace)
    for problem in live.problems:  # e.g. a hand-written variant_overrides that runtimes ignore too
        out.warning(f"live state does not parse: {problem}")
    impact = traffic_impact(live, plan.compiled)
    return PlannedRun(plan, target, changes, clients, impact)


def _fmt(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 3] + "..."


def render_changes(run: PlannedRun, out: Output, file: Path) -> None:
    """Terraform-like: one line per resource (+ create, ~ update, - delete), its changed fields beneath."""
    where = f"{run.plan.namespace} in account {run.target.account_id}, {run.target.region}"
    if not run.changes:
        out.show(f"No changes. {escape(where)} matches {escape(str(file))}.")
        return
    out.show(f"voicectl will make these changes to {escape(where)}:\n")
    for change in run.changes:
        sign, colour = SIGN[change.action]
        out.show(f"  [{colour}]{sign} {change.kind.value}[/{colour}] [bold]{escape(change.name)}[/bold]")
        for f in change.fields:
            shown = _fmt(f.new) if change.action is Action.CREATE else f"{_fmt(f.old)} -> {_fmt(f.new)}"
            out.show(f"      {escape(f.field)}: {escape(shown)}")
    counts = summary(run.changes)
    out.show(f"\nPlan: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete.")
    render_impact(run, out)


def render_impact(run: PlannedRun, out: Output) -> None:
    """The effective traffic that moves (what runtimes serve within one cache period after apply)."""
    impact = run.impact
    if impact.blocker:
        out.show(f"\n[bold red]Blocked:[/bold red] {escape(impact.blocker)}")
    if not impact.changed:
        return
    phase = impact.active_phase or "none recorded, so the first phase"
    out.show(f"\nTraffic after apply (active phase: {escape(phase)}; overrides applied; runtimes pick it up within "
             f"{run.plan.compiled.cache_ttl_seconds} s):")
    for move in impact.moves:
        who = "internal subjects" if move.audience == "internal" else "all subjects"
        before = "-" if move.before is None else f"{move.before:g}%"
        after = "-" if move.after is None else f"{move.after:g}%"
        out.show(f"  {who:<17} {escape(move.variant):<28} {before:>6} -> {after}")


def _payload(run: PlannedRun) -> dict[str, Any]:
    return {"namespace": run.plan.namespace, "account": run.target.account_id, "region": run.target.region,
            "changed": bool(run.changes), "summary": summary(run.changes),
            "changes": [c.to_dict() for c in run.changes], "traffic": run.impact.to_dict()}


def plan_cmd(
    file: RegistryFile,
    json_out: JsonFlag = False,
    detailed_exitcode: DetailedExitcode = False,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Show what apply would change: the registry SSM parameter, CloudWatch alarms and SNS topics.

    Reads only. Apply owns `<namespace>/registry` and alarms and topics tagged voice-rollout:namespace.

    The active phase and the overrides are never part of a plan.
    """
    out = Output(json_mode=json_out)
    run = _prepare(file, out, endpoint_url, region, profile)
    if json_out:
        out.data(_payload(run))
    else:
        render_changes(run, out, file)
    if detailed_exitcode and run.changes:
        raise typer.Exit(2)


def _interactive() -> bool:
    """Whether a person can answer the confirmation prompt (a seam for tests)."""
    return sys.stdin.isatty()


def apply_cmd(
    file: RegistryFile,
    yes: Yes = False,
    json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Make AWS match the file: topics, then alarms, then the registry parameter in one put, deletions last.

    Idempotent: a second apply writes nothing. Never changes the active phase or any override.

    On a failed AWS call it stops, lists what was and was not applied, and exits 5; rerunning converges.
    """
    out = Output(json_mode=json_out)
    run = _prepare(file, out, endpoint_url, region, profile)
    if not json_out:
        render_changes(run, out, file)
    if not run.changes:
        if json_out:
            out.data({**_payload(run), "applied": [], "write_calls": 0})
        return
    if run.impact.blocker:
        raise CommandError(f"apply refused: {run.impact.blocker}", exit_code=ExitCode.GUARD_REFUSED,
                           next_step=f"keep phase {run.impact.active_phase} in the file, or move off it first "
                                "(voicectl advance / voicectl rollback --to PHASE), then apply")
    if not yes:
        if not _interactive():
            raise CommandError("refusing to apply without confirmation: stdin is not a terminal",
                             next_step=f"review `voicectl plan {file}`, then rerun with --yes")
        counts = summary(run.changes)
        if not typer.confirm(f"Apply {sum(counts.values())} change(s) to {run.plan.namespace}?", default=False):
            out.error("apply cancelled; nothing was written")
            raise typer.Exit(1)
    steps = steps_for(run.changes, run.target, run.plan.tags)
    report = execute(run.clients, steps, pending=still_pending(run.clients, run.plan, run.target))
    if json_out:
        out.data({**_payload(run), "applied": report.applied, "write_calls": report.write_calls})
        return
    counts = summary(run.changes)
    out.show(f"Apply complete: {counts['create']} created, {counts['update']} updated, {counts['delete']} deleted "
             f"({report.write_calls} AWS write call(s)).")


def register(app: typer.Typer) -> None:
    """Attach plan and apply to the voicectl app."""
    app.command("plan")(plan_cmd)
    app.command("apply")(apply_cmd)
