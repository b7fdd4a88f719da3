"""Semantic rules of a registry: the cross-references and AWS limits a schema cannot express.

Each rule is a pure function of the model and yields located diagnostics; `check_rules` runs them all, so one
run reports every mistake of a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from registry.detection import MEMO_RTO_SECONDS, cadence, detection_bounds
from registry.errors import Diagnostic, shown
from registry.model import (
    ApprovalGate,
    DecommissionAction,
    MetricGate,
    Phase,
    Registry,
)
from registry.statistics import SIMPLE_STATISTICS, is_valid_statistic, parse_statistic
from registry.yaml_source import SourceMap

# CloudWatch (PutMetricAlarm reference): Period is 10, 20, 30 or a multiple of 60; Period x EvaluationPeriods is at
# most seven days, and at most one day when the period is under an hour.
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
MAX_EVALUATION_SECONDS = 604_800
MAX_EVALUATION_SECONDS_SHORT_PERIOD = 86_400
TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DIMENSION_NAME = re.compile(r"^[A-Za-z0-9_.\-/#:]{1,255}$")
RESERVED_SSM_PREFIXES = ("/aws", "/ssm")

Path = tuple[str | int, ...]


@dataclass
class KnownNames:
    """Names declared in the file even when their entry is structurally broken (avoids cascades of errors)."""

    variants: set[str] = field(default_factory=set)
    topics: set[str] = field(default_factory=set)
    served: set[str] = field(default_factory=set)  # variants some phase gives a share, as written
    main_phases: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)  # top-level fields replaced by a stand-in: their rules are skipped


@dataclass
class _Ctx:
    registry: Registry
    source: SourceMap
    known: KnownNames

    def error(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        return Diagnostic(self.source.locate(path, key=key), message, "error", hint)

    def warn(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        return Diagnostic(self.source.locate(path, key=key), message, "warning", hint)

    @property
    def baseline(self) -> str | None:
        """The baseline, unless that field is broken or missing (then nothing is compared with it)."""
        return None if "baseline" in self.known.broken else self.registry.baseline

    @property
    def variants(self) -> set[str]:
        return set(self.registry.variants) | self.known.variants

    def variant_hint(self, name: str) -> str:
        """Did-you-mean for an undeclared variant name, else the list of declared ones."""
        return suggest(name, self.variants, "declared variants")

    @property
    def served(self) -> set[str]:
        """Variants some phase (main or path, external or internal) gives a share."""
        reg = self.registry
        return {v for _, ph in _phase_paths(reg) for w in (ph.weights, ph.internal_weights or {})
                for v, pct in w.items() if pct > 0} | self.known.served


def suggest(name: str, candidates: set[str], what: str) -> str:
    """'did you mean X?' when a candidate is close to `name`, else the candidates listed."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean {shown(close[0])}?" if close else f"{what}: {', '.join(sorted(candidates)) or 'none'}"


def statistic_hint(statistic: str) -> str:
    """The likeliest fix for an invalid statistic (case, a common abbreviation, a percentile out of range)."""
    if is_valid_statistic(statistic.lower()):
        return f"write it in lower case: {statistic.lower()}"
    by_lower = {s.lower(): s for s in SIMPLE_STATISTICS} | {"avg": "Average", "mean": "Average", "min": "Minimum",
                                                           "max": "Maximum", "count": "SampleCount", "total": "Sum"}
    if statistic.lower() in by_lower:
        return f"did you mean {shown(by_lower[statistic.lower()])}?"
    if re.fullmatch(r"[pP]\d+(\.\d+)?", statistic):
        return "a percentile is p0..p100 with at most ten decimals, e.g. p95 or p99.9"
    return "use SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p50, p95 or p99.9"


def _phase_paths(reg: Registry) -> Iterator[tuple[Path, Phase]]:
    for i, phase in enumerate(reg.phases):
        yield ("phases", i), phase
    for name, path in reg.paths.items():
        for i, phase in enumerate(path.phases):
            yield ("paths", name, "phases", i), phase


def _check_namespace(c: _Ctx) -> Iterator[Diagnostic]:
    if "namespace" in c.known.broken:
        return
    ns = c.registry.namespace
    if ns.lower().startswith(RESERVED_SSM_PREFIXES):
        yield c.error(("namespace",), f"namespace {shown(ns)} uses a prefix SSM reserves (/aws, /ssm)",
                      "pick /yourco/voice")
    if ns.count("/") > 10:
        yield c.error(("namespace",), "SSM allows at most 15 levels in a parameter name; keep the namespace short")
    if "metrics_namespace" not in c.known.broken and c.registry.metrics_namespace.startswith("AWS/"):
        yield c.error(("metrics_namespace",), f"metrics_namespace {shown(c.registry.metrics_namespace)} is reserved "
                      "for AWS services; the runtime cannot publish there", "e.g. metrics_namespace: YourCo/Voice")


