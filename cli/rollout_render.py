"""Rich tables and --json payloads for cli/rollout_commands.py (rendering only: no decisions, no AWS)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

from cli.output import Output
from control_plane.alarms.basis import Basis
from control_plane.history import Event
from control_plane.overrides import ClearOutcome, describe_override
from control_plane.rollout.decommission import DueStep
from control_plane.rollout.gates import GateResult, Verdict
from control_plane.rollout.guard import Decision
from control_plane.rollout.machine import Step
from control_plane.runbook import Verification, map_json
from registry.live_state import LiveState, OverrideRecord, PhaseRecord, effective_weights

_VERDICT = {Verdict.PASS: "[green]pass[/green]", Verdict.FAIL: "[red]FAIL[/red]",
            Verdict.INCONCLUSIVE: "[yellow]no data: hold[/yellow]"}


def _value(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def gates_table(title: str, gates: Sequence[GateResult]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("gate", "value", "limit", "verdict"):
        table.add_column(col)
    for g in gates:
        table.add_row(escape(g.label), _value(g.value), g.limit, _VERDICT[g.verdict])
    return table


def decision(out: Output, step: Step, d: Decision) -> None:
    if d.gates:
        out.show(gates_table(f"Gates of {step.current} (to leave it for {step.target})", d.gates))
        if step.branch:
            out.hint(f"taking path {step.path}: these are the main path's exit criteria, shown for the record; "
                     "they do not block the branch")
    for r in d.reasons:
        out.err.print(f"  [red]✗[/red] {escape(r.message)} [dim](could pass {escape(r.when)}; {escape(r.hint)})[/dim]")


def weights_table(state: LiveState) -> Table:
    external, internal = effective_weights(state), effective_weights(state, internal=True)
    table = Table(title="What runtimes serve (effective weights after overrides)", title_justify="left")
    for col in ("variant", "external %", "internal %"):
        table.add_column(col)
    for v in sorted(external):
        table.add_row(v, f"{external[v]:g}", f"{internal.get(v, 0):g}")
    return table


def moved(out: Output, record: PhaseRecord, after: LiveState, version: int, result: dict[str, Any],
          json_out: bool) -> None:
    if json_out:
        out.data({**result, "advanced" if record.action != "rollback" else "rolled_back": True,
                  "action": record.action, "version": version, "at": record.at.isoformat(),
                  "effective_weights": {"external": effective_weights(after),
                                        "internal": effective_weights(after, internal=True)}})
        return
    out.show(f"{record.action}: {record.previous} -> [bold]{record.phase}[/bold] (rollout/phase version {version})")
    out.show(weights_table(after))
    ttl = after.registry.cache_ttl_seconds if after.registry else 30
    out.hint(f"every runtime serves this within {ttl} s (cache TTL)")


def override_written(out: Output, record: OverrideRecord, version: int, after: LiveState, json_out: bool) -> None:
    if json_out:
        out.data({**record.model_dump(mode="json"), "version": version,
                  "effective_weights": {"external": effective_weights(after),
                                        "internal": effective_weights(after, internal=True)}})
        return
    out.show(f"override set: {escape(describe_override(record))} (version {version})")
    out.show(weights_table(after))


def cleared(out: Output, outcome: ClearOutcome, json_out: bool) -> None:
    """What `override clear` did, and what each reverting alarm's state rests on."""
    if json_out:
        out.data({"cleared": outcome.cleared, "still_pinned_by_runbook_map": outcome.pinned_by_runbook,
                  "restored": outcome.restored, "alarms": [j.to_dict() for j in outcome.judgements]})
        return
    for judgement in outcome.judgements:
        line = f"{judgement.alarm}: {escape(judgement.detail)}"
        if judgement.basis is Basis.DATA:
            out.show(line)
        else:
            out.warning(line)
    out.show(f"cleared: {', '.join(outcome.cleared) or 'nothing'}")


def overrides(out: Output, state: LiveState, json_out: bool) -> None:
    if json_out:
        out.data({"overrides": [o.model_dump(mode="json") for _, o in sorted(state.overrides.items())],
                  "runbook_map": state.runbook})
        return
    table = Table(title="Overrides", title_justify="left")
    for col in ("variant", "share %", "set by", "at", "reason"):
        table.add_column(col)
    for v, o in sorted(state.overrides.items()):
        who = f"alarm {', '.join(o.reverting_alarms)}" if o.source == "alarm" else f"person {o.actor}"
        table.add_row(v, str(o.share), escape(who), o.at.isoformat(), escape(o.reason or "-"))
    out.show(table)
    out.show(f"runbook map (variant_overrides): {escape(map_json(state.runbook)) if state.runbook else 'not set'}")


