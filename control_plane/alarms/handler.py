"""The revert Lambda: a thin shell that runs the effects revert.plan_revert decides.

Entry point: `control_plane.alarms.handler.lambda_handler(event, context)`, subscribed to the alarms' Lambda
action, an SNS topic, or an EventBridge rule on "CloudWatch Alarm State Change" (all three are accepted).

Configuration (environment variables):

* VOICE_NAMESPACE (required): the registry's SSM namespace, e.g. /silentinfinity/voice.
* VOICE_TOPIC_ARNS: a JSON object of topic name -> ARN (what the CDK app sets; its topics have generated names).
* VOICE_TOPIC_ARN_PREFIX: otherwise, the prefix of the topics' ARNs, e.g. arn:aws:sns:us-east-1:123456789012:
  (the topic name is appended); default: same partition, region and account as the alarm's ARN.
* VOICE_DEPLOYMENT_APPLICATION, VOICE_DEPLOYMENT_GROUP: the CodeDeploy application and deployment group an
  alarm with rollback_deployment stops; default: the compiled registry's `deployment` section.
* AWS_ENDPOINT_URL: the standard boto3 setting; points the handler at the embedded stack (moto).
* POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL: Powertools Logger settings.

* VOICE_ACCOUNT_ID: the account the handler serves (default: the invoked function ARN's); AWS_REGION: its region
  (Lambda sets it). VOICE_ALLOWED_SOURCES: other `ACCOUNT:REGION` (or `ACCOUNT:*`) sources whose alarm events it
  accepts, comma-separated; any other source is refused, with the reason in the result and the log.
* VOICE_CLAIM_LEASE_SECONDS (default 45, above the function's 30 s timeout), VOICE_LEDGER_RETENTION_HOURS (24).

Effects are tracked per transition in the ledger (ledger.py): concurrent deliveries of one transition run each
effect once (one claims the transition, the others answer `in_progress`), and a redelivery runs only what is not
done. Failure policy: the override write is the part that protects users, so when reading the live state or
writing an override fails the handler raises before paging (Lambda retries the asynchronous invocation twice,
then reports it to the failure destination). A failed notification or CodeDeploy call never undoes the override:
the other effects still run, the result is `partial`, and `lambda_handler` raises so that Lambda retries, and
the retry completes what failed. A malformed event, an alarm the registry does not name, or a foreign source is
logged and `rejected` (retrying would not help).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from control_plane.alarms import ledger
from control_plane.alarms.events import AlarmTransition, MalformedAlarmEvent, parse_event
from control_plane.alarms.ledger import LedgerEntry, Outcome, Turn
from control_plane.alarms.revert import (
    Effect,
    Notify,
    StopDeployment,
    Verdict,
    WriteOverride,
    plan_revert,
    source_refusal,
)
from control_plane.aws import live_store
from control_plane.aws.live_store import StoredParameter
from control_plane.aws.session import Clients, aws_call
from control_plane.overrides import ensure_revert
from registry.errors import ConfigInvalid, VoiceRolloutError
from registry.live_state import live_state_from_parameters, param_override, param_registry

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "voice-rollout-revert"))

ACTIVE_DEPLOYMENT_STATUSES = ["Created", "Queued", "InProgress", "Ready"]


class RevertConfigError(ConfigInvalid):
    """The handler is deployed without what it needs (`where`: the setting, or the registry parameter in SSM)."""


class RevertIncomplete(VoiceRolloutError):
    """Some effect of a transition failed: raised by lambda_handler so that Lambda retries the invocation (the
    ledger makes the retry run only what failed)."""

    def __init__(self, result: dict[str, Any]) -> None:
        failed = [e for r in result.get("results", []) for e in r.get("errors", [])]
        super().__init__("revert incomplete: " + "; ".join(failed))
        self.result = result


@dataclass(frozen=True)
class HandlerConfig:
    namespace: str
    topic_arn_prefix: str | None = None
    deployment_application: str | None = None
    deployment_group: str | None = None
    topic_arns: dict[str, str] = field(default_factory=dict)
    account: str | None = None
    region: str | None = None
    allowed_sources: frozenset[str] = frozenset()
    lease: timedelta = ledger.LEASE
    retention: timedelta = ledger.RETENTION

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> HandlerConfig:
        env = dict(os.environ) if env is None else env
        namespace = env.get("VOICE_NAMESPACE", "").strip()
        if not namespace:
            raise RevertConfigError("VOICE_NAMESPACE is not set", where="VOICE_NAMESPACE",
                                    expected="the registry's namespace, e.g. /silentinfinity/voice")
        try:
            topic_arns = json.loads(env.get("VOICE_TOPIC_ARNS") or "{}")
        except json.JSONDecodeError as exc:
            raise RevertConfigError(f"VOICE_TOPIC_ARNS is not JSON: {exc}", where="VOICE_TOPIC_ARNS",
                                    expected='{"topic-name": "arn:aws:sns:..."}') from exc
        if not isinstance(topic_arns, dict) or not all(isinstance(v, str) for v in topic_arns.values()):
            raise RevertConfigError("VOICE_TOPIC_ARNS must be a JSON object of topic name -> ARN",
                                    where="VOICE_TOPIC_ARNS", expected='{"topic-name": "arn:aws:sns:..."}')
        try:
            lease = timedelta(seconds=float(env.get("VOICE_CLAIM_LEASE_SECONDS") or ledger.LEASE.total_seconds()))
            retention = timedelta(hours=float(env.get("VOICE_LEDGER_RETENTION_HOURS") or 24))
        except ValueError as exc:
            raise RevertConfigError(f"VOICE_CLAIM_LEASE_SECONDS / VOICE_LEDGER_RETENTION_HOURS: {exc}",
                                    where="VOICE_CLAIM_LEASE_SECONDS", expected="a number of seconds / hours") from exc
        allowed = frozenset(s.strip() for s in (env.get("VOICE_ALLOWED_SOURCES") or "").split(",") if s.strip())
        return cls(namespace.rstrip("/"), env.get("VOICE_TOPIC_ARN_PREFIX") or None,
                   env.get("VOICE_DEPLOYMENT_APPLICATION") or None, env.get("VOICE_DEPLOYMENT_GROUP") or None,
                   {str(k): v for k, v in topic_arns.items()}, env.get("VOICE_ACCOUNT_ID") or None,
                   env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None, allowed, lease, retention)

    def with_function_arn(self, arn: str | None) -> HandlerConfig:
        """Fill the account (and region) it serves from the invoked function's ARN, where not set."""
        parts = (arn or "").split(":")
        if len(parts) < 5:
            return self
        return replace(self, account=self.account or parts[4] or None, region=self.region or parts[3] or None)

    def source_of(self, transition: AlarmTransition) -> str:
        """'' for the handler's own account and region, else `account.region` (keeps ledgers apart)."""
        if (transition.account, transition.region) == (self.account, self.region):
            return ""
        return f"{transition.account}.{transition.region}"

    @property
    def deployment(self) -> tuple[str, str] | None:
        if self.deployment_application and self.deployment_group:
            return (self.deployment_application, self.deployment_group)
        return None

    def topic_arn(self, topic: str, transition: AlarmTransition) -> str:
        if topic.startswith("arn:"):
            return topic
        if topic in self.topic_arns:
            return self.topic_arns[topic]
        if self.topic_arn_prefix:
            return f"{self.topic_arn_prefix}{topic}"
        # The registry's topics live with the handler; without a configured handler, where the alarm is.
        region = self.region or transition.region or "us-east-1"
        account = self.account or transition.account or "000000000000"
        partition = (transition.alarm_arn or "arn:aws").split(":")[1] or "aws"
        return f"arn:{partition}:sns:{region}:{account}:{topic}"


