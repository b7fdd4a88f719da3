"""`voicectl alarms`: alarm states from CloudWatch, and backtesting a registry's alarms on a metric history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.errors import CommandError
from cli.options import EndpointUrl, JsonFlag, Profile, Region, RegistryFile, clients_from
from cli.output import Output
from cli.registry_file import load_or_fail
from control_plane.alarms.backtest import BacktestReport, backtest, read_history
from control_plane.alarms.evaluator import definitions_from_registry
from control_plane.alarms.listing import AlarmRow, alarm_rows, describe
from registry.compiled import compile_registry

alarms_app = typer.Typer(help="Alarm states, and when a registry's alarms would have fired on a metric history.")

_STATE_STYLE = {"ALARM": "bold red", "OK": "green", "INSUFFICIENT_DATA": "yellow"}


def _state(state: str | None) -> str:
    if state is None:
        return "[dim]not applied[/dim]"
    return f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]"


@alarms_app.command("list")
def list_cmd(
    file: Annotated[Path | None, typer.Argument(help="Only this registry's alarms, with what each reverts.",
                                                show_default=False)] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="Only alarms whose name starts with this.")] = None,
    json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """List alarms and their states (DescribeAlarms): ALARM reverts, INSUFFICIENT_DATA holds, OK is healthy."""
    out = Output(json_mode=json_out)
    declared = compile_registry(load_or_fail(file, out)).alarms if file else None
    cloudwatch = clients_from(endpoint_url, region, profile).cloudwatch
    described = describe(cloudwatch, names=sorted(declared) if declared else None, prefix=prefix)
    rows = [r for r in alarm_rows(described, declared) if not prefix or r.name.startswith(prefix)]
    if json_out:
        out.data([r.as_dict() for r in rows])
        return
    if not rows:
        out.show("no alarms found")
        out.hint("apply a registry first: voicectl apply FILE")
        return
    width = max(len(r.name) for r in rows)
    for row in rows:
        since = f"since {row.updated.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC" if row.updated else ""
        actions = _actions(row)
        out.show(f"{escape(row.name.ljust(width))}  {_state(row.state)}  {since}"
                 + (f"  [dim]on ALARM: {escape(actions)}[/dim]" if actions else ""))
        if row.reason:
            out.show(f"    [dim]{escape(row.reason)}[/dim]")
    firing = [r.name for r in rows if r.state == "ALARM"]
    if firing:
        out.hint(f"firing: {', '.join(firing)}; see what was reverted with: voicectl status FILE")


@alarms_app.callback(invoke_without_command=True)
def alarms_default(
    ctx: typer.Context,
    json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Alarm states (`voicectl alarms` alone is `voicectl alarms list`), and backtests of a registry's alarms."""
    if ctx.invoked_subcommand is None:
        list_cmd(None, None, json_out, endpoint_url, region, profile)


def _actions(row: AlarmRow) -> str:
    parts = []
    if row.revert:
        parts.append(f"revert {', '.join(row.revert)}")
    if row.rollback_deployment:
        parts.append("stop CodeDeploy deployment")
    if row.notify:
        parts.append(f"notify {', '.join(row.notify)}")
    return "; ".join(parts)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@alarms_app.command("backtest")
def backtest_cmd(
    file: RegistryFile,
    metrics: Annotated[Path, typer.Option("--metrics", help="Metric history: .csv "
                                          "(`timestamp,metric,<dimension>..,value`) or .jsonl "
                                          "(one sample per line, or the runtime's EMF lines).",
                                          show_default=False)],
    alarm: Annotated[list[str] | None, typer.Option("--alarm", help="Only this alarm (repeatable).")] = None,
    step: Annotated[float | None, typer.Option("--step", help="Seconds the clock moves between evaluations "
                                               "(default: as CloudWatch, 60, or 10 for 10/20/30 s periods).",
                                               min=1)] = None,
    metric_delay: Annotated[float, typer.Option("--metric-delay", help="Seconds from a sample's timestamp to "
                                                "CloudWatch seeing it, for the time-to-detect figures.",
                                                min=0)] = 0.0,
    json_out: JsonFlag = False,
) -> None:
    """Replay a metric history through FILE's alarms with the local evaluator (CloudWatch's semantics) and print
    when each would have fired and recovered, and what it would have reverted. Nothing is written anywhere.

    Example: voicectl alarms backtest examples/voice-m2.yaml --metrics examples/metrics-regression.jsonl
    """
    out = Output(json_mode=json_out)
    registry = load_or_fail(file, out)
    alarms = definitions_from_registry(registry)
    if alarm:
        unknown = sorted(set(alarm) - {a.name for a in alarms})
        if unknown:
            raise CommandError(f"no alarm named {', '.join(unknown)} in {file}",
                             next_step=f"choose from: {', '.join(a.name for a in alarms)}")
        alarms = [a for a in alarms if a.name in alarm]
    samples = read_history(metrics, default_namespace=registry.metrics_namespace)
    report = backtest(alarms, samples, step=step, delay=metric_delay)
    if json_out:
        out.data(report.as_dict())
        return
    _render(report, out, metrics, {a.name for a in alarms if a.revert})


def _render(report: BacktestReport, out: Output, metrics: Path, reverting: set[str]) -> None:
    evaluations = sum(report.evaluations.values())
    out.show(f"{metrics}: {report.samples} samples, {_when(report.start)} -> {_when(report.end)} UTC, "
             f"{evaluations} evaluations of {len(report.alarms)} alarm(s) at CloudWatch's cadence")
    if not report.events:
        out.show("[green]no alarm would have changed state[/green]")
    for e in report.events:
        would = []
        if e.would_revert:
            would.append(f"would revert {', '.join(e.would_revert)} to 0%")
        if e.would_rollback:
            would.append("stop the CodeDeploy deployment")
        if e.would_notify:
            would.append(f"notify {', '.join(e.would_notify)}")
        if e.recovered:
            would.append("no action: reverted variants stay at 0% until a person clears them"
                         if e.alarm in reverting else "no action")
        out.show(f"{_when(e.at)}  [bold]{escape(e.alarm)}[/bold]  {_state(e.previous.value)} -> "
                 f"{_state(e.state.value)}  {escape('; '.join(would))}")
        out.show(f"    [dim]{escape(e.reason)}[/dim]")
    for name in report.alarms:
        fired = report.fired(name)
        final = report.final.get(name)
        summary = (f"fired {len(fired)} time(s), first at {_when(fired[0].at)}" if fired else "never fired")
        out.show(f"  {escape(name)}: {summary}; ends {_state(final.value if final else None)}; "
                 f"{report.evaluations.get(name, 0)} evaluations")
        if name in report.detection:
            out.show(f"    [dim]{escape(report.detection[name].describe())}[/dim]")


def register(app: typer.Typer) -> None:
    """Attach the `alarms` group to the voicectl app."""
    app.add_typer(alarms_app, name="alarms")
