"""validate, compile, explain, schema and cost: commands on the registry file alone (no AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli.errors import CommandError
from cli.options import JsonFlag, RegistryFile
from cli.output import Output
from cli.registry_file import load_or_fail
from control_plane.alarms.detection import time_to_detect
from control_plane.alarms.evaluator import definitions_from_registry
from control_plane.compiler import Plan, compile_plan
from control_plane.cost import break_even, phase_costs, variant_cost
from registry.compiled import CompiledRegistry
from registry.loader import load_file
from registry.model import ApprovalGate, MetricGate, Registry


def validate(
    files: Annotated[list[Path], typer.Argument(help="One or more registry files.", show_default=False)],
    json_out: JsonFlag = False,
) -> None:
    """Check registry files: YAML, schema and semantic rules. Every finding has file:line:column.

    Exit 0 when all files are valid (warnings allowed), 1 when any has an error.
    """
    out = Output(json_mode=json_out)
    reports = []
    failed = False
    for path in files:
        result = load_file(path)
        failed |= result.registry is None
        reports.append({"file": str(path), "valid": result.registry is not None,
                        "diagnostics": [{"location": str(d.location), "line": d.location.line,
                                         "column": d.location.column, "severity": d.severity,
                                         "message": d.message, "hint": d.hint} for d in result.diagnostics]})
        if not json_out:
            for d in result.diagnostics:
                out.diagnostic(d)
            errors, warnings = len(result.errors), len(result.warnings)
            status = ("valid", "green") if result.registry else ("invalid", "red")
            out.show(Text.assemble(f"{path}: ", status, f" ({errors} error(s), {warnings} warning(s))"))
    if json_out:
        out.data(reports)
    if failed:
        raise typer.Exit(1)


def compile_cmd(
    file: RegistryFile,
    out_path: Annotated[Path | None, typer.Option("--out", help="Write the plan JSON here instead of stdout.")] = None,
) -> None:
    """Compile a registry into its Plan: SSM parameters, exact PutMetricAlarm arguments, topics, revert map.

    The output is deterministic: the same file always gives the same bytes.
    """
    out = Output()
    plan = compile_plan(load_or_fail(file, out))
    text = plan.to_json()
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text)
        out.hint(f"wrote {out_path} ({len(text)} bytes)")
    else:
        typer.echo(text, nl=False)


def _row(table: Table, *cells: str) -> None:
    """Add a row of plain text: cells quote the user's file, so they are never parsed as rich markup."""
    table.add_row(*(Text(cell, overflow="fold") for cell in cells))


def render_explanation(registry: Registry, plan: Plan, out: Output) -> None:
    """Tables a person reads to understand a registry: variants, phases and gates, alarms, the plan."""
    variants = Table(title="Variants", title_justify="left")
    for col in ("variant", "backend", "transport", "internal only", "barge-in"):
        variants.add_column(col)
    for name, v in registry.variants.items():
        tag = " (baseline)" if name == registry.baseline else ""
        _row(variants, name + tag, v.resolved_backend().value, v.transport.value, str(v.internal_only),
                         str(v.barge_in_enabled))
    out.show(variants)

    phases = Table(title="Phases (voicectl advance moves one step)", title_justify="left")
    for col in ("phase", "weights", "internal weights", "bake", "gates to leave it"):
        phases.add_column(col)
    for phase in registry.all_phases():
        gates = []
        for gate in phase.gates:
            if isinstance(gate, MetricGate):
                bound = f"< {gate.below:g}" if gate.below is not None else f"> {gate.above:g}"
                dims = ",".join(f"{v}" for v in gate.dimensions.values())
                gates.append(f"{gate.metric} {gate.statistic} ({dims}) {bound}")
            elif isinstance(gate, ApprovalGate):
                gates.append(f"sign-off {gate.approval} >= {gate.min_score:g}/{gate.max_score:g}")
        weights = "\n".join(f"{k}={v}" for k, v in phase.weights.items() if v)
        internal = "\n".join(f"{k}={v}" for k, v in (phase.internal_weights or {}).items() if v)
        _row(phases, phase.name, weights, internal or "-", phase.bake or "-", "\n".join(gates) or "-")
    out.show(phases)

    alarms = Table(title="Alarms", title_justify="left")
    detection = {a.name: time_to_detect(a) for a in definitions_from_registry(registry)}
    for col in ("alarm", "condition", "missing data", "time to detect", "actions"):
        alarms.add_column(col)
    for spec in plan.alarms:
        a = spec.args
        stat = a.get("ExtendedStatistic") or a.get("Statistic")
        cond = (f"{a['Namespace']} {a['MetricName']} {stat} {a['ComparisonOperator']} {a['Threshold']:g} "
                f"for {a['DatapointsToAlarm']} of {a['EvaluationPeriods']} x {a['Period']} s")
        acts = [f"notify {t}" for t in spec.notify] + [f"revert {v}" for v in spec.revert]
        if spec.rollback_deployment:
            acts.append("roll back deployment")
        d = detection[spec.name]
        ttd = f"{d.earliest:g}-{d.latest:g} s (every {d.cadence} s)"
        _row(alarms, spec.name, cond, a["TreatMissingData"], ttd, ", ".join(acts))
    out.show(alarms)
    for p in plan.parameters:
        out.show(Text(f"SSM {p.name}: {len(p.value.encode())} bytes, {p.tier} tier"))
    out.show(Text(f"SNS topics: {', '.join(t.name for t in plan.topics) or '-'}"))