@dataclass
class TransitionResult:
    """What one transition did; `status` is reverted | partial | duplicate | in_progress | superseded | ignored |
    rejected."""

    alarm: str
    status: str
    state: str = ""
    overrides_written: list[dict[str, Any]] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    deployments_stopped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _describe(exc: Exception) -> str:
    return exc.what if isinstance(exc, VoiceRolloutError) else f"{type(exc).__name__}: {exc}"


def _stop_deployments(codedeploy: Any, effect: StopDeployment) -> tuple[list[str], list[str]]:
    """Stop every active deployment of the group with rollback: (stopped ids, errors). One failing stop does
    not keep the others running."""
    with aws_call("codedeploy:ListDeployments"):
        ids = codedeploy.list_deployments(applicationName=effect.application,
                                          deploymentGroupName=effect.deployment_group,
                                          includeOnlyStatuses=ACTIVE_DEPLOYMENT_STATUSES).get("deployments", [])
    stopped, errors = [], []
    for deployment_id in ids:
        try:
            with aws_call("codedeploy:StopDeployment"):
                codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
            stopped.append(deployment_id)
        except Exception as exc:
            errors.append(f"{deployment_id}: {_describe(exc)}")
    return stopped, errors


class _Run:
    """The owner's side of one attempt: runs the effects not done, recording each in its ledger entry."""

    def __init__(self, *, ssm: Any, sns: Any, codedeploy: Any, config: HandlerConfig, clock: Callable[[], datetime],
                 name: str, entry: LedgerEntry, transition: AlarmTransition,
                 parameters: dict[str, StoredParameter]) -> None:
        self.ssm, self.sns, self.codedeploy, self.config, self.clock = ssm, sns, codedeploy, config, clock
        self.name, self.entry, self.transition, self.parameters = name, entry, transition, parameters

    def record(self, key: str, outcome: Outcome, detail: str, *, finished: bool = False) -> str | None:
        """Write the entry with this effect's outcome; the error text when the ledger write fails (the effect
        stands; at worst a redelivery repeats it)."""
        self.entry = self.entry.with_effect(key, outcome, detail, self.clock())
        if finished:
            self.entry = self.entry.model_copy(update={"state": "finished"})
        try:
            live_store.put_value(self.ssm, self.name, self.entry.model_dump_json(), description="revert ledger")
        except Exception as exc:
            logger.warning("ledger write failed", extra={"ledger": self.name, "error": _describe(exc)})
            return f"ledger {self.name}: {_describe(exc)}"
        return None

    def finish(self) -> str | None:
        self.entry = self.entry.model_copy(update={"state": "finished", "at": self.clock()})
        try:
            live_store.put_value(self.ssm, self.name, self.entry.model_dump_json(), description="revert ledger")
        except Exception as exc:
            return f"ledger {self.name}: {_describe(exc)}"
        return None

    def override(self, effect: WriteOverride, result: TransitionResult) -> None:
        variant = effect.record.variant
        try:
            write = ensure_revert(self.ssm, self.config.namespace, effect.record,
                                  self.parameters.get(param_override(self.config.namespace, variant)))
        except Exception as exc:
            # The part that protects users failed: record it (a retry may take over at once) and raise, so that
            # Lambda retries before anyone is paged with a revert that did not happen.
            self.record(effect.key, Outcome.FAILED, _describe(exc), finished=True)
            raise
        detail = f"version {write.version}" if write.version else "already reverted"
        if write.version:
            result.overrides_written.append({"variant": variant, "share": 0, "version": write.version})
            logger.info("override written", extra={"variant": variant, "version": write.version,
                                                    "folded": list(write.folded)})
        self.note(self.record(effect.key, Outcome.DONE, detail), result)

    def notify(self, effect: Notify, result: TransitionResult) -> None:
        arn = self.config.topic_arn(effect.topic, self.transition)
        try:
            with aws_call("sns:Publish"):
                self.sns.publish(TopicArn=arn, Subject=effect.subject, Message=effect.message)
        except Exception as exc:  # any failure here must leave the override standing
            result.errors.append(f"notify {arn}: {_describe(exc)}")
            logger.exception("notification failed; the override stands", extra={"topic": arn})
            self.note(self.record(effect.key, Outcome.FAILED, _describe(exc)), result)
            return
        result.notified.append(arn)
        self.note(self.record(effect.key, Outcome.DONE, arn), result)

    def stop(self, effect: StopDeployment, result: TransitionResult) -> None:
        where = f"rollback {effect.application}/{effect.deployment_group}"
        try:
            stopped, failures = _stop_deployments(self.codedeploy, effect)
        except Exception as exc:  # likewise: report, never undo
            stopped, failures = [], [_describe(exc)]
            logger.exception("CodeDeploy rollback failed; the override stands",
                             extra={"application": effect.application, "group": effect.deployment_group})
        result.deployments_stopped.extend(stopped)
        result.errors.extend(f"{where}: {failure}" for failure in failures)
        if failures:
            logger.error("CodeDeploy stop failed; the override stands", extra={"failures": failures})
        outcome = Outcome.FAILED if failures else Outcome.DONE
        self.note(self.record(effect.key, outcome, "; ".join(failures) or ", ".join(stopped) or "none active"),
                  result)

    @staticmethod
    def note(error: str | None, result: TransitionResult) -> None:
        if error:
            result.notes.append(f"not recorded in the ledger (a redelivery may repeat it): {error}")

    def run(self, effects: list[Effect], result: TransitionResult) -> TransitionResult:
        """Run `effects` in the plan's order. An override failure raises; later failures are collected."""
        for effect in effects:
            if isinstance(effect, WriteOverride):
                self.override(effect, result)
            elif isinstance(effect, Notify):
                self.notify(effect, result)
            else:
                self.stop(effect, result)
        self.note(self.finish(), result)
        if result.errors:
            result.status = "partial"
        return result


