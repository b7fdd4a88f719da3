"""The revert handler never loses a revert (issue 17): redeliveries complete what failed and repeat nothing that
succeeded, a fault at every AWS call (refused, or landed with its response lost) converges through Lambda's
retries, concurrent deliveries of one transition run each effect once, and foreign events are refused.

Deliveries are built by messages.py from one transition, field for field as CloudWatch sends them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.ssm.models import SimpleSystemManagerBackend as SSMBackend

from control_plane.alarms.evaluator import AlarmStatus, Transition
from control_plane.alarms.handler import HandlerConfig, handle
from control_plane.alarms.messages import AlarmConfig, eventbridge_event, lambda_event, sns_message
from control_plane.alarms.states import AlarmState
from control_plane.aws import live_store
from tests.control_plane.alarms.conftest import NOW, NS, Aws, FakeCodeDeploy, load_event, p95_alarm

ACCOUNT, REGION = "123456789012", "us-east-1"
CONFIG = HandlerConfig(NS, account=ACCOUNT, region=REGION)
LAMBDA_RETRY_WAITS = (0.0, 90.0, 270.0)  # attempt times: Lambda waits 1 min, then 2 min, after a failed attempt


def transition(at: float = NOW.timestamp()) -> Transition:
    reason = ("Threshold Crossed: 2 out of the last 2 datapoints [1250.0 (25/11/26 16:05:00), 1190.0 "
              "(25/11/26 16:00:00)] were greater than the threshold (800.0) (minimum 2 datapoints for OK -> ALARM "
              "transition).")
    return Transition(p95_alarm(), AlarmStatus(AlarmState.OK, "ok", "{}", at - 600),
                      AlarmStatus(AlarmState.ALARM, reason, "{}", at), at)


def sns_event(t: Transition, account: str = ACCOUNT, region: str = REGION) -> dict[str, Any]:
    envelope = load_event("sns_notification.json")
    message = sns_message(t, AlarmConfig(), region=region, account=account)
    envelope["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return envelope


DELIVERIES: dict[str, Callable[[Transition], dict[str, Any]]] = {
    "lambda": lambda t: lambda_event(t, region=REGION, account=ACCOUNT),
    "sns": sns_event,
    "eventbridge": lambda t: eventbridge_event(t, region=REGION, account=ACCOUNT),
}


@dataclass
class Faults:
    """Numbers every AWS call the handler makes, in order, across SSM, SNS and CodeDeploy, and makes call
    number `at` fail: `refused` never reaches AWS; `lost` lands and then its response is lost."""

    at: int | None = None
    mode: str = "refused"
    calls: list[str] = field(default_factory=list)

    def before(self, operation: str) -> None:
        self.calls.append(operation)
        if self.mode == "refused" and len(self.calls) == self.at:
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "injected: refused"}}, operation)

    def after(self, operation: str) -> None:
        if self.mode == "lost" and len(self.calls) == self.at:
            raise ClientError({"Error": {"Code": "RequestTimeout", "Message": "injected: response lost"}}, operation)

    def hook(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register("before-call.*.*", lambda model, **_: self.before(f"{service}:{model.name}"),
                                    unique_id="faults-before")
        client.meta.events.register("after-call.*.*", lambda model, **_: self.after(f"{service}:{model.name}"),
                                    unique_id="faults-after")

    def unhook(self, client: Any) -> None:
        client.meta.events.unregister("before-call.*.*", unique_id="faults-before")
        client.meta.events.unregister("after-call.*.*", unique_id="faults-after")


@dataclass
class FaultyCodeDeploy:
    inner: FakeCodeDeploy
    faults: Faults

    def list_deployments(self, **kwargs: Any) -> Any:
        self.faults.before("codedeploy:ListDeployments")
        listed = self.inner.list_deployments(**kwargs)
        self.faults.after("codedeploy:ListDeployments")
        return listed

    def stop_deployment(self, **kwargs: Any) -> Any:
        self.faults.before("codedeploy:StopDeployment")
        stopped = self.inner.stop_deployment(**kwargs)
        self.faults.after("codedeploy:StopDeployment")
        return stopped


@pytest.fixture
def faults(aws: Aws) -> Iterator[Faults]:
    f = Faults()
    for client in (aws.ssm, aws.sns):
        f.hook(client)
    yield f
    for client in (aws.ssm, aws.sns):
        f.unhook(client)


def deliver(aws: Aws, event: dict[str, Any], *, offset: float = 0.0, codedeploy: Any = None,
            config: HandlerConfig = CONFIG, ssm: Any = None, owner: str = "") -> dict[str, Any]:
    return handle(event, ssm=ssm or aws.ssm, sns=aws.sns, codedeploy=codedeploy or aws.codedeploy, config=config,
                  clock=lambda: NOW + timedelta(seconds=offset), owner=owner)


def like_lambda(aws: Aws, event: dict[str, Any], codedeploy: Any) -> list[str]:
    """One asynchronous invocation with Lambda's retries: an attempt that raises or is `partial` is retried
    twice. Returns each attempt's status ('raised' for an exception)."""
    statuses = []
    for wait in LAMBDA_RETRY_WAITS:
        try:
            status = deliver(aws, event, offset=wait, codedeploy=codedeploy, owner="req-1")["status"]
        except Exception:
            status = "raised"
        statuses.append(status)
        if status not in ("raised", "partial"):
            break
    return statuses


