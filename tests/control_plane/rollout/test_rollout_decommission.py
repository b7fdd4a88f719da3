"""Which decommission steps are due (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from control_plane.rollout.decommission import StepState, decommission_steps, due_deprecations
from registry.loader import load_registry

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _last_phase(example_path: Path):  # type: ignore[no-untyped-def]
    phase = load_registry(example_path).phase("Phase4_Week7")
    assert phase is not None
    return phase


def test_steps_become_due_in_time(example_path: Path) -> None:
    phase = _last_phase(example_path)
    states = lambda now, dead=frozenset(): [s.state for s in decommission_steps(phase, T0, now, dead)]  # noqa: E731
    assert states(T0) == [StepState.DUE, StepState.PENDING, StepState.PENDING]
    assert states(T0 + timedelta(hours=72)) == [StepState.DUE, StepState.DUE, StepState.PENDING]
    assert states(T0 + timedelta(days=14)) == [StepState.DUE, StepState.DUE, StepState.DUE]
    assert states(T0 + timedelta(days=14), frozenset({"transcribe-polly-baseline"}))[-1] is StepState.DONE


def test_only_due_deprecations_are_recorded(example_path: Path) -> None:
    phase = _last_phase(example_path)
    assert due_deprecations(decommission_steps(phase, T0, T0 + timedelta(days=13), frozenset())) == []
    [step] = due_deprecations(decommission_steps(phase, T0, T0 + timedelta(days=14), frozenset()))
    assert (step.variant, step.due_at) == ("transcribe-polly-baseline", T0 + timedelta(days=14))