def _check_baseline(c: _Ctx) -> Iterator[Diagnostic]:
    reg = c.registry
    if "baseline" in c.known.broken:
        return
    if reg.baseline not in c.variants:
        yield c.error(("baseline",), f"baseline {shown(reg.baseline)} is not a declared variant",
                      c.variant_hint(reg.baseline))
        return
    variant = reg.variants.get(reg.baseline)
    if variant is None:
        return
    if variant.internal_only:
        yield c.error(("baseline",), f"baseline {shown(reg.baseline)} is internal_only, so external callers "
                      "would have nowhere to go on a revert", f"set variants.{reg.baseline}.internal_only: false")
    if variant.deprecated:
        yield c.error(("baseline",), f"baseline {shown(reg.baseline)} is deprecated; reverts must land on a live "
                      "variant", "choose another baseline or un-deprecate it")


def _check_weight_map(c: _Ctx, path: Path, weights: dict[str, int], label: str) -> Iterator[Diagnostic]:
    for name, value in weights.items():
        if name not in c.variants:
            yield c.error((*path, name), f"{label}: undeclared variant {shown(name)}", c.variant_hint(name), key=True)
        if not 0 <= value <= 100:
            yield c.error((*path, name), f"{label}: {shown(name)} is {value}; weights are whole percents 0..100")
    total = sum(weights.values())
    if total != 100:
        yield c.error(path, f"{label} sum to {total}, not 100", "adjust them so they add up to 100")


def _check_phases(c: _Ctx) -> Iterator[Diagnostic]:
    seen: dict[str, Path] = {}
    for path, phase in _phase_paths(c.registry):
        if phase.name in seen:
            first = c.source.locate(seen[phase.name])
            yield c.error((*path, "name"), f"phase name {shown(phase.name)} is used twice (first at line {first.line})",
                          "phase names must be unique across the main sequence and all paths")
        else:
            seen[phase.name] = path
        yield from _check_weight_map(c, (*path, "weights"), phase.weights, f"weights of phase {shown(phase.name)}")
        if phase.internal_weights is not None:
            yield from _check_weight_map(c, (*path, "internal_weights"), phase.internal_weights,
                                         f"internal_weights of phase {shown(phase.name)}")
        for name, value in phase.weights.items():
            variant = c.registry.variants.get(name)
            if variant and value > 0 and variant.internal_only:
                yield c.warn((*path, "weights", name), f"phase {shown(phase.name)} gives {value}% to internal-only "
                             f"variant {shown(name)}: external subjects in that share are served the baseline",
                             f"set variants.{name}.internal_only: false when the canary opens, or use internal_weights")
        for g, gate in enumerate(phase.gates):
            yield from _check_gate(c, (*path, "gates", g), gate, phase)
        if phase.gates and not phase.bake:
            yield c.warn((*path, "gates"), f"phase {shown(phase.name)} has gates but no bake: they are judged over "
                         "the last hour only", "add bake: 48h (the memo's watch window)", key=True)
        for s, step in enumerate(phase.decommission):
            if step.variant not in c.variants:
                yield c.error((*path, "decommission", s, "variant"),
                              f"decommission step names undeclared variant {shown(step.variant)}",
                              c.variant_hint(step.variant))
            if step.action is DecommissionAction.DEPRECATE and phase.weights.get(step.variant, 0) > 0:
                yield c.error((*path, "decommission", s), f"cannot deprecate {shown(step.variant)} in phase "
                              f"{shown(phase.name)}, which still gives it {phase.weights[step.variant]}%")
            elif step.action is DecommissionAction.DEPRECATE and step.variant == c.baseline:
                yield c.warn((*path, "decommission", s), f"this step deprecates the baseline {shown(step.variant)}: "
                             "once it runs, a revert has no live variant to send traffic to",
                             "before it is due, set baseline: to the variant that replaced it and apply")


def _check_gate(c: _Ctx, path: Path, gate: MetricGate | ApprovalGate, phase: Phase) -> Iterator[Diagnostic]:
    if isinstance(gate, ApprovalGate):
        if not 0 <= gate.min_score <= gate.max_score:
            yield c.error((*path, "min_score"), f"min_score {gate.min_score} must be between 0 and max_score "
                          f"{gate.max_score}")
        return
    if not is_valid_statistic(gate.statistic):
        yield c.error((*path, "statistic"), f"gate statistic {shown(gate.statistic)} is not a CloudWatch statistic",
                      statistic_hint(gate.statistic))
    else:
        yield from _check_computable(c, (*path, "statistic"), gate.statistic, "gate")
    if gate.below is not None and gate.above is not None:
        yield c.error((*path, "above"), "a metric gate takes one of below: or above:, not both",
                      "split it into two gates", key=True)
    elif gate.below is None and gate.above is None:
        yield c.error(path, "a metric gate needs a limit: below: or above:", "e.g. below: 300")
    yield from _check_dimensions(c, (*path, "dimensions"), gate.dimensions)
    variant = gate.dimensions.get("Variant")
    if variant in c.registry.variants:
        shares = [phase.weights.get(variant, 0), (phase.internal_weights or {}).get(variant, 0)]
        if max(shares) == 0:
            yield c.warn(path, f"gate on {shown(variant)} in phase {shown(phase.name)}, which gives it no traffic: "
                         "its data will be missing and the gate will hold", "gate a variant that has traffic")


