"""Live state under the namespace (DESIGN.md) and the effective weights a runtime serves.

Three kinds of writer touch live state and none overwrites another's parameter:

| parameter                | written by                          |
| `registry`               | voicectl apply                      |
| `rollout/phase`          | voicectl advance / rollback         |
| `overrides/<variant>`    | revert handler, voicectl override   |
| `variant_overrides`      | on-call by hand (memo's runbook)    |
| `approvals/<phase>`      | voicectl approve (manual gates)     |
| `deprecations/<variant>` | voicectl decommission (Phase 4)     |

Everything here is pure: parsing parameter values and combining them.

A value that is present but does not parse is read the most conservative way, never skipped: skipping a malformed
`overrides/<variant>` would silently remove a revert. So a malformed override pins that variant to 0, and a
malformed runbook map sends everything to the baseline (what the memo's emergency map does). Both are named in
`problems`, which `voicectl status` and `voicectl runbook verify` report as errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry.compiled import CompiledRegistry


def param_registry(ns: str) -> str:
    return f"{ns}/registry"


def param_phase(ns: str) -> str:
    return f"{ns}/rollout/phase"


def param_override(ns: str, variant: str) -> str:
    return f"{ns}/overrides/{variant}"


def param_runbook(ns: str) -> str:
    return f"{ns}/variant_overrides"


def param_approval(ns: str, phase: str) -> str:
    return f"{ns}/approvals/{phase}"


def param_deprecation(ns: str, variant: str) -> str:
    return f"{ns}/deprecations/{variant}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PhaseRecord(_Record):
    """The `rollout/phase` value: which phase is active, and who moved it there, when and why."""

    phase: str
    path: str | None = None
    action: Literal["init", "advance", "rollback", "force"] = "advance"
    actor: str = "unknown"
    reason: str = ""
    at: datetime
    previous: str | None = None


class RevertMark(_Record):
    """One alarm transition that reverted a variant (an override keeps every one, so `clear` checks them all)."""

    alarm: str
    at: datetime
    reason: str = ""


class OverrideRecord(_Record):
    """An `overrides/<variant>` value: the variant's forced share and who set it.

    `alarm` is the alarm whose revert wrote this version; `reverts` lists every alarm that reverted the variant
    while the override stood (two alarms may revert the same variant), so none of them is forgotten by `clear`.
    """

    variant: str
    share: int = Field(ge=0, le=100)
    source: Literal["alarm", "person"] = "person"
    actor: str = "unknown"
    alarm: str | None = None
    reason: str = ""
    at: datetime
    reverts: tuple[RevertMark, ...] = ()

    @property
    def reverting_alarms(self) -> list[str]:
        """Every alarm whose revert this override holds, sorted; [] for a person's override."""
        if self.source != "alarm":
            return []
        return sorted({m.alarm for m in self.reverts} | ({self.alarm} if self.alarm else set()))


class ApprovalRecord(_Record):
    phase: str
    approval: str
    score: float
    by: str
    at: datetime
    note: str = ""


class DeprecationRecord(_Record):
    variant: str
    actor: str = "unknown"
    reason: str = ""
    at: datetime


class LiveState(_Record):
    """Everything a runtime reads in its one batch per cache period."""

    registry: CompiledRegistry | None = None
    phase: PhaseRecord | None = None
    overrides: dict[str, OverrideRecord] = Field(default_factory=dict)
    runbook: dict[str, int] = Field(default_factory=dict)
    deprecated: frozenset[str] = frozenset()
    unreadable_overrides: frozenset[str] = Field(
        default=frozenset(), description="Variants whose overrides/<variant> does not parse: read as pinned to 0.")
    runbook_unreadable: bool = Field(
        default=False, description="variant_overrides does not parse: read as everything to the baseline.")
    problems: tuple[str, ...] = Field(default=(), description="Values that did not parse, and how each is read.")


