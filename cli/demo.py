"""voicectl demo: what `make demo` runs. A whole canary with an automatic revert, on the embedded stack."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from cli.options import JsonFlag
from cli.output import Output
from registry.errors import VoiceCtlError
from voice_runtime.embedded.plot import demo_timeline
from voice_runtime.embedded.report import DemoRecord, Event, event_lines, fmt_ms, phase_rows, summary, write_json
from voice_runtime.embedded.scenario import REVERT_ALARM, DemoScenario, ScenarioConfig
from voice_runtime.embedded.stack import DEMO_REGISTRY, EmbeddedStack, NovaSonicPath, StackConfig

DEFAULT_OUT = Path("out/demo")
KIND_STYLE = {"phase": "green", "inject": "bold red", "alarm": "red", "override": "magenta", "runtime": "magenta",
              "gate": "cyan"}


def _clip(text: str, limit: int) -> str:
    """Shorten at a word boundary with an ellipsis (CloudWatch reasons list every datapoint)."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


class DemoFailed(VoiceCtlError):
    """The scenario ran but did not behave as expected (a check failed)."""

    exit_code = 1


def _live_table(snap: dict[str, Any]) -> Table:
    table = Table(title=f"t={snap['t']:.0f}s  phase {snap['phase']}  turns {snap['turns']}  errors {snap['errors']}",
                  title_justify="left", expand=False)
    table.add_column("variant (last 5 s, external)")
    table.add_column("share", justify="right")
    table.add_column("TTFA p50", justify="right")
    table.add_column("TTFA p95", justify="right")
    for variant, v in snap["variants"].items():
        table.add_row(variant, f"{v['share']:.1f}%", fmt_ms(v["p50"]), fmt_ms(v["p95"]))
    alarms = "  ".join(f"{name}: [{'red' if s == 'ALARM' else 'green'}]{s}[/]" for name, s in snap["alarms"].items())
    table.caption = alarms
    table.caption_justify = "left"
    return table


def _summary_tables(record: DemoRecord, doc: dict[str, Any]) -> Group:
    phases = Table(title="Phase changes", title_justify="left")
    for col in ("at", "phase", "weights"):
        phases.add_column(col)
    for row in phase_rows(record):
        phases.add_row(*row)

    ttfa = Table(title="TTFA per variant (client-side, HDR)", title_justify="left")
    for col in ("variant", "window", "turns", "p50", "p95", "p99"):
        ttfa.add_column(col, justify="left" if col in ("variant", "window") else "right")
    for label, key in (("before regression", "ttfa_before_regression"), ("after regression", "ttfa_after_regression")):
        for variant, s in doc[key].items():
            ttfa.add_row(variant, label, str(s["count"]), fmt_ms(s["p50_ms"]), fmt_ms(s["p95_ms"]), fmt_ms(s["p99_ms"]))

    alarms = Table(title="Alarm transitions", title_justify="left")
    for col in ("at", "alarm", "reason"):
        alarms.add_column(col)
    for e in record.events:
        if e.kind == "alarm":
            alarms.add_row(f"{e.at_s:.1f}s", escape(e.title), escape(_clip(str(e.detail.get("reason", "")), 160)))

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    outcome = Table(title="Revert", title_justify="left", show_header=False)
    outcome.add_row("regression injected at", secs(doc["regression_injected_at_s"]))
    outcome.add_row(f"{REVERT_ALARM} in ALARM at", secs(doc["alarm_at_s"]))
    outcome.add_row("alarm -> override written", secs(doc["alarm_to_override_s"]))
    outcome.add_row("alarm -> runtime cache holds the revert", secs(doc["alarm_to_runtime_cache_s"]))
    outcome.add_row("alarm -> last canary turn seen", secs(doc["alarm_to_all_baseline_s"]))
    outcome.add_row("turns / failed", f"{doc['turns']} / {doc['errors']}")

    checks = Table(title="Checks", title_justify="left")
    for col in ("", "expectation", "observed"):
        checks.add_column(col)
    for c in record.checks:
        checks.add_row("[green]✓[/green]" if c.ok else "[red]✗[/red]", escape(c.name), escape(c.detail))
    return Group(phases, ttfa, alarms, outcome, checks)


