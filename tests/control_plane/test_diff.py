"""The pure diff: desired Plan vs observed state -> ordered create/update/delete with changed fields."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.compiler import OWNER_TAG, AwsTarget, Plan, compile_plan
from control_plane.diff import (
    MAX_VALUE_PATHS,
    PENDING_SUBSCRIPTION,
    Action,
    Kind,
    ObservedAlarm,
    ObservedParameter,
    ObservedState,
    ObservedTopic,
    OwnershipConflict,
    diff,
    effective_tier,
    is_protected_parameter,
    normalise_alarm,
    summary,
)
from registry.loader import load_registry
from tests.conftest import EXAMPLE

NS = "/silentinfinity/voice"
TARGET = AwsTarget()
OWNED = {OWNER_TAG: NS}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_plan(load_registry(EXAMPLE), TARGET)


def as_described(args: dict[str, Any]) -> dict[str, Any]:
    """What DescribeAlarms may give back for these PutMetricAlarm args: other orders, extra keys, float
    threshold, DatapointsToAlarm left out when it equals EvaluationPeriods."""
    out = dict(args)
    out["Dimensions"] = list(reversed(args["Dimensions"]))
    out["AlarmActions"] = list(reversed(args["AlarmActions"]))
    out["Threshold"] = int(args["Threshold"]) if float(args["Threshold"]).is_integer() else args["Threshold"]
    if out["DatapointsToAlarm"] == out["EvaluationPeriods"]:
        del out["DatapointsToAlarm"]
    out.update(AlarmArn=f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{args['AlarmName']}",
               StateValue="ALARM", StateReason="someone set it", Metrics=[])
    return out


def in_sync(plan: Plan) -> ObservedState:
    """The state a successful apply of `plan` leaves behind."""
    return ObservedState(
        parameters={p.name: ObservedParameter(p.name, p.value, p.tier, p.description, p.type, OWNED)
                    for p in plan.parameters},
        alarms={a.name: ObservedAlarm(a.name, as_described(a.args), OWNED) for a in plan.alarms},
        topics={t.name: ObservedTopic(t.name, TARGET.topic_arn(t.name), t.display_name,
                                      {e: f"{TARGET.topic_arn(t.name)}:sub-{i}" for i, e in enumerate(t.subscriptions)},
                                      OWNED) for t in plan.topics},
    )


def with_alarm(state: ObservedState, name: str, **changes: Any) -> ObservedState:
    alarms = dict(state.alarms)
    alarms[name] = replace(alarms[name], **changes)
    return replace(state, alarms=alarms)


def with_topic(state: ObservedState, name: str, **changes: Any) -> ObservedState:
    topics = dict(state.topics)
    topics[name] = replace(topics[name], **changes)
    return replace(state, topics=topics)


def with_parameter(state: ObservedState, name: str, **changes: Any) -> ObservedState:
    params = dict(state.parameters)
    params[name] = replace(params[name], **changes)
    return replace(state, parameters=params)


def test_nothing_there_creates_topics_then_the_registry_then_alarms(plan: Plan) -> None:
    # The registry names each alarm before it exists, so the revert handler never meets an alarm it rejects.
    changes = diff(plan, ObservedState())
    assert [c.action for c in changes] == [Action.CREATE] * 7
    assert [(c.kind, c.name) for c in changes] == [
        (Kind.TOPIC, "voice-m2-engineering"), (Kind.TOPIC, "voice-m2-oncall"), (Kind.PARAMETER, f"{NS}/registry"),
        (Kind.ALARM, "VoiceM2_Bedrock_Error_Spike"), (Kind.ALARM, "VoiceM2_Error_Rate_Breach"),
        (Kind.ALARM, "VoiceM2_P95_Breach"), (Kind.ALARM, "VoiceM2_TTFA_Regression"),
    ]
    assert summary(changes) == {"create": 7, "update": 0, "delete": 0}
    p95 = next(c for c in changes if c.name == "VoiceM2_P95_Breach")
    assert {f.field: f.new for f in p95.fields}["Threshold"] == 800.0
    assert all(f.old is None for f in p95.fields)


def test_state_written_by_apply_diffs_clean_despite_round_trip_noise(plan: Plan) -> None:
    assert diff(plan, in_sync(plan)) == []


def test_diff_is_deterministic(plan: Plan) -> None:
    state = with_alarm(in_sync(plan), "VoiceM2_P95_Breach", tags={})
    assert diff(plan, state) == diff(plan, state)


def test_one_threshold_changed_is_exactly_one_field_of_one_alarm(plan: Plan) -> None:
    state = in_sync(plan)
    seen = state.alarms["VoiceM2_P95_Breach"]
    state = with_alarm(state, "VoiceM2_P95_Breach", args={**seen.args, "Threshold": 900.0})
    (change,) = diff(plan, state)
    assert (change.kind, change.action, change.name) == (Kind.ALARM, Action.UPDATE, "VoiceM2_P95_Breach")
    assert [(f.field, f.old, f.new) for f in change.fields] == [("Threshold", 900.0, 800.0)]


@pytest.mark.parametrize(("key", "observed_value", "desired_normalised"), [
    pytest.param("AlarmDescription", "old text", "M2 p95 latency breach (memo alarm 1)", id="description"),
    pytest.param("ActionsEnabled", False, True, id="actions-enabled"),
    pytest.param("AlarmActions", [], None, id="alarm-actions"),
    pytest.param("OKActions", ["arn:aws:sns:us-east-1:123456789012:x"], [], id="ok-actions"),
    pytest.param("InsufficientDataActions", ["arn:x"], [], id="insufficient-actions"),
    pytest.param("Namespace", "Other", "SilentInfinity/Voice", id="namespace"),
    pytest.param("MetricName", "Other", "VoiceM2_TTFA_ms", id="metric"),
    pytest.param("Dimensions", [{"Name": "Variant", "Value": "x"}], ["Variant=sonic-unified"], id="dimensions"),
    pytest.param("ExtendedStatistic", "p99", "p95", id="extended-statistic"),
    pytest.param("Unit", "Seconds", "Milliseconds", id="unit"),
    pytest.param("Period", 60, 300, id="period"),
    pytest.param("EvaluationPeriods", 5, 2, id="evaluation-periods"),
    pytest.param("DatapointsToAlarm", 1, 2, id="datapoints"),
    pytest.param("ComparisonOperator", "LessThanThreshold", "GreaterThanThreshold", id="comparison"),
    pytest.param("TreatMissingData", "breaching", "notBreaching", id="missing-data"),
])
def test_every_alarm_field_is_compared(plan: Plan, key: str, observed_value: Any, desired_normalised: Any) -> None:
    state = in_sync(plan)
    seen = state.alarms["VoiceM2_P95_Breach"]
    args = {**seen.args, key: observed_value}
    if key == "EvaluationPeriods":  # keep DatapointsToAlarm explicit so only one field differs
        args["DatapointsToAlarm"] = 2
    (change,) = diff(plan, with_alarm(state, "VoiceM2_P95_Breach", args=args))
    (field,) = change.fields
    assert field.field == key
    if desired_normalised is not None:
        assert field.new == desired_normalised


def test_statistic_switch_shows_both_statistic_fields(plan: Plan) -> None:
    state = in_sync(plan)
    seen = state.alarms["VoiceM2_P95_Breach"]
    args = {k: v for k, v in seen.args.items() if k != "ExtendedStatistic"} | {"Statistic": "Average"}
    (change,) = diff(plan, with_alarm(state, "VoiceM2_P95_Breach", args=args))
    assert {(f.field, f.old, f.new) for f in change.fields} == {("Statistic", "Average", None),
                                                               ("ExtendedStatistic", None, "p95")}


def test_normalise_alarm_equates_put_args_and_describe_output(plan: Plan) -> None:
    for spec in plan.alarms:
        assert normalise_alarm(spec.args) == normalise_alarm(as_described(spec.args))
    assert normalise_alarm({"Threshold": 5, "EvaluationPeriods": 3})["DatapointsToAlarm"] == 3


def test_alarm_without_owner_tag_is_adopted_by_tagging_only(plan: Plan) -> None:
    (change,) = diff(plan, with_alarm(in_sync(plan), "VoiceM2_P95_Breach", tags={"team": "voice"}))
    assert change.action is Action.UPDATE
    assert [(f.field, f.old, f.new) for f in change.fields] == [(f"tags.{OWNER_TAG}", None, NS)]


def test_owned_alarm_missing_from_file_is_deleted_before_the_registry_stops_naming_it(plan: Plan) -> None:
    state = in_sync(plan)
    old = ObservedAlarm("VoiceM2_Old", as_described({**plan.alarms[0].args, "AlarmName": "VoiceM2_Old"}), OWNED)
    state = replace(state, alarms={**state.alarms, "VoiceM2_Old": old})
    state = with_parameter(state, f"{NS}/registry", description="stale")
    changes = diff(plan, state)
    assert [(c.kind, c.action, c.name) for c in changes] == [
        (Kind.ALARM, Action.DELETE, "VoiceM2_Old"), (Kind.PARAMETER, Action.UPDATE, f"{NS}/registry")]
    assert changes[0].observed is old and changes[0].desired is None


@pytest.mark.parametrize("tags", [
    pytest.param({}, id="untagged"),
    pytest.param({OWNER_TAG: "/other/namespace"}, id="other-namespace"),
    pytest.param({"voice-rollout:namespace-x": NS}, id="similar-key"),
])
def test_alarms_and_topics_apply_does_not_own_are_never_deleted(plan: Plan, tags: dict[str, str]) -> None:
    state = in_sync(plan)
    stranger = ObservedAlarm("HandMade", as_described({**plan.alarms[0].args, "AlarmName": "HandMade"}), tags)
    topic = ObservedTopic("hand-made", TARGET.topic_arn("hand-made"), "x", {}, tags)
    state = replace(state, alarms={**state.alarms, "HandMade": stranger}, topics={**state.topics, "hand-made": topic})
    assert diff(plan, state) == []


def test_topic_changes_and_deletion_order(plan: Plan) -> None:
    state = with_topic(in_sync(plan), "voice-m2-oncall", display_name="Old name", tags={})
    gone = ObservedTopic("voice-m2-retired", TARGET.topic_arn("voice-m2-retired"), "r", {}, OWNED)
    gone_alarm = ObservedAlarm("Gone", as_described({**plan.alarms[0].args, "AlarmName": "Gone"}), OWNED)
    state = replace(state, topics={**state.topics, gone.name: gone}, alarms={**state.alarms, "Gone": gone_alarm})
    changes = diff(plan, state)
    assert [(c.kind, c.action, c.name) for c in changes] == [
        (Kind.TOPIC, Action.UPDATE, "voice-m2-oncall"),
        (Kind.ALARM, Action.DELETE, "Gone"),          # alarms go before the topics they may notify
        (Kind.TOPIC, Action.DELETE, "voice-m2-retired"),
    ]
    assert [(f.field, f.old, f.new) for f in changes[0].fields] == [
        ("display_name", "Old name", "Voice M2 on-call"), (f"tags.{OWNER_TAG}", None, NS)]


def test_subscriptions_added_removed_and_pending_ignored(plan: Plan) -> None:
    oncall = next(t for t in plan.topics if t.name == "voice-m2-oncall")
    plan2 = replace(plan, topics=tuple(replace(t, subscriptions=("a@example.com", "b@example.com"))
                                       if t is oncall else t for t in plan.topics))
    arn = TARGET.topic_arn("voice-m2-oncall")
    state = with_topic(in_sync(plan), "voice-m2-oncall",
                       subscriptions={"a@example.com": f"{arn}:1", "old@example.com": f"{arn}:2",
                                      "pending@example.com": PENDING_SUBSCRIPTION})
    (change,) = diff(plan2, state)
    (field,) = change.fields
    assert field.field == "subscriptions"
    assert field.new == ["a@example.com", "b@example.com"]
    # Only a pending extra left: nothing apply can do, so no change (the plan must converge).
    state = with_topic(state, "voice-m2-oncall", subscriptions={"a@example.com": f"{arn}:1",
                                                                "b@example.com": f"{arn}:3",
                                                                "pending@example.com": PENDING_SUBSCRIPTION})
    assert diff(plan2, state) == []


def test_registry_value_change_is_shown_as_json_paths(plan: Plan) -> None:
    param = plan.parameters[0]
    doc = json.loads(param.value)
    doc["phases"][2]["weights"]["sonic-unified"] = 10
    doc["cache_ttl_seconds"] = 60
    state = with_parameter(in_sync(plan), param.name, value=json.dumps(doc))
    (change,) = diff(plan, state)
    assert (change.kind, change.action) == (Kind.PARAMETER, Action.UPDATE)
    assert {(f.field, f.old, f.new) for f in change.fields} == {
        ("value.phases[2].weights.sonic-unified", 10, 5), ("value.cache_ttl_seconds", 60, 30)}


def test_registry_value_that_is_not_json_is_shown_whole(plan: Plan) -> None:
    param = plan.parameters[0]
    (change,) = diff(plan, with_parameter(in_sync(plan), param.name, value="hand-written"))
    assert [(f.field, f.old) for f in change.fields] == [("value", "hand-written")]


def test_same_json_different_bytes_is_still_a_write(plan: Plan) -> None:
    param = plan.parameters[0]
    pretty = json.dumps(json.loads(param.value), indent=2)
    (change,) = diff(plan, with_parameter(in_sync(plan), param.name, value=pretty))
    assert [f.field for f in change.fields] == ["value"]


def test_many_value_paths_are_summarised(plan: Plan) -> None:
    param = plan.parameters[0]
    doc = json.loads(param.value)
    changed = 0
    for phase in doc["phases"]:
        for variant in phase["weights"]:
            phase["weights"][variant] += 1
            changed += 1
    for variant in doc["variants"].values():
        variant["transport"] += "-old"
        variant["backend"] += "-old"
        changed += 2
    assert changed > MAX_VALUE_PATHS
    (change,) = diff(plan, with_parameter(in_sync(plan), param.name, value=json.dumps(doc)))
    assert len(change.fields) == MAX_VALUE_PATHS + 1
    assert change.fields[-1].field == f"value (+{changed - MAX_VALUE_PATHS} more paths)"


@pytest.mark.parametrize(("observed", "desired", "change"), [
    pytest.param("Advanced", "Standard", None, id="never-downgrade"),
    pytest.param("Standard", "Advanced", ("Standard", "Advanced"), id="upgrade"),
])
def test_parameter_tier(plan: Plan, observed: str, desired: str, change: tuple[str, str] | None) -> None:
    plan2 = replace(plan, parameters=(replace(plan.parameters[0], tier=desired),))
    state = with_parameter(in_sync(plan), plan.parameters[0].name, tier=observed)
    changes = diff(plan2, state)
    if change is None:
        assert changes == []
    else:
        assert [(f.field, f.old, f.new) for f in changes[0].fields] == [("tier", *change)]


def test_effective_tier() -> None:
    assert effective_tier("Standard", None) == "Standard"
    assert effective_tier("Standard", "Advanced") == "Advanced"
    assert effective_tier("Advanced", "Standard") == "Advanced"


def test_parameter_description_type_and_tag(plan: Plan) -> None:
    name = plan.parameters[0].name
    (change,) = diff(plan, with_parameter(in_sync(plan), name, description="x", type="StringList", tags={}))
    assert [f.field for f in change.fields] == ["description", "type", f"tags.{OWNER_TAG}"]


def test_parameter_create_fields(plan: Plan) -> None:
    state = replace(in_sync(plan), parameters={})
    (change,) = diff(plan, state)
    assert change.action is Action.CREATE
    assert {f.field: f.new for f in change.fields} == {"tier": "Standard",
                                                        "bytes": len(plan.parameters[0].value.encode())}


def test_other_writers_parameters_are_invisible_to_the_diff(plan: Plan) -> None:
    state = in_sync(plan)
    others = {n: ObservedParameter(n, "{}", tags=OWNED) for n in
              (f"{NS}/rollout/phase", f"{NS}/overrides/sonic-unified", f"{NS}/variant_overrides")}
    assert diff(plan, replace(state, parameters={**state.parameters, **others})) == []


@pytest.mark.parametrize(("name", "protected"), [
    (f"{NS}/registry", False),
    (f"{NS}/rollout/phase", True),
    (f"{NS}/overrides/sonic-unified", True),
    (f"{NS}/variant_overrides", True),
    (f"{NS}/approvals/Phase2_Week2", True),
    (f"{NS}/deprecations/ws-echo", True),
    ("/elsewhere/registry", True),
])
def test_is_protected_parameter(name: str, protected: bool) -> None:
    assert is_protected_parameter(NS, name) is protected


def test_a_plan_writing_a_protected_parameter_is_refused(plan: Plan) -> None:
    bad = replace(plan, parameters=(replace(plan.parameters[0], name=f"{NS}/rollout/phase"),))
    with pytest.raises(ValueError, match="rollout/phase"):
        diff(bad, ObservedState())


def test_change_to_dict_is_json_ready(plan: Plan) -> None:
    changes = diff(plan, ObservedState())
    doc = json.loads(json.dumps([c.to_dict() for c in changes]))
    assert doc[0] == {"action": "create", "kind": "topic", "name": "voice-m2-engineering",
                      "fields": [{"field": "display_name", "old": None, "new": "Voice M2 engineering"}]}


def test_alarm_or_topic_owned_by_another_namespace_is_refused_not_taken(plan: Plan) -> None:
    other = {OWNER_TAG: "/other/voice"}
    state = with_topic(with_alarm(in_sync(plan), "VoiceM2_P95_Breach", tags=other), "voice-m2-oncall", tags=other)
    with pytest.raises(OwnershipConflict) as info:
        diff(plan, state)
    assert info.value.resources == ["alarm VoiceM2_P95_Breach (owned by /other/voice)",
                                    "topic voice-m2-oncall (owned by /other/voice)"]
    assert info.value.tag == OWNER_TAG and "2 resource(s) in this file belong to another registry" in info.value.what


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_normalise_alarm_ignores_order_of_dimensions_and_actions(data: st.DataObject) -> None:
    names = data.draw(st.lists(st.text("ABCxyz", min_size=1, max_size=4), unique=True, max_size=5))
    dims = [{"Name": n, "Value": data.draw(st.text("0123", max_size=3))} for n in names]
    actions = data.draw(st.lists(st.sampled_from(["arn:a", "arn:b", "arn:c", "arn:d"]), unique=True))
    base = {"Dimensions": dims, "AlarmActions": actions, "Threshold": data.draw(st.integers(-1000, 1000)),
            "EvaluationPeriods": 3}
    shuffled = {**base, "Dimensions": data.draw(st.permutations(dims)),
                "AlarmActions": data.draw(st.permutations(actions)), "Threshold": float(base["Threshold"]),
                "DatapointsToAlarm": 3}
    assert normalise_alarm(base) == normalise_alarm(shuffled)
