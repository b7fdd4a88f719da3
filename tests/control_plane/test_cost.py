"""control_plane.cost on the example's pricing: the memo's figures where they are right, the corrected ones where
its arithmetic is off, and the real break-even between Nova Sonic and CSM-1B."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.cost import break_even, phase_costs, variant_cost
from registry.loader import load_registry
from registry.model import CostAssumptions, CostItem, Pricing, Registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "voice-m2.yaml"
M1, NOVA, CSM = "transcribe-polly-baseline", "sonic-unified", "sesame-csm1b"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(EXAMPLE)


@pytest.fixture(scope="module")
def pricing(registry: Registry) -> Pricing:
    assert registry.pricing is not None
    return registry.pricing


def lines(pricing: Pricing, variant: str, turns: int = 50_000) -> dict[str, float]:
    return {ln.item: round(ln.monthly, 2) for ln in variant_cost(pricing, variant, turns).lines}


def test_m1_total_matches_the_memo(pricing: Pricing) -> None:
    cost = variant_cost(pricing, M1, 50_000)
    assert round(cost.monthly, 2) == 1095.20  # memo: ~$1,095
    assert lines(pricing, M1)["Amazon Transcribe Streaming"] == 300.00
    assert lines(pricing, M1)["Amazon Polly Generative"] == 750.00
    assert lines(pricing, M1)["Lambda ARM64 1 GB x 60 s (GB-s)"] == 39.90
    assert round(cost.per_turn, 4) == 0.0219
    assert cost.fixed_monthly == 0


def test_nova_sonic_speech_lines_are_what_the_memo_multiplies_out_not_what_it_wrote(pricing: Pricing) -> None:
    got = lines(pricing, NOVA)
    # 12,500 min x 60 s x 170 tok/s = 127.5M tokens x $0.0034/1K
    assert got["Nova Sonic speech input tokens"] == 433.50  # memo: ~$362
    # 25,000 min x 60 s x 170 tok/s = 255M tokens x $0.0136/1K, as the memo's own note says
    assert got["Nova Sonic speech output tokens"] == 3468.00  # memo: ~$2,890
    memo = {ln.item: ln.memo_delta for ln in variant_cost(pricing, NOVA, 50_000).lines}
    assert round(memo["Nova Sonic speech input tokens"] or 0, 2) == 71.50
    assert round(memo["Nova Sonic speech output tokens"] or 0, 2) == 578.00


def test_nova_sonic_total_and_per_turn(pricing: Pricing) -> None:
    cost = variant_cost(pricing, NOVA, 50_000)
    assert round(cost.monthly, 2) == 3996.49  # memo: ~$3,347
    assert round(cost.per_turn, 4) == 0.0799  # memo: $0.067
    assert cost.fixed_monthly == 0  # all of it scales with turns
    # memo: "approximately 3x M1"; and the ratio does not shrink at 200K turns: nothing here is fixed
    for turns in (50_000, 200_000):
        ratio = variant_cost(pricing, NOVA, turns).monthly / variant_cost(pricing, M1, turns).monthly
        assert round(ratio, 2) == 3.65


def test_csm_total_matches_the_memo(pricing: Pricing) -> None:
    cost = variant_cost(pricing, CSM, 50_000)
    assert round(cost.monthly, 2) == 2385.65  # memo: ~$2,385
    assert round(cost.fixed_monthly, 2) == 2080.40  # 2 x ml.g5.xlarge 24/7 + ECS + data, whatever the traffic
    assert lines(pricing, CSM)["SageMaker ml.g5.xlarge x2 (HA, 24/7)"] == 2030.40
    # memo: "CSM-1B is $962/month cheaper than Nova Sonic at 50K turns"
    assert round(variant_cost(pricing, NOVA, 50_000).monthly - cost.monthly, 2) == 1610.84


def test_break_even_runs_the_other_way_from_the_memo(pricing: Pricing) -> None:
    nova, csm = variant_cost(pricing, NOVA, 50_000), variant_cost(pricing, CSM, 50_000)
    crossing = break_even(nova, csm)
    assert crossing is not None
    # memo: "Break-even is approximately 35K turns/month. Above that, Nova Sonic is cheaper" - backwards:
    # Nova Sonic is all variable cost, CSM-1B mostly fixed, so CSM-1B wins above the crossing.
    assert (crossing.cheaper_below, crossing.cheaper_above) == (NOVA, CSM)
    assert round(crossing.turns_per_month) == 28_180
    assert break_even(csm, nova) == crossing
    for turns, cheaper in ((20_000, NOVA), (35_000, CSM), (100_000, CSM)):
        costs = {v: variant_cost(pricing, v, turns).monthly for v in (NOVA, CSM)}
        assert min(costs, key=costs.__getitem__) == cheaper, (turns, costs)


def test_m1_and_csm_cross_and_all_variable_variants_never_do(pricing: Pricing) -> None:
    m1, nova, csm = (variant_cost(pricing, v, 50_000) for v in (M1, NOVA, CSM))
    crossing = break_even(m1, csm)
    assert crossing is not None and round(crossing.turns_per_month) == 131_679
    assert (crossing.cheaper_below, crossing.cheaper_above) == (M1, CSM)
    assert break_even(m1, nova) is None  # both all-variable: Nova Sonic costs 3.65x M1 at any volume


def test_each_phase_mix(registry: Registry) -> None:
    phases = {p.phase: round(p.monthly, 2) for p in phase_costs(registry, 50_000)}
    assert phases == {
        "Phase1_Week1": 1095.20,
        "Phase2_Week2": 1095.20,
        "Phase3_Week4": 1240.26,  # 95% M1 + 5% Nova
        "Phase3_Week5": 1820.52,
        "Phase4_Week6": 2545.84,
        "Phase4_Week7": 3996.49,
        # internal-only CSM test still pays for two GPU instances 24/7
        "PathB_CSM_Internal": 3175.60,
    }


def test_turn_volume_scales_variable_costs_only() -> None:
    pricing = Pricing(
        assumptions=CostAssumptions(turns_per_month=1000, input_audio_seconds_per_turn=6,
                                    output_audio_seconds_per_turn=12, audio_tokens_per_second=100),
        variants={"gpu": [CostItem(item="box", driver="instance_hours", unit_price=2.0, quantity=1),
                          CostItem(item="stt", driver="input_audio_minutes", unit_price=0.01)],
                  "api": [CostItem(item="tokens", driver="output_audio_tokens", unit_price=0.000001)]},
    )
    gpu = variant_cost(pricing, "gpu", 1000)
    assert gpu.fixed_monthly == 1440.0  # 720 h x $2
    assert round(gpu.variable_per_turn, 6) == 0.001  # 0.1 min x $0.01
    assert round(variant_cost(pricing, "gpu", 2000).monthly, 2) == 1442.00
    api = variant_cost(pricing, "api", 1000)
    assert round(api.monthly, 4) == 1.2  # 1000 x 12 s x 100 tok/s x $1e-6
    crossing = break_even(api, gpu)
    assert crossing is not None and round(crossing.turns_per_month) == round(1440 / (0.0012 - 0.001))
    assert variant_cost(pricing, "unpriced", 1000).monthly == 0