def parse_runbook_map(text: str) -> dict[str, int]:
    """The memo's `{"sonic-unified": 0, "transcribe-polly-baseline": 100}`; raise ValueError if malformed."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("variant_overrides must be a JSON object of variant -> share")
    out: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError(f"variant_overrides[{key!r}] must be a number 0..100, got {value!r}")
        out[str(key)] = round(value)
    return out


def live_state_from_parameters(namespace: str, values: Mapping[str, str]) -> LiveState:
    """Build the live state from a `{parameter name: value}` map (as one GetParametersByPath returns it).

    Never raises, because a runtime must keep serving turns, and fails safe: a malformed override pins its
    variant (named by the parameter) to 0 and a malformed runbook map sends everything to the baseline; each is
    named in `problems` with how it is read.
    """
    problems: list[str] = []
    fields: dict[str, Any] = {"overrides": {}, "deprecated": set(), "unreadable_overrides": set()}

    def parse(name: str, build: Any, read_as: str) -> Any:
        try:
            return build(values[name])
        except (ValueError, ValidationError, TypeError) as exc:
            problems.append(f"{name}: {str(exc).splitlines()[0]} (read as {read_as})")
            return None

    if param_registry(namespace) in values:
        fields["registry"] = parse(param_registry(namespace), CompiledRegistry.model_validate_json,
                                   "no registry: runtimes keep their last good copy, or the baseline")
    if param_phase(namespace) in values:
        fields["phase"] = parse(param_phase(namespace), PhaseRecord.model_validate_json, "the first phase")
    if param_runbook(namespace) in values:
        runbook = parse(param_runbook(namespace), parse_runbook_map, "everything to the baseline")
        fields["runbook"] = runbook or {}
        fields["runbook_unreadable"] = runbook is None
    override_prefix = param_override(namespace, "")
    deprecation_prefix = param_deprecation(namespace, "")
    for name in sorted(values):
        if name.startswith(override_prefix):
            variant = name[len(override_prefix):]
            record = parse(name, partial(_override_of, variant), f"{variant} at 0%")
            if record is None:
                fields["unreadable_overrides"].add(variant)
            else:
                fields["overrides"][variant] = record
        elif name.startswith(deprecation_prefix):
            record = parse(name, DeprecationRecord.model_validate_json, "not deprecated")
            if record is not None:
                fields["deprecated"].add(record.variant)
    fields["deprecated"] = frozenset(fields["deprecated"])
    fields["unreadable_overrides"] = frozenset(fields["unreadable_overrides"])
    return LiveState(problems=tuple(problems), **{k: v for k, v in fields.items() if v is not None})


def _override_of(variant: str, text: str) -> OverrideRecord:
    record = OverrideRecord.model_validate_json(text)
    if record.variant != variant:  # a copy-paste into the wrong parameter: which variant is meant is unclear
        raise ValueError(f"the record names variant {record.variant!r}, the parameter {variant!r}")
    return record


def baseline_map(registry: CompiledRegistry) -> dict[str, int]:
    """Every variant to 0 and the baseline to 100: how a runbook map that does not parse is read."""
    return {v: (100 if v == registry.baseline else 0) for v in registry.variants}


def _force(weights: dict[str, float], forced: Mapping[str, float], baseline: str) -> dict[str, float]:
    """Pin `forced` variants to their shares; the rest share what remains in proportion to their weights,
    and it goes to the baseline when none of them has any."""
    pinned = {v: float(s) for v, s in forced.items() if v in weights}
    if not pinned:
        return weights
    pinned_total = sum(pinned.values())
    if pinned_total > 100:  # conflicting pins: scale them down rather than serve more than 100%
        pinned = {v: s * 100 / pinned_total for v, s in pinned.items()}
        pinned_total = 100.0
    free = {v: w for v, w in weights.items() if v not in pinned}
    remaining = 100.0 - pinned_total
    free_total = sum(free.values())
    out = dict(pinned)
    if free_total > 0:
        out.update({v: w * remaining / free_total for v, w in free.items()})
    else:
        out.update(dict.fromkeys(free, 0.0))
        if remaining > 0:
            target = baseline if baseline in free else max(pinned, key=lambda v: (pinned[v], v))
            out[target] = out.get(target, 0.0) + remaining
    return out


def effective_weights(state: LiveState, *, internal: bool = False) -> dict[str, float]:
    """The shares a runtime serves: the active phase's weights, then automated overrides, then the runbook map.

    Without a registry or a known phase, everything goes to the baseline (fail safe). Deprecated variants
    (in the file or by decommission) are forced to 0, and so are variants whose override does not parse; a runbook
    map that does not parse sends everything to the baseline.
    """
    reg = state.registry
    if reg is None:
        return {}
    phase = reg.phase(state.phase.phase) if state.phase else reg.phases[0] if reg.phases else None
    if phase is None:
        return {name: (100.0 if name == reg.baseline else 0.0) for name in reg.variants}
    source = phase.internal_weights if internal and phase.internal_weights is not None else phase.weights
    weights = {name: float(source.get(name, 0)) for name in reg.variants}
    forced: dict[str, float] = {v: o.share for v, o in state.overrides.items()}
    forced |= dict.fromkeys(state.unreadable_overrides, 0.0)
    weights = _force(weights, forced, reg.baseline)
    weights = _force(weights, baseline_map(reg) if state.runbook_unreadable else state.runbook, reg.baseline)
    dead = {v for v, c in reg.variants.items() if c.deprecated} | set(state.deprecated)
    if dead & {v for v, w in weights.items() if w > 0}:
        weights = _force(weights, dict.fromkeys(dead & set(weights), 0.0), reg.baseline)
    return {v: round(w, 6) for v, w in weights.items()}
