"""What `voicectl demo` runs (cli/demo.py is its command): the scenario on the embedded stack, live table, summary."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from cli.local_extra import DemoFailed
from cli.output import Output
from embedded.plot import demo_timeline
from embedded.report import DemoRecord, Event, event_lines, fmt_ms, phase_rows, summary, write_json
from embedded.scenario import REVERT_ALARM, DemoScenario, ScenarioConfig
from embedded.stack import BackendPath, EmbeddedStack, StackConfig

KIND_STYLE = {"phase": "green", "inject": "bold red", "alarm": "red", "override": "magenta", "runtime": "magenta",
              "gate": "cyan"}


def _clip(text: str, limit: int) -> str:
    """Shorten at a word boundary with an ellipsis (CloudWatch reasons list every datapoint)."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


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
    served = doc["meta"].get("adapters", {})
    outcome.add_row("served by", ", ".join(f"{b}: {a}" for b, a in sorted(served.items())) or "-")

    checks = Table(title="Checks", title_justify="left")
    for col in ("", "expectation", "observed"):
        checks.add_column(col)
    for c in record.checks:
        checks.add_row("[green]✓[/green]" if c.ok else "[red]✗[/red]", escape(c.name), escape(c.detail))
    return Group(phases, ttfa, alarms, outcome, checks)


async def _run(file: Path, out_dir: Path, out: Output, backends: BackendPath) -> tuple[DemoRecord, dict[str, Any],
                                                                                          list[Path]]:
    stack = EmbeddedStack(StackConfig(registry_file=file, backends_path=backends))
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
        # Which adapter served each backend: the product's SDK adapter, or the emulated test double.
        record.meta["adapters"] = stack.adapters_serving()
        record.meta["backends"] = stack.config.backends_path
    finally:
        await stack.stop()
    doc = summary(record)
    paths = [write_json(out_dir / "report.json", record),
             demo_timeline(record, out_dir / "timeline.png", threshold_ms=_threshold(stack))]
    return record, doc, paths


def _threshold(stack: EmbeddedStack) -> float | None:
    alarm = stack.registry.alarms.get(REVERT_ALARM)
    return alarm.threshold if alarm else None


def main(file: Path, out_dir: Path, backends: BackendPath, json_out: bool) -> None:
    """Run the scenario, print the timeline and the summary, write the report; DemoFailed when a check fails."""
    out = Output(json_mode=json_out)
    record, doc, paths = asyncio.run(_run(file, out_dir, out, backends))
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
                         next_step=f"see {paths[0]} for every turn and event")


def _widen(out: Output) -> None:
    """Rich assumes 80 columns when stdout is not a terminal (make, CI logs): too narrow for these tables."""
    if not out.out.is_terminal:
        out.out.width = 120

