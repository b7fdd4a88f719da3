"""Load-test summaries: HDR percentiles per variant, errors, relay overhead (pure)."""

from __future__ import annotations

import pytest

from embedded.conversation import TurnResult
from embedded.loadtest import LoadTestConfig, caller_specs, distribution, summarize


def test_distribution_percentiles_from_hdr() -> None:
    d = distribution(float(v) for v in range(1, 1001))
    assert d.count == 1000
    assert d.p50 == pytest.approx(500, rel=0.01)
    assert d.p99 == pytest.approx(990, rel=0.01)
    assert d.max == pytest.approx(1000, rel=0.01)


def test_distribution_of_nothing_is_empty() -> None:
    assert distribution([]).p50 is None


def test_summarize_groups_per_variant_and_counts_errors() -> None:
    rows = [TurnResult("a", "u1", i, i * 0.1, "sonic-unified", 160.0 + i, 150.0, 150.0 + i) for i in range(10)]
    rows.append(TurnResult("b", "u2", 1, 0.0, None, None, reason="error", error="ConnectionRefusedError"))
    rows.append(TurnResult("c", "u3", 1, 0.0, "transcribe-polly-baseline", 760.0, 750.0, 751.0))
    report = summarize(rows, config={"sessions": 3}, wall_s=2.0)
    assert report.turns == 12
    assert report.errors == 1
    assert report.error_codes == {"ConnectionRefusedError": 1}
    sonic = report.per_variant["sonic-unified"]
    assert sonic["client_ttfa"]["count"] == 10
    # client TTFA 160+i minus backend latency 150+i: 10 ms of relay overhead on every turn
    assert sonic["relay_overhead"]["p50_ms"] == pytest.approx(10, rel=0.01)
    assert report.as_dict()["throughput_turns_per_s"] == pytest.approx(5.5)


def test_caller_specs_make_the_requested_share_internal() -> None:
    specs = caller_specs(LoadTestConfig(url="ws://x/ws", sessions=10, turns=3, internal_share=0.2))
    assert [s.internal for s in specs].count(True) == 2
    assert len({s.subject for s in specs}) == 10
    assert all(s.turns == 3 for s in specs)
