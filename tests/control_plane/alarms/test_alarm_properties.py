"""Property tests of the local evaluator (hypothesis, derandomized so runs are reproducible)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.alarms.evaluator import AlarmStatus, Evaluator, decide, evaluate
from control_plane.alarms.samples import Sample, SampleStore
from control_plane.alarms.states import AlarmState
from control_plane.alarms.statistics import percentile
from registry.model import MissingData
from tests.control_plane.alarms.conftest import T0, p95_alarm, ttfa

PROFILE = settings(max_examples=300, derandomize=True, deadline=None)
point = st.sampled_from([True, False, None])
treatment = st.sampled_from(list(MissingData))


Window = tuple[list[bool | None], int, int, MissingData]


@st.composite
def alarm_window(draw: st.DrawFn) -> Window:
    n = draw(st.integers(1, 5))
    m = draw(st.integers(1, n))
    points = draw(st.lists(point, min_size=n + 2, max_size=n + 2))
    return points, m, n, draw(treatment)


@PROFILE
@given(alarm_window(), st.data())
def test_adding_a_breaching_datapoint_never_turns_alarm_into_ok(window: Window, data: st.DataObject) -> None:
    points, m, n, treat = window
    before = decide(points, m, n, treat).state or AlarmState.ALARM  # retained state: say it was ALARM
    candidates = [i for i, p in enumerate(points) if p is not True]
    if before is not AlarmState.ALARM or not candidates:
        return
    i = data.draw(st.sampled_from(candidates))
    worse = [*points[:i], True, *points[i + 1:]]
    assert (decide(worse, m, n, treat).state or AlarmState.ALARM) is AlarmState.ALARM


@PROFILE
@given(alarm_window())
def test_never_more_fills_than_the_shortfall(window: Window) -> None:
    points, m, n, treat = window
    outcome = decide(points, m, n, treat)
    real = sum(p is not None for p in points)
    assert outcome.filled <= max(0, n - real)
    assert len(outcome.evaluated) <= n
    assert outcome.breaching <= n


values = st.lists(st.floats(0, 5000, allow_nan=False), min_size=1, max_size=60)


@PROFILE
@given(values, st.floats(0, 100))
def test_percentile_is_an_observed_value_and_monotone(xs: list[float], pct: float) -> None:
    value = percentile(xs, pct)
    assert value in xs
    assert percentile(xs, min(100.0, pct + 5)) >= value
    assert min(xs) <= value <= max(xs)


def _samples(offsets_values: list[tuple[int, float]]) -> list[Sample]:
    return [ttfa(v, T0 + o) for o, v in offsets_values]


history = st.lists(st.tuples(st.integers(0, 1799), st.floats(0, 2000, allow_nan=False)), max_size=80)


@PROFILE
@given(history, st.lists(st.integers(0, 1799), min_size=1, max_size=10), treatment, st.integers(300, 2100))
def test_adding_breaching_samples_never_turns_alarm_into_ok(base: list[tuple[int, float]], extra: list[int],
                                                            treat: MissingData, at: int) -> None:
    alarm = p95_alarm(treat_missing_data=treat, evaluation_periods=3, datapoints_to_alarm=2)
    plain, worse = SampleStore(), SampleStore()
    plain.extend(_samples(base))
    worse.extend(_samples(base + [(o, 1500.0) for o in extra]))  # 1500 ms > the 800 ms threshold
    start = AlarmStatus(AlarmState.ALARM, "before", "", 0)
    before, _ = evaluate(alarm, plain, T0 + at, start)
    after, _ = evaluate(alarm, worse, T0 + at, start)
    if before.state is AlarmState.ALARM:
        assert after.state is AlarmState.ALARM


@PROFILE
@given(history, st.randoms(use_true_random=False))
def test_evaluation_is_deterministic_whatever_the_arrival_order(base: list[tuple[int, float]], rnd: object) -> None:
    samples = _samples(base)
    shuffled = list(samples)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]

    def run(feed: list[Sample]) -> list[tuple[float, str, str]]:
        evaluator = Evaluator([p95_alarm(treat_missing_data=MissingData.MISSING)])
        evaluator.ingest(feed)
        return [(t.at, t.state.value, t.current.reason) for now in range(T0, T0 + 2400, 60)
                for t in evaluator.tick(now)]

    assert run(samples) == run(shuffled)


@PROFILE
@given(history, treatment)
def test_transitions_always_change_state_and_chain(base: list[tuple[int, float]], treat: MissingData) -> None:
    evaluator = Evaluator([p95_alarm(treat_missing_data=treat)])
    evaluator.ingest(_samples(base))
    transitions = [t for now in range(T0, T0 + 2400, 60) for t in evaluator.tick(now)]
    state = AlarmState.INSUFFICIENT_DATA
    for t in transitions:
        assert t.previous.state is state and t.state is not state
        state = t.state
    assert evaluator.state("VoiceM2_P95_Breach") is state


@PROFILE
@given(history, treatment)
def test_incremental_cached_evaluation_equals_a_fresh_one(base: list[tuple[int, float]], treat: MissingData) -> None:
    # Samples arrive as time passes (some late, within the same minute); the evaluator's datapoint cache must
    # give what evaluating the same samples from scratch gives.
    alarm = p95_alarm(treat_missing_data=treat)
    samples = sorted(_samples(base), key=lambda s: s.timestamp)
    evaluator = Evaluator([alarm])
    fresh_status = AlarmStatus.initial()
    seen: list[Sample] = []
    def arrival(s: Sample) -> float:  # some samples arrive up to ~7 minutes late, after their period was evaluated
        return s.timestamp + (int(s.value) * 7919) % 420

    for now in range(T0, T0 + 2400, 60):
        arrived = [s for s in samples if now - 60 <= arrival(s) < now]
        evaluator.ingest(reversed(arrived))
        seen.extend(arrived)
        evaluator.tick(now)
        store = SampleStore()
        store.extend(seen)
        fresh_status, _ = evaluate(alarm, store, now, fresh_status)
        assert evaluator.statuses[alarm.name] == fresh_status


@PROFILE
@given(values, st.floats(0, 100))
def test_percentile_matches_numpy_inverted_cdf(xs: list[float], pct: float) -> None:
    # An independent implementation of the same definition (numpy comes with matplotlib).
    import numpy as np

    assert percentile(xs, pct) == float(np.percentile(xs, pct, method="inverted_cdf"))