def _prune(ssm: Any, stored: list[ledger.Stored], now: datetime, retention: timedelta) -> None:
    """Delete old ledger entries (best effort: a leftover costs a little read time, never a revert)."""
    doomed = ledger.expired(stored, now=now, retention=retention)
    for i in range(0, len(doomed), 10):  # DeleteParameters takes at most 10 names
        try:
            with aws_call("ssm:DeleteParameters"):
                ssm.delete_parameters(Names=doomed[i:i + 10])
        except Exception as exc:
            logger.warning("ledger cleanup failed", extra={"error": _describe(exc)})
            return


def handle_transition(transition: AlarmTransition, *, ssm: Any, sns: Any, codedeploy: Any, config: HandlerConfig,
                      clock: Callable[[], datetime], owner: str = "") -> TransitionResult:
    """Check the source, read the live state and the ledger (only for ALARM), decide, and run what is not done."""
    state_value = transition.state.value
    if not transition.reverts:
        logger.info("ignored: only ALARM reverts", extra={"alarm": transition.alarm_name, "state": state_value})
        return TransitionResult(transition.alarm_name, "ignored", state_value,
                                notes=[f"state {state_value} never reverts"])
    if not config.account or not config.region:
        raise RevertConfigError("the revert handler does not know which account and region it serves",
                                where="VOICE_ACCOUNT_ID / AWS_REGION",
                                expected="the account id and region (in Lambda: taken from the invocation)")
    refusal = source_refusal(transition, account=config.account, region=config.region,
                             allowed=config.allowed_sources)
    if refusal:
        logger.warning("rejected: foreign source", extra={"alarm": transition.alarm_name, "reason": refusal,
                                                          "account": transition.account, "region": transition.region})
        return TransitionResult(transition.alarm_name, "rejected", state_value, notes=[refusal])
    parameters = live_store.read_namespace_parameters(ssm, config.namespace)
    state = live_state_from_parameters(config.namespace, {n: p.value for n, p in parameters.items()})
    if state.registry is None:
        problems = f" ({'; '.join(state.problems)})" if state.problems else ""
        raise RevertConfigError(f"no usable compiled registry at {param_registry(config.namespace)}{problems}",
                                where=param_registry(config.namespace),
                                expected="the registry applied to this namespace (or VOICE_NAMESPACE fixed)")
    now = clock()
    plan = plan_revert(transition, state.registry, state.overrides, now=now, deployment=config.deployment)
    if plan.verdict is Verdict.UNKNOWN_ALARM:
        logger.warning("rejected: unknown alarm", extra={"alarm": transition.alarm_name, "notes": plan.notes})
        return TransitionResult(plan.alarm, "rejected", state_value, notes=list(plan.notes))
    result = TransitionResult(plan.alarm, "reverted", state_value, notes=list(plan.notes))
    if not plan.effects:
        return result
    source = config.source_of(transition)
    stored = ledger.ledger_entries(config.namespace, {n: (p.value, p.version) for n, p in parameters.items()})
    planned = [e.key for e in plan.effects]
    turn = ledger.next_turn(stored, namespace=config.namespace, alarm=plan.alarm, at=transition.timestamp,
                            planned=planned, now=now, source=source, lease=config.lease)
    if turn.turn is not Turn.CLAIM:
        status = {Turn.COMPLETE: "duplicate", Turn.IN_PROGRESS: "in_progress", Turn.SUPERSEDED: "superseded"}
        note = {Turn.COMPLETE: "every effect of this transition is done",
                Turn.IN_PROGRESS: f"another delivery ({turn.owner or 'unnamed'}) is handling this transition",
                Turn.SUPERSEDED: "a newer transition of this alarm was already handled"}[turn.turn]
        logger.info(f"{status[turn.turn]}: {note}", extra={"alarm": plan.alarm})
        return TransitionResult(plan.alarm, status[turn.turn], state_value, notes=[*plan.notes, note])
    name = ledger.param_attempt(config.namespace, plan.alarm, transition.timestamp, turn.attempt, source)
    entry = LedgerEntry(alarm=plan.alarm, transition_at=transition.timestamp, attempt=turn.attempt,
                        owner=owner or "unnamed", at=now, planned=tuple(planned))
    if live_store.create_value(ssm, name, entry.model_dump_json(), description="revert ledger") is None:
        logger.info("in_progress: another delivery claimed this transition first", extra={"ledger": name})
        return TransitionResult(plan.alarm, "in_progress", state_value,
                                notes=[*plan.notes, "another delivery claimed this transition first"])
    if turn.done:
        result.notes.append(f"already done by an earlier attempt: {', '.join(sorted(turn.done))}")
    run = _Run(ssm=ssm, sns=sns, codedeploy=codedeploy, config=config, clock=clock, name=name, entry=entry,
               transition=transition, parameters=parameters)
    run.run([e for e in plan.effects if e.key not in turn.done], result)
    _prune(ssm, stored, now, config.retention)
    logger.info("alarm handled", extra=result.as_dict())
    return result


