"""The phase state machine: next phase, --to, --path, rollback targets (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from control_plane.rollout.machine import Topology, active_phase, advance_step, rollback_target
from registry.compiled import compile_registry
from registry.errors import StepProblem, StepRefused, UsageError
from registry.live_state import PhaseRecord
from registry.loader import load_registry

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def topo(example_path: Path) -> Topology:
    return Topology.of_registry(load_registry(example_path))


def test_topology_from_file_and_from_the_applied_parameter_agree_except_branch_points(example_path: Path) -> None:
    registry = load_registry(example_path)
    from_file, applied = Topology.of_registry(registry), Topology.of_compiled(compile_registry(registry))
    assert from_file.main == applied.main
    assert from_file.paths == applied.paths == {"csm-fallback": ("PathB_CSM_Internal",)}
    assert from_file.branches_from == {"csm-fallback": "Phase2_Week2"}
    assert applied.branches_from == {"csm-fallback": None}


def test_first_phase_is_active_before_any_record(topo: Topology) -> None:
    assert active_phase(topo, None) == "Phase1_Week1"
    assert active_phase(topo, PhaseRecord(phase="Phase3_Week5", at=T0)) == "Phase3_Week5"


def test_advance_moves_one_step(topo: Topology) -> None:
    step = advance_step(topo, "Phase2_Week2")
    assert (step.target, step.path, step.skipped) == ("Phase3_Week4", None, ())


def test_advance_at_the_last_phase_is_a_usage_error(topo: Topology) -> None:
    with pytest.raises(UsageError, match="last phase"):
        advance_step(topo, "Phase4_Week7")
    with pytest.raises(UsageError, match="last phase of path 'csm-fallback'"):
        advance_step(topo, "PathB_CSM_Internal")


def test_to_a_later_phase_reports_the_skipped_ones(topo: Topology) -> None:
    step = advance_step(topo, "Phase2_Week2", to="Phase4_Week6")
    assert step.skipped == ("Phase3_Week4", "Phase3_Week5")
    with pytest.raises(UsageError, match="not after Phase3_Week5") as err:
        advance_step(topo, "Phase3_Week5", to="Phase2_Week2")
    assert isinstance(err.value, StepRefused)
    assert (err.value.problem, err.value.current, err.value.target) == (StepProblem.NOT_AFTER, "Phase3_Week5",
                                                                         "Phase2_Week2")
    with pytest.raises(UsageError, match="unknown phase"):
        advance_step(topo, "Phase2_Week2", to="Phase9")


def test_path_is_taken_only_at_its_decision_gate(topo: Topology) -> None:
    step = advance_step(topo, "Phase2_Week2", path="csm-fallback")
    assert (step.target, step.path) == ("PathB_CSM_Internal", "csm-fallback")
    assert advance_step(topo, "Phase2_Week2", to="PathB_CSM_Internal").path == "csm-fallback"
    with pytest.raises(UsageError, match="branches from Phase2_Week2"):
        advance_step(topo, "Phase3_Week4", path="csm-fallback")
    with pytest.raises(UsageError, match="unknown path"):
        advance_step(topo, "Phase2_Week2", path="plan-c")


def test_rollback_goes_to_the_previous_phase_or_the_branch_point(topo: Topology) -> None:
    assert rollback_target(topo, "Phase3_Week5", None) == "Phase3_Week4"
    assert rollback_target(topo, "PathB_CSM_Internal", None) == "Phase2_Week2"
    assert rollback_target(topo, "Phase4_Week7", None, to="Phase1_Week1") == "Phase1_Week1"
    with pytest.raises(UsageError, match="first phase"):
        rollback_target(topo, "Phase1_Week1", None)
    with pytest.raises(UsageError, match="that is an advance"):
        rollback_target(topo, "Phase3_Week4", None, to="Phase4_Week6")
    with pytest.raises(UsageError, match="already the active phase"):
        rollback_target(topo, "Phase3_Week4", None, to="Phase3_Week4")


def test_rollback_from_a_path_without_the_file_uses_the_recorded_previous_phase(example_path: Path) -> None:
    applied = Topology.of_compiled(compile_registry(load_registry(example_path)))
    record = PhaseRecord(phase="PathB_CSM_Internal", previous="Phase2_Week2", at=T0)
    assert rollback_target(applied, "PathB_CSM_Internal", record) == "Phase2_Week2"
    with pytest.raises(UsageError, match="branched from"):
        rollback_target(applied, "PathB_CSM_Internal", None)


def test_rollback_from_a_phase_the_registry_no_longer_has(topo: Topology) -> None:
    assert rollback_target(topo, "Phase_Removed", None, to="Phase3_Week4") == "Phase3_Week4"
    with pytest.raises(UsageError, match="not in the registry any more"):
        rollback_target(topo, "Phase_Removed", None)


def test_only_entering_a_path_is_a_branch(topo: Topology) -> None:
    assert advance_step(topo, "Phase2_Week2", path="csm-fallback").branch
    assert not advance_step(topo, "Phase2_Week2").branch