def outcome(aws: Aws) -> tuple[int, int, int, list[str]]:
    """(override versions, pages, deployment stops, reverting alarms) after everything ran."""
    record = live_store.read_live_state(aws.ssm, NS).overrides.get("sonic-unified")
    return (aws.override_versions("sonic-unified"), len(aws.messages()), len(aws.codedeploy.stopped),
            record.reverting_alarms if record and record.share == 0 else [])


# --- the three defects of a redelivery ------------------------------------------------------------------------

def test_a_notification_that_failed_once_is_sent_by_the_redelivery_and_nothing_else_repeats(aws: Aws,
                                                                                          faults: Faults) -> None:
    # Before: the redelivery was judged `duplicate` from the override alone and the page was never sent.
    event = DELIVERIES["lambda"](transition())
    faults.mode, faults.at = "refused", position_of("sns:Publish")
    first = deliver(aws, event)
    assert first["status"] == "partial" and "notify" in first["results"][0]["errors"][0]
    faults.at = None
    again = deliver(aws, event, offset=90)
    assert again["status"] == "reverted"
    assert again["results"][0]["notified"] and not again["results"][0]["deployments_stopped"]
    assert outcome(aws) == (1, 1, 1, ["VoiceM2_P95_Breach"])


def test_a_deployment_stop_that_failed_once_is_retried_by_the_redelivery(aws: Aws, faults: Faults) -> None:
    event = DELIVERIES["sns"](transition())
    faults.mode = "refused"
    faulty = FaultyCodeDeploy(aws.codedeploy, faults)
    faults.at = position_of("codedeploy:StopDeployment")
    assert deliver(aws, event, codedeploy=faulty)["status"] == "partial"
    faults.at = None
    again = deliver(aws, event, offset=90, codedeploy=faulty)
    assert again["results"][0]["deployments_stopped"] == [aws.deployment_id]
    assert outcome(aws) == (1, 1, 1, ["VoiceM2_P95_Breach"])


def test_an_override_write_that_landed_with_its_response_lost_still_pages_and_stops_on_retry(
        aws: Aws, faults: Faults) -> None:
    # Before: the retry saw the override and answered `duplicate`: no page, no rollback.
    event = DELIVERIES["eventbridge"](transition())
    faults.mode = "lost"
    faults.at = position_of("ssm:PutParameter", nth=2)  # the claim, then the override
    with pytest.raises(Exception, match="response lost"):
        deliver(aws, event)
    assert live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"].share == 0  # it did land
    faults.at = None
    assert deliver(aws, event, offset=90)["status"] == "reverted"
    assert outcome(aws) == (1, 1, 1, ["VoiceM2_P95_Breach"])


def position_of(operation: str, nth: int = 1) -> int:
    """The call number (1-based) of the `nth` `operation` in a clean run."""
    return [i for i, op in enumerate(CLEAN_RUN, 1) if op == operation][nth - 1]