async def _run(file: Path, out_dir: Path, out: Output, nova_sonic: NovaSonicPath) -> tuple[DemoRecord, dict[str, Any],
                                                                                          list[Path]]:
    stack = EmbeddedStack(StackConfig(registry_file=file, nova_sonic=nova_sonic))
    started = time.time()
    info = await stack.start()
    out.hint(f"embedded stack up in {time.time() - started:.1f}s: AWS endpoint {info.aws_endpoint_url}, "
             f"runtime {info.runtime_ws_url}, browser client {info.web_url}")

    def show(e: Event) -> None:
        style = KIND_STYLE.get(e.kind, "dim")
        out.show(f"[{style}]{e.at_s:6.1f}s  {e.kind:<8}[/{style}] {escape(e.title)}")

    scenario = DemoScenario(stack, ScenarioConfig(), progress=show)
    try:
        if out.json_mode:
            record = await scenario.run()
        else:
            with Live(_live_table(scenario.snapshot()), console=out.out, refresh_per_second=2,
                      transient=True) as live:
                task = asyncio.create_task(scenario.run())
                while not task.done():
                    live.update(_live_table(scenario.snapshot()))
                    await asyncio.sleep(0.5)
                record = task.result()
    finally:
        await stack.stop()
    doc = summary(record)
    paths = [write_json(out_dir / "report.json", record),
             demo_timeline(record, out_dir / "timeline.png", threshold_ms=_threshold(stack))]
    return record, doc, paths


def _threshold(stack: EmbeddedStack) -> float | None:
    alarm = stack.registry.alarms.get(REVERT_ALARM)
    return alarm.threshold if alarm else None


def demo(
    file: Annotated[Path, typer.Option("--file", help="Registry to run the demo with (short bakes and periods).")]
    = DEMO_REGISTRY,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the JSON report and the PNG timeline go.")]
    = DEFAULT_OUT,
    nova_sonic: Annotated[NovaSonicPath, typer.Option(
        "--nova-sonic", help="emulated: the in-process emulated backend (light, the default); protocol: the real "
        "Nova Sonic relay (aws_sdk_bedrock_runtime over HTTP/2 + TLS) to the protocol-level emulator.")] = "emulated",
    json_out: JsonFlag = False,
) -> None:
    """Run a whole canary with an automatic revert on the embedded stack (no AWS account; about a minute).

    Starts moto's server as the AWS endpoint, applies the demo registry, starts the voice runtime with emulated
    backends (Nova Sonic ~150 ms, M1 ~750 ms) and the local alarm evaluator wired to the revert handler, drives
    tens of concurrent synthetic conversations over WebSocket, advances Phase1 -> Phase2 -> the 5% canary through
    the rollout guard, injects a latency regression into Nova Sonic, and watches the p95 alarm revert it. Prints a
    timeline and a summary, writes out/demo/report.json and out/demo/timeline.png. Exit 0 only if every check held.
    """
    out = Output(json_mode=json_out)
    record, doc, paths = asyncio.run(_run(file, out_dir, out, nova_sonic))
    if json_out:
        out.data({**doc, "files": [str(p) for p in paths]})
    else:
        out.show("\n[bold]Timeline[/bold]")
        for line in event_lines(record.events):
            out.show(escape(line))
        out.show("")
        _widen(out)
        out.show(_summary_tables(record, doc))
        for p in paths:
            out.show(f"wrote {p}")
    failed = [c for c in record.checks if not c.ok]
    if failed or not record.checks:
        raise DemoFailed("the demo scenario did not behave: " + "; ".join(f"{c.name} ({c.detail})" for c in failed),
                         hint=f"see {paths[0]} for every turn and event")


def _widen(out: Output) -> None:
    """Rich assumes 80 columns when stdout is not a terminal (make, CI logs): too narrow for these tables."""
    if not out.out.is_terminal:
        out.out.width = 120


def register(app: typer.Typer) -> None:
    app.command()(demo)