def _check_computable(c: _Ctx, path: Path, statistic: str, what: str) -> Iterator[Diagnostic]:
    """CloudWatch takes it, but the backtest, the embedded stack and the gates could only guess its value."""
    parsed = parse_statistic(statistic)
    why = parsed.unsupported if parsed else None
    if why:
        yield c.error(path, f"{what} statistic {statistic!r} is valid for CloudWatch but not computed by "
                      f"voice-rollout: {why}", "use SampleCount, Average, Sum, Minimum, Maximum, a percentile "
                      "(p95, p99.9) or value bounds (TM(100:900), TC(:500))")


def _check_dimensions(c: _Ctx, path: Path, dimensions: dict[str, str]) -> Iterator[Diagnostic]:
    if len(dimensions) > 30:
        yield c.error(path, "CloudWatch allows at most 30 dimensions")
    for key, value in dimensions.items():
        if not DIMENSION_NAME.match(key):
            yield c.error((*path, key), f"dimension name {shown(key)} is not valid for CloudWatch", key=True)
        if not value or len(value) > 1024:
            yield c.error((*path, key), f"dimension {shown(key)} needs a value of 1..1024 characters")
        if key == "Variant" and value not in c.variants:
            yield c.error((*path, key), f"dimension Variant names undeclared variant {shown(value)}",
                          c.variant_hint(value))


def _check_alarms(c: _Ctx) -> Iterator[Diagnostic]:
    reg = c.registry
    served = c.served
    for name, alarm in reg.alarms.items():
        path: Path = ("alarms", name)
        if not re.match(r"^[\x20-\x7e]{1,255}$", name):
            yield c.error(path, f"alarm name {shown(name)} must be 1..255 printable ASCII characters", key=True)
        if not is_valid_statistic(alarm.statistic):
            yield c.error((*path, "statistic"), f"statistic {shown(alarm.statistic)} is not valid for CloudWatch",
                          statistic_hint(alarm.statistic))
        else:
            yield from _check_computable(c, (*path, "statistic"), alarm.statistic, "alarm")
        if alarm.period not in HIGH_RESOLUTION_PERIODS and (alarm.period <= 0 or alarm.period % 60):
            yield c.error((*path, "period"), f"period {alarm.period} is not allowed: CloudWatch takes 10, 20, 30 "
                          "or a multiple of 60 seconds", "e.g. period: 60 or period: 300")
        if alarm.evaluation_periods < 1:
            yield c.error((*path, "evaluation_periods"), "evaluation_periods must be at least 1")
        elif (total := alarm.period * alarm.evaluation_periods) > (
                limit := MAX_EVALUATION_SECONDS if alarm.period >= 3600 else MAX_EVALUATION_SECONDS_SHORT_PERIOD):
            which = "seven-day limit" if limit == MAX_EVALUATION_SECONDS else "one-day limit for periods under an hour"
            yield c.error((*path, "evaluation_periods"), f"period x evaluation_periods = {total} s exceeds "
                          f"CloudWatch's {which} ({limit} s)", "shorten the period or evaluate fewer periods")
        dta = alarm.datapoints_to_alarm
        if dta is not None and alarm.evaluation_periods >= 1 and not 1 <= dta <= alarm.evaluation_periods:
            yield c.error((*path, "datapoints_to_alarm"), f"datapoints_to_alarm {dta} must be "
                          f"between 1 and evaluation_periods ({alarm.evaluation_periods})")
        yield from _check_dimensions(c, (*path, "dimensions"), alarm.dimensions)
        yield from _check_actions(c, path, name, served)
        actions = alarm.actions
        if actions.revert and alarm.period > 0 and alarm.evaluation_periods >= 1:
            m = min(alarm.datapoints_to_alarm or alarm.evaluation_periods, alarm.evaluation_periods)
            earliest, latest = detection_bounds(alarm.period, max(m, 1))
            if earliest > MEMO_RTO_SECONDS:
                yield c.warn((*path, "period"), f"alarm {name!r} reverts {', '.join(actions.revert)} but cannot fire "
                             f"sooner than {earliest:g} s after a regression starts (latest {latest:g} s: "
                             f"{m} x {alarm.period} s periods, evaluated every {cadence(alarm.period)} s), "
                             f"beyond the memo's {MEMO_RTO_SECONDS} s RTO",
                             "a shorter period or fewer datapoints_to_alarm detects sooner; the RTO starts at the "
                             "alarm")
        if not (actions.notify or actions.revert or actions.rollback_deployment):
            yield c.warn((*path, "actions"), f"alarm {shown(name)} has no actions: it will change state and do nothing",
                         "add notify: [topic] at least")


