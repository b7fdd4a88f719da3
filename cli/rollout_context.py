"""Shared plumbing of the rollout commands (cli/rollout_commands.py): option aliases, the one clock, the actor,
the command context (namespace, policy file, clients) and the small read/write steps every command repeats.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.errors import CommandError
from cli.options import clients_from
from cli.output import Output
from cli.registry_file import load_or_fail
from control_plane.aws import live_store
from control_plane.aws.metrics_source import MetricQuery, alarm_states, metric_source
from control_plane.aws.session import Clients
from control_plane.overrides import describe_override
from control_plane.rollout.assess import assess_advance
from control_plane.rollout.gates import Observation, Window
from control_plane.rollout.guard import Decision
from control_plane.rollout.machine import Step, Topology
from registry.compiled import CompiledRegistry
from registry.errors import NothingApplied
from registry.live_state import LiveState, PhaseRecord, param_phase
from registry.model import MetricGate, Registry

NOW_ENV = "VOICECTL_NOW"

FileArg = Annotated[Path | None, typer.Argument(help="Registry file: its namespace, and the rollout policy (bakes, "
                                                "gates, paths, decommission).", show_default=False)]
FileOpt = Annotated[Path | None, typer.Option("--file", "-f", help="Registry file (namespace and policy).")]
Namespace = Annotated[str | None, typer.Option("--namespace", "-n", envvar="VOICECTL_NAMESPACE",
                                               help="SSM namespace, e.g. /silentinfinity/voice (else FILE's).")]
Actor = Annotated[str | None, typer.Option("--actor", envvar="VOICECTL_ACTOR", help="Who (default: $USER).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: recorded in SSM parameter history, the audit log.")]
MetricsFrom = Annotated[str, typer.Option("--metrics-from", envvar="VOICECTL_METRICS_FROM",
                                          help="Gate data: cloudwatch (GetMetricData) or samples:PATH (JSON lines).")]


def now() -> datetime:
    """The one clock of these commands: $VOICECTL_NOW when set (tests, rehearsals), else UTC now."""
    pinned = os.environ.get(NOW_ENV)
    if not pinned:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(pinned)
    except ValueError as exc:
        raise CommandError(f"{NOW_ENV}={pinned!r} is not ISO 8601", next_step="e.g. 2026-05-01T12:00:00+00:00") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def actor_name(actor: str | None) -> str:
    """--actor / $VOICECTL_ACTOR, else the login name; recorded with every write."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (containers without a passwd entry)
        return "unknown"


@dataclass
class Ctx:
    namespace: str
    policy: Registry | None
    clients: Clients
    out: Output
    now: datetime

    @property
    def ssm(self) -> Any:
        return self.clients.ssm


def make_ctx(file: Path | None, namespace: str | None, endpoint: str | None, region: str | None,
             profile: str | None, json_out: bool = False) -> Ctx:
    """Resolve which rollout a command acts on: --namespace, else FILE's namespace (both must agree), the
    policy file (validated, diagnostics printed), the AWS clients and the clock."""
    out = Output(json_mode=json_out)
    policy = None
    if file is not None:
        policy = load_or_fail(file, out)
    if namespace and policy and namespace.rstrip("/") != policy.namespace:
        raise CommandError(f"--namespace {namespace} differs from {file}'s namespace {policy.namespace}",
                         next_step="drop --namespace, or pass the file of that namespace")
    ns = (namespace or (policy.namespace if policy else "")).rstrip("/")
    if not ns:
        raise CommandError("which rollout? no namespace given",
                           next_step="pass the registry FILE, --namespace /silentinfinity/voice, or set "
                                     "VOICECTL_NAMESPACE")
    return Ctx(ns, policy, clients_from(endpoint, region, profile), out, now())


def applied(ctx: Ctx, state: LiveState) -> CompiledRegistry:
    """The applied registry parameter, or an error telling to apply first."""
    if state.registry is None:
        raise NothingApplied(ctx.namespace)
    return state.registry


def require_applied_phase(compiled: CompiledRegistry, phase: str) -> None:
    """Never record a phase the runtimes' registry does not have: they would all fall back to the baseline."""
    if compiled.phase(phase) is None:
        raise CommandError(f"phase {phase} is not in the applied registry (digest {compiled.digest})",
                         next_step="run: voicectl apply FILE first")


def topology_of(ctx: Ctx, compiled: CompiledRegistry) -> Topology:
    """Phase order from the file when given (it knows where paths branch), else from the applied parameter."""
    return Topology.of_registry(ctx.policy) if ctx.policy else Topology.of_compiled(compiled)


def judge(ctx: Ctx, values: dict[str, str], state: LiveState, step: Step, entered_at: datetime,
          metrics_from: str) -> Decision:
    """Fetch what the guard needs (gate data through the metric source, alarm states) and decide."""
    assert ctx.policy is not None
    compiled = applied(ctx, state)
    phase = ctx.policy.phase(step.current)
    needs_metrics = phase is not None and any(isinstance(g, MetricGate) for g in phase.gates)
    source = metric_source(metrics_from, ctx.clients) if needs_metrics else None

    def observe(namespace: str, metric: str, dimensions: Mapping[str, str], statistic: str,
                window: Window) -> Observation:
        assert source is not None
        return source.observe(MetricQuery(namespace, metric, dimensions, statistic, window))

    alarms = alarm_states(ctx.clients.cloudwatch, sorted(compiled.alarms)) if compiled.alarms else {}
    return assess_advance(ctx.policy, state, values, step, entered_at, ctx.now, observe, alarms)


def write_phase(ctx: Ctx, record: PhaseRecord) -> int:
    """Overwrite rollout/phase; the version is the audit log's entry."""
    return live_store.put_record(ctx.ssm, param_phase(ctx.namespace), record,
                                 description=f"{record.action} to {record.phase} by {record.actor}: {record.reason}")


def check_phase_race(ctx: Ctx, version: int, based_on: PhaseRecord | None) -> None:
    """Two people moving the phase at once: SSM has no conditional put, so check that the version just
    replaced is the one the decision was based on, and say so loudly if another move landed in between."""
    if version <= 1:
        return
    replaced = next((v for v in live_store.parameter_versions(ctx.ssm, param_phase(ctx.namespace))
                     if v.version == version - 1), None)
    if replaced is None or based_on is None:
        return
    try:
        same = PhaseRecord.model_validate_json(replaced.value) == based_on
    except ValueError:
        same = False
    if not same:
        ctx.out.warning(f"another phase change landed while this one was decided (version {version - 1}: "
                        f"{escape(replaced.value[:120])}); check: voicectl history")


def reread(ctx: Ctx, before: LiveState, own: str | None = None) -> LiveState:
    """The live state after a write, read back: what runtimes will serve, including any concurrent writer's
    update (a revert may land at any moment; it is never lost, and the person should see it)."""
    after = live_store.read_live_state(ctx.ssm, ctx.namespace)
    for variant in sorted(set(after.overrides) - set(before.overrides) - {own}):
        ctx.out.warning(f"meanwhile: {escape(describe_override(after.overrides[variant]))}")
    return after
