"""The phase state machine (pure): which phase is active, what advance and rollback move to.

The main sequence is the file's `phases:`; each alternative path (the memo's Path B) is its own sequence entered
from its `branches_from` phase with `advance --path NAME`. Advance moves one step; `--to` may name a later phase,
in which case the phases jumped over are reported (the guard refuses that unless forced, because their gates were
never checked). Rollback always works and moves back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.compiled import CompiledRegistry
from registry.errors import StepProblem, StepRefused, UnknownName
from registry.live_state import PhaseRecord
from registry.model import Registry


@dataclass(frozen=True)
class Topology:
    """Phase names in order: the main sequence, each path's sequence, and where each path branches from."""

    main: tuple[str, ...]
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    branches_from: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of_registry(cls, registry: Registry) -> Topology:
        return cls(
            main=tuple(p.name for p in registry.phases),
            paths={n: tuple(p.name for p in path.phases) for n, path in registry.paths.items()},
            branches_from={n: path.branches_from for n, path in registry.paths.items()},
        )

    @classmethod
    def of_compiled(cls, compiled: CompiledRegistry) -> Topology:
        """From the live `registry` parameter, which does not record where paths branch from."""
        paths: dict[str, list[str]] = {}
        for phase in compiled.phases:
            if phase.path:
                paths.setdefault(phase.path, []).append(phase.name)
        return cls(
            main=tuple(p.name for p in compiled.phases if not p.path),
            paths={n: tuple(names) for n, names in paths.items()},
            branches_from=dict.fromkeys(paths),
        )

    def all_phases(self) -> list[str]:
        return [*self.main, *(name for seq in self.paths.values() for name in seq)]

    def locate(self, phase: str) -> tuple[str | None, int]:
        """(path name or None for the main sequence, index in that sequence); UnknownName if unknown."""
        if phase in self.main:
            return None, self.main.index(phase)
        for name, seq in self.paths.items():
            if phase in seq:
                return name, seq.index(phase)
        raise UnknownName("phase", phase, self.all_phases())

    def sequence(self, path: str | None) -> tuple[str, ...]:
        return self.main if path is None else self.paths[path]


def active_phase(topology: Topology, record: PhaseRecord | None) -> str:
    """The active phase: the recorded one, or the first phase when nothing was ever recorded (an `init`)."""
    if record is None:
        if not topology.main:
            raise StepRefused(StepProblem.NO_PHASES, "the registry has no phases")
        return topology.main[0]
    return record.phase


@dataclass(frozen=True)
class Step:
    """Where an advance goes: the target phase, its path, and any phases it jumps over. `branch` is True when
    the step leaves the current sequence for an alternative path at its decision gate."""

    current: str
    target: str
    path: str | None
    skipped: tuple[str, ...] = ()
    branch: bool = False


def advance_step(topology: Topology, current: str, *, to: str | None = None, path: str | None = None) -> Step:
    """The next phase (or `to`, or the first phase of `path`); UnknownName / StepRefused when there is none."""
    cur_path, index = topology.locate(current)
    if path is not None:
        if path not in topology.paths:
            raise UnknownName("path", path, list(topology.paths))
        origin = topology.branches_from.get(path)
        if origin is not None and origin != current:
            raise StepRefused(StepProblem.PATH_ELSEWHERE, f"path {path!r} branches from {origin}, but the active "
                              f"phase is {current}", current=current, path=path, expected=origin)
        first = topology.paths[path][0]
        if to is not None and to != first:
            raise StepRefused(StepProblem.NOT_PATH_START, f"{to} is not the first phase of path {path!r} ({first})",
                              current=current, target=to, path=path, expected=first)
        return Step(current, first, path, branch=True)
    seq = topology.sequence(cur_path)
    if to is None:
        if index + 1 >= len(seq):
            where = f"path {cur_path!r}" if cur_path else "the rollout"
            raise StepRefused(StepProblem.LAST_PHASE, f"{current} is the last phase of {where}; there is nothing "
                              "to advance to", current=current, path=cur_path)
        return Step(current, seq[index + 1], cur_path)
    to_path, to_index = topology.locate(to)
    if to_path != cur_path:
        if to_path is not None and to_index == 0:
            return advance_step(topology, current, path=to_path)
        raise StepRefused(StepProblem.OTHER_SEQUENCE, f"{to} is not on the same sequence as {current}",
                          current=current, target=to, choices=list(topology.paths))
    if to_index <= index:
        raise StepRefused(StepProblem.NOT_AFTER, f"{to} is not after {current}", current=current, target=to)
    return Step(current, to, cur_path, skipped=seq[index + 1:to_index])


def rollback_target(topology: Topology, current: str, record: PhaseRecord | None, *, to: str | None = None) -> str:
    """The phase a rollback moves to: `--to`, else the phase before the current one in its sequence (for a path's
    first phase, the phase it branched from). Rollback must always work: from a phase the registry no longer
    has, `--to` any known phase is accepted."""
    if to is not None and current not in topology.all_phases():
        topology.locate(to)
        return to
    try:
        cur_path, index = topology.locate(current)
    except UnknownName as exc:
        raise StepRefused(StepProblem.ACTIVE_UNKNOWN, f"the active phase {current!r} is not in the registry any "
                          "more", current=current, choices=topology.all_phases()) from exc
    if to is not None:
        if to == current:
            raise StepRefused(StepProblem.ALREADY_ACTIVE, f"{to} is already the active phase", current=current,
                              target=to)
        to_path, to_index = topology.locate(to)
        if to_path == cur_path and to_index > index:
            raise StepRefused(StepProblem.IS_ADVANCE, f"{to} is after {current}: that is an advance",
                              current=current, target=to)
        return to
    if index > 0:
        return topology.sequence(cur_path)[index - 1]
    if cur_path is not None:
        origin = topology.branches_from.get(cur_path) or (record.previous if record else None)
        if origin:
            return origin
        raise StepRefused(StepProblem.ORIGIN_UNKNOWN, f"cannot tell which phase path {cur_path!r} branched from",
                          current=current, path=cur_path)
    raise StepRefused(StepProblem.FIRST_PHASE, f"{current} is the first phase; there is nothing to roll back to",
                      current=current)
