"""Which decommission steps of the active phase are due (pure).

The memo's Phase 4: keep M1 warm 72 h (keep_warm), then scale it to zero (scale_to_zero), deprecate it after two
weeks (deprecate). Steps are timed from when the phase became active. Only `deprecate` changes live state
(a `deprecations/<variant>` record that makes runtimes stop assigning the variant); the other two are
infrastructure actions this tool reports for a person or the deployment pipeline to carry out.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from registry.durations import parse_duration
from registry.model import DecommissionAction, Phase


class StepState(StrEnum):
    PENDING = "pending"
    DUE = "due"
    DONE = "done"


@dataclass(frozen=True)
class DueStep:
    phase: str
    action: DecommissionAction
    variant: str
    due_at: datetime
    state: StepState
    description: str

    @property
    def records_deprecation(self) -> bool:
        return self.action is DecommissionAction.DEPRECATE

    def to_dict(self) -> dict[str, object]:
        return {"phase": self.phase, "action": self.action.value, "variant": self.variant,
                "due_at": self.due_at.isoformat(), "state": self.state.value, "description": self.description}


def decommission_steps(phase: Phase, entered_at: datetime, now: datetime, deprecated: Set[str]) -> list[DueStep]:
    """Every step of `phase` with its due time and state; a deprecation already recorded is DONE."""
    steps = []
    for step in phase.decommission:
        due_at = entered_at + timedelta(seconds=parse_duration(step.after))
        if step.action is DecommissionAction.DEPRECATE and step.variant in deprecated:
            state = StepState.DONE
        elif now >= due_at:
            state = StepState.DUE
        else:
            state = StepState.PENDING
        steps.append(DueStep(phase.name, step.action, step.variant, due_at, state, step.description))
    return sorted(steps, key=lambda s: s.due_at)


def due_deprecations(steps: list[DueStep]) -> list[DueStep]:
    """The steps `voicectl decommission run` records now."""
    return [s for s in steps if s.records_deprecation and s.state is StepState.DUE]
