"""apply against moto (in-process): ordered writes, idempotence, ownership, and a failure at every call position."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.moto_api._internal.models import moto_api_backend

from control_plane.apply import Step, execute, observe, resolve_target, steps_for, still_pending
from control_plane.compiler import OWNER_TAG, AwsTarget, Plan, compile_plan
from control_plane.diff import (
    PENDING_SUBSCRIPTION,
    Action,
    Kind,
    ObservedAlarm,
    ObservedState,
    ObservedTopic,
    diff,
)
from registry.errors import AwsError, AwsProblem, PartialApply
from registry.loader import load_registry
from registry.model import Registry, Topic
from tests.conftest import EXAMPLE
from tests.control_plane.aws.fake_aws import FakeAws
from tests.control_plane.aws.recording import RecordingClients
from tests.control_plane.test_diff import as_described, in_sync

NS = "/silentinfinity/voice"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(EXAMPLE)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def changed(registry: Registry) -> Registry:
    """A second version of the file: one threshold moved, one alarm removed, a topic renamed for display,
    a phase weight changed (so the registry parameter changes too), and a new topic."""
    alarms = dict(registry.alarms)
    alarms["VoiceM2_P95_Breach"] = alarms["VoiceM2_P95_Breach"].model_copy(update={"threshold": 900.0})
    del alarms["VoiceM2_TTFA_Regression"]  # its topic voice-m2-engineering stays declared under topics:
    topics = dict(registry.topics)
    topics["voice-m2-oncall"] = Topic(display_name="Voice M2 pager")
    topics["voice-m2-status"] = Topic(display_name="Voice M2 status")
    phases = list(registry.phases)
    phases[2] = phases[2].model_copy(update={"weights": {**phases[2].weights, "transcribe-polly-baseline": 90,
                                                         "sonic-unified": 10}})
    return registry.model_copy(update={"alarms": alarms, "topics": topics, "phases": phases})


def apply_registry(clients: RecordingClients, registry: Registry) -> tuple[Plan, list[Step]]:
    """What `voicectl apply --yes` does, minus the CLI."""
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    steps = steps_for(diff(plan, observe(clients, plan, target)), target, plan.tags)
    execute(clients, steps, pending=still_pending(clients, plan, target))
    return plan, steps


def pending_changes(clients: RecordingClients, registry: Registry) -> list[object]:
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    return list(diff(plan, observe(clients, plan, target)))


def registry_value(clients: RecordingClients) -> str | None:
    found = clients.ssm.get_parameters(Names=[f"{NS}/registry"])["Parameters"]
    return found[0]["Value"] if found else None


def test_first_apply_writes_in_order_then_second_apply_writes_nothing(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    _, steps = apply_registry(clients, registry)
    assert [s.description for s in steps] == [
        "create topic voice-m2-engineering", "create topic voice-m2-oncall", f"create parameter {NS}/registry",
        "create alarm VoiceM2_Bedrock_Error_Spike", "create alarm VoiceM2_Error_Rate_Breach",
        "create alarm VoiceM2_P95_Breach", "create alarm VoiceM2_TTFA_Regression",
    ]
    assert clients.writes == [("sns", "CreateTopic")] * 2 + [("ssm", "PutParameter")] + [
        ("cloudwatch", "PutMetricAlarm")] * 4
    again = RecordingClients(region="us-east-1")
    _, steps = apply_registry(again, registry)
    assert steps == []
    assert again.writes == []
    assert again.calls, "the second apply did read the live state"


def test_everything_written_is_tagged_and_real_arns(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    plan, _ = apply_registry(clients, registry)
    tags = clients.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{NS}/registry")["TagList"]
    assert {"Key": OWNER_TAG, "Value": NS} in tags
    alarm = clients.cloudwatch.describe_alarms(AlarmNames=["VoiceM2_P95_Breach"])["MetricAlarms"][0]
    assert clients.cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"] == [
        {"Key": OWNER_TAG, "Value": NS}]
    assert "arn:aws:sns:us-east-1:123456789012:voice-m2-oncall" in alarm["AlarmActions"]
    assert json.loads(registry_value(clients) or "")["digest"] == plan.compiled.digest


def test_changed_file_updates_exactly_what_changed(aws: None, registry: Registry) -> None:
    apply_registry(RecordingClients(region="us-east-1"), registry)
    clients = RecordingClients(region="us-east-1")
    _, steps = apply_registry(clients, changed(registry))
    assert [s.description for s in steps] == [
        "set display name of topic voice-m2-oncall", "create topic voice-m2-status",
        "delete alarm VoiceM2_TTFA_Regression", f"update parameter {NS}/registry",
        "update alarm VoiceM2_P95_Breach",
    ]
    assert pending_changes(clients, changed(registry)) == []
    alarm = clients.cloudwatch.describe_alarms(AlarmNames=["VoiceM2_P95_Breach"])["MetricAlarms"][0]
    assert alarm["Threshold"] == 900.0
    assert json.loads(registry_value(clients) or "")["phases"][2]["weights"]["sonic-unified"] == 10


def test_untagged_alarm_and_topic_survive_even_when_the_file_drops_all_alarms(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    apply_registry(clients, registry)
    clients.cloudwatch.put_metric_alarm(AlarmName="SomeoneElses", MetricName="m", Namespace="n", Statistic="Sum",
                                        Period=60, EvaluationPeriods=1, Threshold=1,
                                        ComparisonOperator="GreaterThanThreshold")
    clients.sns.create_topic(Name="someone-elses")
    _, steps = apply_registry(clients, registry.model_copy(update={"alarms": {}, "topics": {}}))
    assert {s.description for s in steps} >= {"delete alarm VoiceM2_P95_Breach", "delete topic voice-m2-oncall"}
    names = {a["AlarmName"] for a in clients.cloudwatch.describe_alarms()["MetricAlarms"]}
    assert names == {"SomeoneElses"}
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in clients.sns.list_topics()["Topics"]}
    assert topics == {"someone-elses"}


def test_apply_never_touches_phase_overrides_or_runbook(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    others = [f"{NS}/rollout/phase", f"{NS}/overrides/sonic-unified", f"{NS}/variant_overrides",
              f"{NS}/approvals/Phase2_Week2"]
    for name in others:  # even tagged as the namespace's, they are not apply's
        clients.ssm.put_parameter(Name=name, Value='{"x": 1}', Type="String",
                                  Tags=[{"Key": OWNER_TAG, "Value": NS}])
    apply_registry(clients, registry)
    apply_registry(clients, changed(registry))
    touched = [c for c in clients.writes if c[0] == "ssm"]
    assert touched == [("ssm", "PutParameter")] * (len(others) + 2)  # the 4 set-ups + 2 registry writes
    for p in clients.ssm.get_parameters(Names=others)["Parameters"]:
        assert (p["Version"], p["Value"]) == (1, '{"x": 1}')


def test_hand_made_alarm_named_in_the_file_is_adopted(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    plan = compile_plan(registry, resolve_target(clients))
    clients.cloudwatch.put_metric_alarm(**plan.alarms[0].args)  # the memo's alarm, created by hand, untagged
    _, steps = apply_registry(clients, registry)
    assert f"tag alarm {plan.alarms[0].name}" in [s.description for s in steps]
    assert f"update alarm {plan.alarms[0].name}" not in [s.description for s in steps]
    assert pending_changes(clients, registry) == []


def test_topic_subscriptions_are_added_and_removed(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    topics = {**registry.topics, "voice-m2-oncall": Topic(display_name="Voice M2 on-call",
                                                          subscriptions=["oncall@example.com", "https://hook.example"])}
    with_subs = registry.model_copy(update={"topics": topics})
    _, steps = apply_registry(clients, with_subs)
    assert "subscribe oncall@example.com to topic voice-m2-oncall" in [s.description for s in steps]
    assert pending_changes(clients, with_subs) == []
    topics["voice-m2-oncall"] = Topic(display_name="Voice M2 on-call", subscriptions=["oncall@example.com"])
    fewer = registry.model_copy(update={"topics": topics})
    _, steps = apply_registry(clients, fewer)
    assert [s.description for s in steps] == ["unsubscribe https://hook.example from topic voice-m2-oncall"]
    assert pending_changes(clients, fewer) == []


def test_resolve_target_uses_the_callers_account_and_region(aws: None) -> None:
    target = resolve_target(RecordingClients(region="eu-west-1"))
    assert (target.account_id, target.region, target.partition) == ("123456789012", "eu-west-1", "aws")


def test_read_failure_is_an_aws_error_and_writes_nothing(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1", fail_operation="DescribeAlarms", fail_code="AccessDeniedException")
    with pytest.raises(AwsError, match="cloudwatch:DescribeAlarms") as info:
        apply_registry(clients, registry)
    assert not isinstance(info.value, PartialApply)
    assert clients.writes == []


def test_access_denied_on_a_write_names_the_permission(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1", fail_operation="PutMetricAlarm", fail_code="AccessDenied")
    with pytest.raises(PartialApply) as info:
        apply_registry(clients, registry)
    assert "cloudwatch:PutMetricAlarm" in info.value.what
    assert info.value.applied == ["create topic voice-m2-engineering", "create topic voice-m2-oncall",
                                  f"create parameter {NS}/registry"]
    assert info.value.pending[0] == info.value.failed == "create alarm VoiceM2_Bedrock_Error_Spike"
    assert (info.value.cause.action, info.value.cause.problem) == ("cloudwatch:PutMetricAlarm",
                                                                   AwsProblem.ACCESS_DENIED)


def _fault_positions(scenario: str) -> list[int]:
    return list(range(1, {"fresh": 7, "changed": 5}[scenario] + 1))


@pytest.mark.parametrize("scenario", ["fresh", "changed"])
def test_a_failure_at_every_write_position_converges_on_rerun(registry: Registry, scenario: str) -> None:
    """GIVEN the live state before an apply, WHEN the Nth write call fails, THEN apply stops with exactly the
    first N-1 writes done, the registry parameter is whole (old or new, never mixed), and a rerun converges."""
    before, after = (None, registry) if scenario == "fresh" else (registry, changed(registry))
    positions = _fault_positions(scenario)
    with mock_aws():
        clients = RecordingClients(region="us-east-1")  # one set for all: building boto3 clients is slow
        for n in positions:
            moto_api_backend.reset()
            clients.calls.clear()
            clients.fail_write = None
            if before is not None:
                apply_registry(clients, before)
            old_value = registry_value(clients)
            clients.calls.clear()
            clients.fail_write = n
            with pytest.raises(PartialApply) as info:
                apply_registry(clients, after)
            assert len(info.value.applied) == n - 1, n
            assert len(info.value.applied) + len(info.value.pending) == len(positions), n
            new_value = compile_plan(after, resolve_target(clients)).parameters[0].value
            assert registry_value(clients) in (old_value, new_value), n
            clients.calls.clear()
            clients.fail_write = None
            apply_registry(clients, after)
            assert len(clients.writes) <= len(positions) - (n - 1), n
            assert pending_changes(clients, after) == [], n


@pytest.mark.slow  # sweeps a fault over every AWS call of an apply
def test_a_failure_at_every_call_read_or_write_converges_on_rerun(registry: Registry) -> None:
    """Reads fail before anything is written (AwsError, exit 4); writes fail as PartialApply; either way the
    rerun converges and the registry parameter is whole."""
    with mock_aws():
        probe = RecordingClients(region="us-east-1")
        apply_registry(probe, registry)
        probe.calls.clear()
        apply_registry(probe, changed(registry))
        total = len(probe.calls)
    outcomes = {"read": 0, "write": 0}
    with mock_aws():
        clients = RecordingClients(region="us-east-1")
        for n in range(1, total + 1):
            moto_api_backend.reset()
            clients.fail_call = None
            apply_registry(clients, registry)
            old_value = registry_value(clients)
            clients.calls.clear()
            clients.fail_call = n
            with pytest.raises((AwsError, PartialApply)) as info:
                apply_registry(clients, changed(registry))
            failed_op = clients.calls[n - 1][1]
            if isinstance(info.value, PartialApply):
                outcomes["write"] += 1
            else:
                outcomes["read"] += 1
                assert clients.writes == [], n
            clients.fail_call = None
            assert registry_value(clients) in (old_value, compile_plan(changed(registry)).parameters[0].value), n
            apply_registry(clients, changed(registry))
            assert pending_changes(clients, changed(registry)) == [], (n, failed_op)
    assert outcomes["write"] == 5
    assert outcomes["read"] == total - 5


def test_partial_apply_lists_are_the_step_descriptions(aws: None, registry: Registry) -> None:
    faulty = RecordingClients(region="us-east-1", fail_write=4)
    with pytest.raises(PartialApply) as info:
        apply_registry(faulty, registry)
    assert info.value.applied == ["create topic voice-m2-engineering", "create topic voice-m2-oncall",
                                  f"create parameter {NS}/registry"]
    assert info.value.pending == [
        "create alarm VoiceM2_Bedrock_Error_Spike", "create alarm VoiceM2_Error_Rate_Breach",
        "create alarm VoiceM2_P95_Breach", "create alarm VoiceM2_TTFA_Regression"]
    assert "create alarm VoiceM2_Bedrock_Error_Spike" in info.value.what


def test_failure_on_the_first_write_says_nothing_was_applied(aws: None, registry: Registry) -> None:
    with pytest.raises(PartialApply) as info:
        apply_registry(RecordingClients(region="us-east-1", fail_write=1), registry)
    assert info.value.applied == []
    assert "nothing was applied" in info.value.what
    assert info.value.cause.problem is AwsProblem.FAILED


def test_steps_for_a_tag_only_change_tag_without_rewriting(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    clients.ssm.put_parameter(Name=plan.parameters[0].name, Value=plan.parameters[0].value, Type="String",
                              Description=plan.parameters[0].description)
    changes = diff(plan, observe(clients, plan, target))
    param_change = next(c for c in changes if c.kind is Kind.PARAMETER)
    assert param_change.action is Action.UPDATE
    steps = steps_for([param_change], target, plan.tags)
    assert [s.action for s in steps] == ["ssm:AddTagsToResource"]
    execute(clients, steps)
    assert clients.ssm.get_parameter(Name=plan.parameters[0].name)["Parameter"]["Version"] == 1


def test_advanced_parameter_is_not_downgraded(aws: None, registry: Registry) -> None:
    clients = RecordingClients(region="us-east-1")
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    spec = plan.parameters[0]
    clients.ssm.put_parameter(Name=spec.name, Value="old", Type="String", Tier="Advanced",
                              Tags=[{"Key": OWNER_TAG, "Value": NS}])
    apply_registry(clients, registry)
    meta = clients.ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [spec.name]}])["Parameters"]
    assert meta[0]["Tier"] == "Advanced"
    assert pending_changes(clients, registry) == []
    assert replace(spec, tier="Advanced").value == registry_value(clients)


# --- property: from any observed state, one apply converges ------------------------------------------------

ALARM_STATES = ("absent", "sync", "threshold", "untagged", "statistic")
TOPIC_STATES = ("absent", "sync", "renamed", "untagged", "extra-subscription", "missing-subscription",
                "pending-subscription")
PARAM_STATES = ("absent", "sync", "value", "advanced", "untagged", "description")


def _perturbed(plan: Plan, alarms: list[str], topics: list[str], param: str, extras: tuple[int, int, int, int]
               ) -> ObservedState:
    state = in_sync(plan)
    new_alarms, new_topics, new_params = dict(state.alarms), dict(state.topics), dict(state.parameters)
    for spec, how in zip(plan.alarms, alarms, strict=True):
        seen = new_alarms[spec.name]
        if how == "absent":
            del new_alarms[spec.name]
        elif how == "threshold":
            new_alarms[spec.name] = replace(seen, args={**seen.args, "Threshold": 12345.0})
        elif how == "untagged":
            new_alarms[spec.name] = replace(seen, tags={})
        elif how == "statistic":
            args = {k: v for k, v in seen.args.items() if k not in ("Statistic", "ExtendedStatistic")}
            new_alarms[spec.name] = replace(seen, args={**args, "Statistic": "Maximum"})
    for spec, how in zip(plan.topics, topics, strict=True):
        seen = new_topics[spec.name]
        if how == "absent":
            del new_topics[spec.name]
        elif how == "renamed":
            new_topics[spec.name] = replace(seen, display_name="old")
        elif how == "untagged":
            new_topics[spec.name] = replace(seen, tags={})
        elif how == "extra-subscription":
            new_topics[spec.name] = replace(seen, subscriptions={**seen.subscriptions, "x@example.com": "arn:x"})
        elif how == "missing-subscription":
            new_topics[spec.name] = replace(seen, subscriptions={})
        elif how == "pending-subscription":
            new_topics[spec.name] = replace(seen, subscriptions={**seen.subscriptions,
                                                                 "p@example.com": PENDING_SUBSCRIPTION})
    name = plan.parameters[0].name
    changes = {"value": {"value": "{}"}, "advanced": {"tier": "Advanced"}, "untagged": {"tags": {}},
               "description": {"description": "old"}}
    if param == "absent":
        del new_params[name]
    elif param in changes:
        new_params[name] = replace(new_params[name], **changes[param])
    owned_alarms, foreign_alarms, owned_topics, foreign_topics = extras
    template = plan.alarms[0].args
    for i in range(owned_alarms):
        new_alarms[f"Old{i}"] = ObservedAlarm(f"Old{i}", as_described({**template, "AlarmName": f"Old{i}"}),
                                              {OWNER_TAG: NS})
    for i in range(foreign_alarms):
        new_alarms[f"Theirs{i}"] = ObservedAlarm(f"Theirs{i}", as_described({**template, "AlarmName": f"Theirs{i}"}))
    for i in range(owned_topics):
        new_topics[f"old-{i}"] = ObservedTopic(f"old-{i}", f"arn:aws:sns:us-east-1:123456789012:old-{i}", "o", {},
                                               {OWNER_TAG: NS})
    for i in range(foreign_topics):
        new_topics[f"theirs-{i}"] = ObservedTopic(f"theirs-{i}", f"arn:aws:sns:us-east-1:123456789012:theirs-{i}")
    return ObservedState(new_params, new_alarms, new_topics)


@pytest.fixture(scope="module")
def plan_with_subscriptions(registry: Registry) -> Plan:
    topics = {**registry.topics, "voice-m2-oncall": Topic(display_name="Voice M2 on-call",
                                                          subscriptions=["a@example.com", "https://hook.example"])}
    return compile_plan(registry.model_copy(update={"topics": topics}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alarms=st.lists(st.sampled_from(ALARM_STATES), min_size=4, max_size=4),
       topics=st.lists(st.sampled_from(TOPIC_STATES), min_size=2, max_size=2),
       param=st.sampled_from(PARAM_STATES),
       extras=st.tuples(*(st.integers(0, 2) for _ in range(4))))
def test_one_apply_converges_from_any_state_and_spares_what_it_does_not_own(
        plan_with_subscriptions: Plan, alarms: list[str], topics: list[str], param: str,
        extras: tuple[int, int, int, int]) -> None:
    plan = plan_with_subscriptions
    state = _perturbed(plan, alarms, topics, param, extras)
    fake = FakeAws(state)
    changes = diff(plan, state)
    execute(fake, steps_for(changes, AwsTarget(), plan.tags))
    after = fake.observed()
    assert diff(plan, after) == []
    for name, alarm in state.alarms.items():
        if alarm.tags.get(OWNER_TAG) != NS and name not in {a.name for a in plan.alarms}:
            assert after.alarms[name] == alarm
    for name, topic in state.topics.items():
        if topic.tags.get(OWNER_TAG) != NS and name not in {t.name for t in plan.topics}:
            assert after.topics[name] == topic
    assert len(fake.writes) == len(steps_for(changes, AwsTarget(), plan.tags))
    if not changes:
        assert fake.writes == []
