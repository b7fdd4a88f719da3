"""The memo's cost model, recomputed from the registry's pricing section (pure).

Each cost item is unit price x quantity x its driver's volume. Drivers that scale with turns are variable;
instance hours and months are fixed (a GPU endpoint bills 24/7 whatever the traffic), which is what decides
break-even volumes between variants.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.model import CostAssumptions, CostDriver, CostItem, Pricing, Registry

FIXED_DRIVERS = {CostDriver.INSTANCE_HOURS, CostDriver.MONTHS}


@dataclass(frozen=True)
class LineCost:
    item: str
    driver: str
    monthly: float
    memo_monthly: float | None

    @property
    def memo_delta(self) -> float | None:
        return None if self.memo_monthly is None else self.monthly - self.memo_monthly


@dataclass(frozen=True)
class VariantCost:
    variant: str
    turns: int
    lines: tuple[LineCost, ...]
    fixed_monthly: float
    variable_per_turn: float

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def per_turn(self) -> float:
        return self.monthly / self.turns if self.turns else 0.0


@dataclass(frozen=True)
class PhaseCost:
    phase: str
    weights: dict[str, int]
    monthly: float
    per_turn: float
    by_variant: dict[str, float]


@dataclass(frozen=True)
class BreakEven:
    cheaper_below: str
    cheaper_above: str
    turns_per_month: float


def _volume(driver: CostDriver, a: CostAssumptions, turns: float) -> float:
    match driver:
        case CostDriver.TURNS:
            return turns
        case CostDriver.INPUT_AUDIO_MINUTES:
            return turns * a.input_audio_seconds_per_turn / 60
        case CostDriver.OUTPUT_AUDIO_MINUTES:
            return turns * a.output_audio_seconds_per_turn / 60
        case CostDriver.INPUT_AUDIO_TOKENS:
            return turns * a.input_audio_seconds_per_turn * a.audio_tokens_per_second
        case CostDriver.OUTPUT_AUDIO_TOKENS:
            return turns * a.output_audio_seconds_per_turn * a.audio_tokens_per_second
        case CostDriver.INSTANCE_HOURS:
            return a.hours_per_month
        case CostDriver.MONTHS:
            return 1.0


def _line(item: CostItem, a: CostAssumptions, turns: float) -> float:
    return item.unit_price * item.quantity * _volume(item.driver, a, turns)


def variant_cost(pricing: Pricing, variant: str, turns: int) -> VariantCost:
    """One variant's monthly bill at `turns` turns a month, if it served all of them."""
    a = pricing.assumptions
    items = pricing.variants.get(variant, [])
    lines = tuple(LineCost(i.item, i.driver.value, _line(i, a, turns),
                           i.memo_monthly if turns == a.turns_per_month else None) for i in items)
    fixed = sum(_line(i, a, turns) for i in items if i.driver in FIXED_DRIVERS)
    variable = sum(_line(i, a, 1) for i in items if i.driver not in FIXED_DRIVERS)
    return VariantCost(variant, turns, lines, fixed, variable)


def phase_costs(registry: Registry, turns: int) -> list[PhaseCost]:
    """Each phase's monthly bill at `turns` external turns a month.

    Variable costs scale with a variant's external share. Fixed costs (GPU instances, tasks) are paid in full as
    soon as a phase serves the variant at all, internal-only included: the memo's Path B runs two ml.g5.xlarge
    24/7 for an internal test. Internal traffic itself is taken as negligible next to production.
    """
    if registry.pricing is None:
        raise ValueError("the registry has no pricing section")
    out = []
    for phase in registry.all_phases():
        by_variant: dict[str, float] = {}
        internal = phase.internal_weights or {}
        for variant in [*phase.weights, *(v for v in internal if v not in phase.weights)]:
            pct = phase.weights.get(variant, 0)
            if pct <= 0 and internal.get(variant, 0) <= 0:
                continue
            cost = variant_cost(registry.pricing, variant, turns)
            by_variant[variant] = cost.fixed_monthly + cost.variable_per_turn * turns * pct / 100
        total = sum(by_variant.values())
        out.append(PhaseCost(phase.name, dict(phase.weights), total, total / turns if turns else 0.0, by_variant))
    return out


def break_even(a: VariantCost, b: VariantCost) -> BreakEven | None:
    """The monthly turn volume at which two variants cost the same, when the lines cross at a positive volume."""
    dv = a.variable_per_turn - b.variable_per_turn
    if abs(dv) < 1e-15:
        return None
    turns = (b.fixed_monthly - a.fixed_monthly) / dv
    if turns <= 0:
        return None
    # Below the crossing the one with the smaller fixed cost is cheaper.
    low, high = (a, b) if a.fixed_monthly < b.fixed_monthly else (b, a)
    return BreakEven(low.variant, high.variant, turns)