def handle(event: object, *, ssm: Any, sns: Any, codedeploy: Any, config: HandlerConfig,
           clock: Callable[[], datetime], owner: str = "") -> dict[str, Any]:
    """Handle one delivery (possibly several SNS records). Returns {"status", "results"}; never a bare KeyError."""
    try:
        transitions = parse_event(event)
    except MalformedAlarmEvent as exc:
        logger.warning("rejected: malformed alarm event", extra=error_fields(exc))
        return {"status": "rejected", "error": exc.what, "detail": error_fields(exc), "results": []}
    results = [handle_transition(t, ssm=ssm, sns=sns, codedeploy=codedeploy, config=config, clock=clock,
                                 owner=owner) for t in transitions]
    statuses = {r.status for r in results}
    order = ("partial", "reverted", "in_progress", "duplicate", "superseded", "rejected", "ignored")
    overall = next((s for s in order if s in statuses), "ignored")
    return {"status": overall, "results": [r.as_dict() for r in results]}


_clients: Clients | None = None


def _default_clients() -> Clients:
    # Built on first invocation (never at import) and reused while the Lambda container is warm.
    global _clients
    if _clients is None:
        _clients = Clients()
    return _clients


def error_fields(exc: VoiceRolloutError) -> dict[str, Any]:
    """An error as the handler's result and log record carry it: its class and structured fields."""
    fields = {"error": type(exc).__name__, "what": exc.what, "where": exc.where,
              "expected": getattr(exc, "expected", None)}
    return {k: v for k, v in fields.items() if v is not None}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (see the module docstring for configuration).

    A malformed event is a `rejected` result (retrying would not help); a configuration or AWS error is logged
    with its fields and raised, and so is an effect that failed (RevertIncomplete), so the asynchronous invocation
    is retried (the ledger makes the retry run only what failed) and the function's Errors metric counts it."""
    request_id = str(getattr(context, "aws_request_id", "") or "")
    if request_id:
        logger.append_keys(request_id=request_id)
    try:
        config = HandlerConfig.from_env().with_function_arn(getattr(context, "invoked_function_arn", None))
        clients = _default_clients()
        result = handle(event, ssm=clients.ssm, sns=clients.sns, codedeploy=clients.codedeploy, config=config,
                        clock=lambda: datetime.now(UTC), owner=request_id)
    except VoiceRolloutError as exc:
        logger.error("revert handler failed; the invocation will be retried", extra=error_fields(exc))
        raise
    if result["status"] == "partial":
        raise RevertIncomplete(result)
    return result