def _check_actions(c: _Ctx, path: Path, name: str, served: set[str]) -> Iterator[Diagnostic]:
    reg = c.registry
    actions = reg.alarms[name].actions
    for i, target in enumerate(actions.revert):
        where = (*path, "actions", "revert", i)
        if target not in c.variants:
            yield c.error(where, f"alarm {shown(name)} reverts undeclared variant {shown(target)}",
                          c.variant_hint(target))
        elif target == c.baseline:
            yield c.error(where, f"alarm {shown(name)} reverts the baseline {shown(target)}: reverted traffic goes to "
                          "the baseline, so it cannot be the target", "revert the variant under test instead")
        elif target not in served:
            yield c.warn(where, f"alarm {shown(name)} reverts {shown(target)}, which no phase ever gives traffic")
    for i, topic in enumerate(actions.notify):
        where = (*path, "actions", "notify", i)
        if not TOPIC_NAME.match(topic):
            yield c.error(where, f"topic name {shown(topic)} is not a valid SNS topic name (letters, digits, - and _)")
        elif reg.topics and topic not in reg.topics and topic not in c.known.topics:
            yield c.error(where, f"alarm {shown(name)} notifies undeclared topic {shown(topic)}",
                          suggest(topic, set(reg.topics) | c.known.topics, "declared topics"))
    if actions.rollback_deployment and reg.deployment is None and "deployment" not in c.known.broken:
        yield c.error((*path, "actions", "rollback_deployment"), f"alarm {shown(name)} asks for a deployment rollback "
                      "but the file has no deployment: section", "add deployment: {application: ..., "
                      "deployment_group: ...}")


def _check_paths(c: _Ctx) -> Iterator[Diagnostic]:
    main = {p.name for p in c.registry.phases} | c.known.main_phases
    for name, path in c.registry.paths.items():
        if path.branches_from not in main:
            yield c.error(("paths", name, "branches_from"), f"path {shown(name)} branches from unknown phase "
                          f"{shown(path.branches_from)}", suggest(path.branches_from, main, "main phases"))


def _check_variants(c: _Ctx) -> Iterator[Diagnostic]:
    reg = c.registry
    served = c.served
    for name, variant in reg.variants.items():
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name):
            yield c.error(("variants", name), f"variant name {shown(name)} must be letters, digits, '.', '_' or '-' "
                          "(it becomes an SSM parameter name and a metric dimension)", key=True)
        if name not in served and name != c.baseline:
            yield c.warn(("variants", name), f"variant {shown(name)} gets traffic in no phase", key=True)
        if variant.resolved_backend().value == "nova_sonic" and not variant.bedrock_model_id:
            yield c.error(("variants", name), f"Nova Sonic variant {shown(name)} needs bedrock_model_id",
                          "e.g. bedrock_model_id: amazon.nova-sonic-v1:0", key=True)
        if variant.resolved_backend().value == "csm_sagemaker" and not variant.sagemaker_endpoint:
            yield c.error(("variants", name), f"SageMaker variant {shown(name)} needs sagemaker_endpoint", key=True)


def _check_pricing(c: _Ctx) -> Iterator[Diagnostic]:
    if c.registry.pricing is None:
        return
    for name in c.registry.pricing.variants:
        if name not in c.variants:
            yield c.error(("pricing", "variants", name), f"pricing names undeclared variant {shown(name)}",
                          c.variant_hint(name), key=True)


def _check_cache(c: _Ctx) -> Iterator[Diagnostic]:
    if c.registry.cache_ttl_seconds > 60:
        yield c.warn(("cache_ttl_seconds",), f"cache_ttl_seconds {c.registry.cache_ttl_seconds} exceeds the memo's "
                     "60 s revert RTO: a revert reaches every runtime only after a full cache period")


RULES: tuple[Callable[[_Ctx], Iterator[Diagnostic]], ...] = (
    _check_namespace, _check_baseline, _check_variants, _check_phases, _check_paths, _check_alarms,
    _check_pricing, _check_cache,
)


def check_rules(registry: Registry, source: SourceMap, known: KnownNames | None = None) -> list[Diagnostic]:
    """Run every semantic rule; the result holds errors and warnings, each with its file:line:column."""
    ctx = _Ctx(registry, source, known or KnownNames())
    return [d for rule in RULES for d in rule(ctx)]
