"""What an apply does to live traffic: effective weights before and after the new registry (pure).

apply never writes the active phase or an override, but the registry it writes holds the phases' weights, so
changing the file can still move traffic. The plan shows that move as a runtime will serve it (active phase,
then overrides, then the runbook map), and apply refuses the one change that silently sends everything to the
baseline: a registry without the active phase.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.compiled import CompiledRegistry
from registry.live_state import LiveState, effective_weights


@dataclass(frozen=True)
class Move:
    audience: str  # "all" | "internal"
    variant: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class TrafficImpact:
    active_phase: str | None  # as recorded in rollout/phase; None = never advanced (runtimes serve the first)
    blocker: str | None
    moves: tuple[Move, ...]

    @property
    def changed(self) -> bool:
        return bool(self.moves)

    def to_dict(self) -> dict[str, object]:
        return {"active_phase": self.active_phase, "blocker": self.blocker,
                "moves": [m.__dict__ for m in self.moves]}


def _moves(audience: str, before: dict[str, float], after: dict[str, float]) -> list[Move]:
    return [Move(audience, v, before.get(v), after.get(v)) for v in sorted(set(before) | set(after))
            if before.get(v) != after.get(v) and (before.get(v) or after.get(v))]


def traffic_impact(live: LiveState, new: CompiledRegistry) -> TrafficImpact:
    """The effective shares that change when `new` replaces the live registry, for all and internal subjects."""
    active = live.phase.phase if live.phase else None
    blocker = None
    if active is not None and new.phase(active) is None:
        blocker = (f"the active phase {active} is not in the file: every runtime would fall back to the "
                   f"baseline ({new.baseline}) alone")
    after = live.model_copy(update={"registry": new})
    moves = _moves("all", effective_weights(live), effective_weights(after))
    same = {(m.variant, m.before, m.after) for m in moves}
    # Internal subjects are listed only where they move differently from everyone else.
    moves += [m for m in _moves("internal", effective_weights(live, internal=True),
                                effective_weights(after, internal=True))
              if (m.variant, m.before, m.after) not in same]
    return TrafficImpact(active, blocker, tuple(moves))