# The handler's AWS calls for one ALARM delivery on a fresh namespace, in order (asserted below, so the fault
# positions above and in the sweep name the call they mean).
CLEAN_RUN = [
    "ssm:GetParametersByPath",  # the live state and the ledger, one batch
    "ssm:PutParameter",  # claim the transition (Overwrite=False)
    "ssm:GetParameter",  # re-read the override before writing it
    "ssm:PutParameter",  # the override
    "ssm:PutParameter",  # ledger: override done
    "sns:Publish",  # the page
    "ssm:PutParameter",  # ledger: page done
    "codedeploy:ListDeployments",
    "codedeploy:StopDeployment",
    "ssm:PutParameter",  # ledger: stop done
    "ssm:PutParameter",  # ledger: finished
]


def test_the_clean_run_makes_exactly_these_calls(aws: Aws, faults: Faults) -> None:
    deliver(aws, DELIVERIES["lambda"](transition()), codedeploy=FaultyCodeDeploy(aws.codedeploy, faults))
    assert faults.calls == CLEAN_RUN


@pytest.mark.parametrize("mode", ["refused", "lost"])
@pytest.mark.parametrize("position", range(1, len(CLEAN_RUN) + 1), ids=lambda n: f"{n}-{CLEAN_RUN[n - 1]}")
def test_a_fault_at_every_aws_call_converges_through_lambdas_retries(aws: Aws, faults: Faults, mode: str,
                                                                     position: int) -> None:
    """GIVEN an ALARM delivery WHEN call number `position` fails (refused, or landed with its response lost)
    THEN Lambda's retries leave the revert in place, the on-call paged (twice only when a page landed and its
    response was lost: SNS has no idempotent publish on a standard topic) and the deployment stopped once."""
    faults.mode, faults.at = mode, position
    statuses = like_lambda(aws, DELIVERIES["lambda"](transition()), FaultyCodeDeploy(aws.codedeploy, faults))
    versions, pages, stops, alarms = outcome(aws)
    assert alarms == ["VoiceM2_P95_Breach"], statuses
    assert versions == 1, statuses
    assert stops == 1, statuses
    lost_page = mode == "lost" and CLEAN_RUN[position - 1] == "sns:Publish"
    assert pages == (2 if lost_page else 1), statuses
    assert statuses[-1] in ("reverted", "duplicate"), statuses


# --- concurrent deliveries ------------------------------------------------------------------------------------