def explain(file: RegistryFile) -> None:
    """Explain a registry in tables: variants, phases with weights, bakes and gates, alarms and what they revert."""
    out = Output()
    registry = load_or_fail(file, out)
    render_explanation(registry, compile_plan(registry), out)


def schema(
    compiled: Annotated[bool, typer.Option("--compiled", help="Schema of the compiled `registry` parameter.")] = False,
) -> None:
    """Print the JSON Schema of the registry file (for editors), generated from the pydantic models."""
    model = CompiledRegistry if compiled else Registry
    doc = model.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(doc, indent=2, sort_keys=True))


def cost(
    file: RegistryFile,
    turns: Annotated[int | None, typer.Option("--turns-per-month", min=0,
                                              help="Monthly turn volume (default: the file's assumption).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """The memo's cost model per variant and for each phase's traffic mix, from the file's pricing section.

    Where a line differs from the memo's own figure by more than 1%, the memo's figure is shown beside it.
    """
    out = Output(json_mode=json_out)
    registry = load_or_fail(file, out)
    if registry.pricing is None:
        raise CommandError(f"{file} has no pricing: section", next_step="add pricing: (see examples/voice-m2.yaml)")
    pricing = registry.pricing
    volume = pricing.assumptions.turns_per_month if turns is None else turns
    costs = [variant_cost(pricing, v, volume) for v in pricing.variants]
    phases = phase_costs(registry, volume)
    pairs = [(a, b) for i, a in enumerate(costs) for b in costs[i + 1:]]
    crossings = [be for a, b in pairs if (be := break_even(a, b))]
    if json_out:
        out.data({"turns_per_month": volume, "currency": pricing.currency,
                  "variants": [{"variant": c.variant, "monthly": round(c.monthly, 2),
                                "per_turn": round(c.per_turn, 5), "fixed_monthly": round(c.fixed_monthly, 2),
                                "variable_per_turn": round(c.variable_per_turn, 6),
                                "lines": [{"item": ln.item, "monthly": round(ln.monthly, 2),
                                           "memo_monthly": ln.memo_monthly} for ln in c.lines]} for c in costs],
                  "phases": [{"phase": p.phase, "monthly": round(p.monthly, 2), "per_turn": round(p.per_turn, 5)}
                             for p in phases],
                  "break_even": [{"cheaper_below": b.cheaper_below, "cheaper_above": b.cheaper_above,
                                  "turns_per_month": round(b.turns_per_month)} for b in crossings]})
        return
    cur = pricing.currency
    for c in costs:
        title = f"{c.variant}: {cur} {c.monthly:,.2f}/month, {c.per_turn:.4f}/turn at {volume:,} turns"
        table = Table(title=Text(title), title_justify="left")
        table.add_column("item")
        table.add_column("monthly", justify="right")
        table.add_column("memo says", justify="right")
        for ln in c.lines:
            memo = ""
            if ln.memo_monthly is not None and abs(ln.monthly - ln.memo_monthly) > 0.01 * max(ln.memo_monthly, 1):
                memo = f"{ln.memo_monthly:,.2f} (off by {ln.monthly - ln.memo_monthly:+,.2f})"
            _row(table, ln.item, f"{ln.monthly:,.2f}", memo)
        out.show(table)
    mix = Table(title="Each phase's traffic mix", title_justify="left")
    for col in ("phase", "weights", f"monthly {cur}", f"per turn {cur}"):
        mix.add_column(col, justify="right" if col != "phase" else "left")
    for p in phases:
        _row(mix, p.phase, "\n".join(f"{k}={v}" for k, v in p.weights.items() if v), f"{p.monthly:,.2f}",
                    f"{p.per_turn:.4f}")
    out.show(mix)
    for b in crossings:
        out.show(Text(f"break-even: {b.cheaper_below} is cheaper below {b.turns_per_month:,.0f} turns/month, "
                      f"{b.cheaper_above} above it"))