def status(out: Output, doc: dict[str, Any]) -> None:
    phase = doc["phase"]
    since = phase["since"] or "never advanced (the first phase is implied)"
    out.show(f"[bold]{doc['namespace']}[/bold]: phase [bold]{phase['name']}[/bold]"
             + (f" (path {phase['path']})" if phase["path"] else "") + f", active since {since}")
    if phase["bake_ends_at"]:
        out.show(f"bake: ends {phase['bake_ends_at']} ({phase['bake_remaining']} remaining)")
    weights = Table(title="What runtimes serve (effective weights after overrides)", title_justify="left")
    for col in ("variant", "external %", "internal %"):
        weights.add_column(col)
    ext, internal = doc["effective_weights"]["external"], doc["effective_weights"]["internal"]
    for v in sorted(ext):
        weights.add_row(v, f"{ext[v]:g}", f"{internal.get(v, 0):g}")
    out.show(weights)
    out.hint(doc["effective_weights"]["note"])
    table = Table(title="Overrides", title_justify="left")
    for col in ("variant", "share %", "set by", "at", "reason"):
        table.add_column(col)
    for o in doc["overrides"]:
        who = f"alarm {o['alarm']}" if o["source"] == "alarm" else f"person {o['actor']}"
        table.add_row(o["variant"], str(o["share"]), escape(who), o["at"], escape(o["reason"] or "-"))
    out.show(table if doc["overrides"] else "overrides: none")
    rb = doc["runbook_map"]
    out.show(f"runbook map {rb['parameter']}: " + (escape(map_json(rb["active"])) if rb["active"] else "not set")
             + (f" (emergency value now: {escape(rb['emergency_value'])})" if rb["emergency_value"] else ""))
    alarms = Table(title="Alarms", title_justify="left")
    alarms.add_column("alarm")
    alarms.add_column("state")
    colour = {"OK": "green", "ALARM": "red"}
    for name, st in doc["alarms"].items():
        alarms.add_row(name, f"[{colour.get(st, 'yellow')}]{st}[/]")
    out.show(alarms)
    nxt = doc["next"]
    if nxt["decision"]:
        d = nxt["decision"]
        gates = Table(title=f"Next: {nxt['phase']} ({'may advance' if d['allowed'] else 'advance would refuse'})",
                      title_justify="left")
        for col in ("gate", "value", "limit", "verdict"):
            gates.add_column(col)
        for g in d["gates"]:
            gates.add_row(escape(g["gate"]), _value(g["value"]), g["limit"], _VERDICT[Verdict(g["verdict"])])
        out.show(gates)
        for r in d["reasons"]:
            out.show(f"  ✗ {escape(r['message'])} (could pass {escape(r['when'])})")
    else:
        out.show(f"next: {nxt['phase'] or '-'}" + (f" ({escape(nxt['note'])})" if nxt["note"] else ""))
    if doc["decommission"]:
        steps = Table(title="Decommission steps", title_justify="left")
        for col in ("due at", "action", "variant", "state"):
            steps.add_column(col)
        for s in doc["decommission"]:
            steps.add_row(s["due_at"], s["action"], s["variant"], s["state"])
        out.show(steps)
    for problem in doc["problems"]:
        out.error(f"does not parse (runtimes read it the safe way): {escape(problem)}")


def history(out: Output, events: Sequence[Event], json_out: bool) -> None:
    if json_out:
        out.data([e.to_dict() for e in events])
        return
    table = Table(title="History (SSM parameter versions)", title_justify="left")
    for col in ("time", "actor", "action", "what", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(e.at.isoformat(), escape(e.actor), e.action, escape(e.detail), escape(e.reason or "-"))
    out.show(table)


def emergency(out: Output, name: str, pins: dict[str, int], version: int, written: datetime, by: datetime,
              after: Verification, json_out: bool) -> None:
    if json_out:
        out.data({"parameter": name, "value": pins, "version": version, "written_at": written.isoformat(),
                  "all_runtimes_by": by.isoformat(), "verify": after.to_dict()})
        return
    out.show(f"wrote {name} = {escape(map_json(pins))} (version {version}) at {written.isoformat()}")
    out.show(f"[bold]every runtime serves it by {by.isoformat()}[/bold] (write time + cache TTL); "
             "a runtime cut off from SSM keeps its last good copy until it reconnects")
    out.show(weights_table_from(after))
    out.hint("check: voicectl runbook verify; after the emergency: voicectl runbook clear --reason ...")


def weights_table_from(v: Verification) -> Table:
    table = Table(title="What runtimes resolve", title_justify="left")
    cols = ["variant", "external %", "internal %"]
    if v.sampled:
        cols += ["sampled external %", "sampled internal %"]
    for col in cols:
        table.add_column(col)
    for name in sorted(v.external):
        row = [name, f"{v.external[name]:g}", f"{v.internal.get(name, 0):g}"]
        if v.sampled:
            row += [f"{v.sampled['external'].get(name, 0):g}", f"{v.sampled['internal'].get(name, 0):g}"]
        table.add_row(*row)
    return table


def verification(out: Output, v: Verification, json_out: bool, subject: str | None = None,
                 resolved: str | None = None) -> None:
    if json_out:
        out.data({**v.to_dict(), **({"subject": subject, "variant": resolved} if subject else {})})
        return
    out.show(weights_table_from(v))
    if subject:
        out.show(f"caller {escape(subject)} gets: [bold]{resolved}[/bold]")
    for ok, text in v.checks:
        out.show(f"  {'[green]✓[/green]' if ok else '[red]✗[/red]'} {escape(text)}")
    out.show("[green]OK[/green]: runtimes resolve what the pins say" if v.ok else "[red]NOT OK[/red]")


def decommission(out: Output, phase: str, steps: Sequence[DueStep], recorded: Sequence[str], yes: bool,
                 json_out: bool) -> None:
    if json_out:
        out.data({"phase": phase, "steps": [s.to_dict() for s in steps], "recorded": list(recorded)})
        return
    if not steps:
        out.show(f"{phase} has no decommission steps")
        return
    table = Table(title=f"Decommission steps of {phase}", title_justify="left")
    for col in ("due at", "action", "variant", "state", "what"):
        table.add_column(col)
    for s in steps:
        table.add_row(s.due_at.isoformat(), s.action.value, s.variant, s.state.value, escape(s.description))
    out.show(table)
    if recorded:
        out.show(f"recorded deprecation of: {', '.join(recorded)} (runtimes stop assigning them)")
    elif not yes and any(s.state.value == "due" and s.records_deprecation for s in steps):
        out.hint("rerun with --yes to record the due deprecations")