@pytest.fixture
def atomic_ssm(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's PutParameter checks existence and inserts without a lock, so two threads may both create one
    parameter; AWS refuses the second creator (ParameterAlreadyExists). Serialise it, as AWS is."""
    lock = threading.Lock()
    real = SSMBackend.put_parameter

    def put_parameter(self: SSMBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return real(self, *args, **kwargs)

    monkeypatch.setattr(SSMBackend, "put_parameter", put_parameter)


class SlowOverrideWrite:
    """An SSM client whose claims all wait at a barrier (every delivery has read the state: a true race on the
    claim) and whose override write is held until `release` (the slow write the other deliveries overtake)."""

    def __init__(self, inner: Any, parties: int) -> None:
        self.inner, self.barrier, self.release = inner, threading.Barrier(parties, timeout=30), threading.Event()
        self.override_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_parameter(self, **kwargs: Any) -> Any:
        if "/reverts/" in kwargs["Name"] and kwargs.get("Overwrite") is False:
            self.barrier.wait()
        if "/overrides/" in kwargs["Name"]:
            self.override_writes += 1
            assert self.release.wait(30), "never released"
        return self.inner.put_parameter(**kwargs)


@pytest.mark.parametrize("shapes", [
    pytest.param(["lambda"] * 5, id="five-lambda-deliveries"),
    pytest.param(["lambda", "sns", "eventbridge", "sns", "lambda"], id="every-delivery-shape"),
])
def test_five_concurrent_deliveries_write_once_page_once_stop_once(aws: Aws, atomic_ssm: None,
                                                                   shapes: list[str]) -> None:
    # Before: 5 override versions, 5 pages and 5 StopDeployment calls.
    t = transition()
    slow = SlowOverrideWrite(aws.ssm, parties=len(shapes))
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def one(shape: str, i: int) -> None:
        try:
            results.append(deliver(aws, DELIVERIES[shape](t), ssm=slow, owner=f"req-{i}"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s, i)) for i, s in enumerate(shapes)]
    for th in threads:
        th.start()
    # Every delivery but the owner finishes while the owner's override write is held.
    for th in threads:
        th.join(timeout=0.5 if not slow.release.is_set() else 30)
    waiting = [th for th in threads if th.is_alive()]
    assert len(waiting) == 1 and len(results) == len(shapes) - 1, (results, errors)
    assert {r["status"] for r in results} == {"in_progress"}
    slow.release.set()
    for th in waiting:
        th.join(timeout=30)
    assert not errors
    assert sorted(r["status"] for r in results) == ["in_progress"] * (len(shapes) - 1) + ["reverted"]
    assert slow.override_writes == 1
    assert outcome(aws) == (1, 1, 1, ["VoiceM2_P95_Breach"])


def test_two_alarms_reverting_one_variant_at_once_are_both_recorded(aws: Aws, atomic_ssm: None) -> None:
    # Before: only the first alarm was recorded, so `override clear` checked only it.
    other = replace(p95_alarm(), name="VoiceM2_Error_Rate_Breach")
    events = [lambda_event(transition(), region=REGION, account=ACCOUNT),
              lambda_event(replace(transition(), alarm=other), region=REGION, account=ACCOUNT)]
    barrier = threading.Barrier(2, timeout=30)

    class Racing:
        def __init__(self, inner: Any) -> None:
            self.inner, self.first = inner, True

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def put_parameter(self, **kwargs: Any) -> Any:
            if "/overrides/" in kwargs["Name"] and self.first:
                self.first = False
                barrier.wait()  # both have read "no override" and re-checked it: both write
            return self.inner.put_parameter(**kwargs)

    def fire(event: dict[str, Any]) -> None:
        deliver(aws, event, ssm=Racing(aws.ssm))

    threads = [threading.Thread(target=fire, args=(e,)) for e in events]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    record = live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"]
    assert record.share == 0
    assert record.reverting_alarms == ["VoiceM2_Error_Rate_Breach", "VoiceM2_P95_Breach"]


# --- sources ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("account", "region"), [
    pytest.param("210987654321", REGION, id="another-account"),
    pytest.param(ACCOUNT, "eu-west-1", id="another-region"),
])
@pytest.mark.parametrize("shape", ["lambda", "sns", "eventbridge"])
def test_an_event_from_another_account_or_region_is_refused_with_the_reason(aws: Aws, account: str, region: str,
                                                                          shape: str) -> None:
    # Before: it reverted this account's variant.
    t = transition()
    event = {"lambda": lambda: lambda_event(t, region=region, account=account),
             "sns": lambda: sns_event(t, account=account, region=region),
             "eventbridge": lambda: eventbridge_event(t, region=region, account=account)}[shape]()
    result = deliver(aws, event)
    assert result["status"] == "rejected"
    [note] = result["results"][0]["notes"]
    assert f"account {account} region {region}" in note and "refused" in note
    assert f"VOICE_ALLOWED_SOURCES={account}:{region}" in note
    assert outcome(aws) == (0, 0, 0, [])


def test_an_allowed_source_is_served(aws: Aws) -> None:
    t = transition()
    config = replace(CONFIG, allowed_sources=frozenset({"210987654321:*"}))
    result = deliver(aws, lambda_event(t, region="eu-west-1", account="210987654321"), config=config)
    assert result["status"] == "reverted"
    assert outcome(aws)[3] == ["VoiceM2_P95_Breach"]


def test_an_event_that_does_not_say_its_source_is_refused(aws: Aws) -> None:
    event = sns_event(transition())
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    del message["AWSAccountId"], message["AlarmArn"]
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    result = deliver(aws, event)
    assert result["status"] == "rejected" and "does not say which account" in result["results"][0]["notes"][0]
