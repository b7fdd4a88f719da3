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

Failure policy: the override write is the part that protects users, so when reading the live state or
writing an override fails the handler raises (Lambda retries the asynchronous invocation, and the retry is
idempotent). A failed notification or CodeDeploy call is logged and reported as `partial`; it never undoes
the override. A malformed event or an alarm the registry does not name is logged and `rejected` (retrying
would not help).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from control_plane.alarms.events import AlarmTransition, MalformedAlarmEvent, parse_event
from control_plane.alarms.revert import Notify, RevertPlan, StopDeployment, Verdict, WriteOverride, plan_revert
from control_plane.aws import live_store
from control_plane.aws.session import Clients, aws_call
from registry.errors import ConfigInvalid, VoiceRolloutError
from registry.live_state import param_registry

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "voice-rollout-revert"))

ACTIVE_DEPLOYMENT_STATUSES = ["Created", "Queued", "InProgress", "Ready"]


class RevertConfigError(ConfigInvalid):
    """The handler is deployed without what it needs (`where`: the setting, or the registry parameter in SSM)."""


@dataclass(frozen=True)
class HandlerConfig:
    namespace: str
    topic_arn_prefix: str | None = None
    deployment_application: str | None = None
    deployment_group: str | None = None
    topic_arns: dict[str, str] = field(default_factory=dict)

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
        return cls(namespace.rstrip("/"), env.get("VOICE_TOPIC_ARN_PREFIX") or None,
                   env.get("VOICE_DEPLOYMENT_APPLICATION") or None, env.get("VOICE_DEPLOYMENT_GROUP") or None,
                   {str(k): v for k, v in topic_arns.items()})

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
        region, account = transition.region or "us-east-1", transition.account or "000000000000"
        partition = (transition.alarm_arn or "arn:aws").split(":")[1] or "aws"
        return f"arn:{partition}:sns:{region}:{account}:{topic}"


@dataclass
class TransitionResult:
    """What one transition did; `status` is reverted | partial | duplicate | ignored | rejected."""

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


def run_plan(plan: RevertPlan, transition: AlarmTransition, *, ssm: Any, sns: Any, codedeploy: Any,
             config: HandlerConfig) -> TransitionResult:
    """Run the plan's effects in order. An override failure raises; later failures are collected."""
    result = TransitionResult(plan.alarm, "reverted", transition.state.value, notes=list(plan.notes))
    for effect in plan.effects:
        if isinstance(effect, WriteOverride):
            version = live_store.put_override(ssm, config.namespace, effect.record)
            result.overrides_written.append({"variant": effect.record.variant, "share": 0, "version": version})
            logger.info("override written", extra={"variant": effect.record.variant, "version": version})
        elif isinstance(effect, Notify):
            arn = config.topic_arn(effect.topic, transition)
            try:
                with aws_call("sns:Publish"):
                    sns.publish(TopicArn=arn, Subject=effect.subject, Message=effect.message)
                result.notified.append(arn)
            except Exception as exc:  # any failure here must leave the override standing
                result.errors.append(f"notify {arn}: {_describe(exc)}")
                logger.exception("notification failed; the override stands", extra={"topic": arn})
        else:
            where = f"rollback {effect.application}/{effect.deployment_group}"
            try:
                stopped, failures = _stop_deployments(codedeploy, effect)
                result.deployments_stopped.extend(stopped)
                result.errors.extend(f"{where}: {failure}" for failure in failures)
                if failures:
                    logger.error("CodeDeploy stop failed; the override stands", extra={"failures": failures})
            except Exception as exc:  # likewise: report, never undo
                result.errors.append(f"{where}: {_describe(exc)}")
                logger.exception("CodeDeploy rollback failed; the override stands",
                                 extra={"application": effect.application, "group": effect.deployment_group})
    if result.errors:
        result.status = "partial"
    return result


def handle_transition(transition: AlarmTransition, *, ssm: Any, sns: Any, codedeploy: Any, config: HandlerConfig,
                      clock: Callable[[], datetime]) -> TransitionResult:
    """Read the live state (only for ALARM), decide, and run the effects."""
    if not transition.reverts:
        logger.info("ignored: only ALARM reverts", extra={"alarm": transition.alarm_name,
                                                           "state": transition.state.value})
        return TransitionResult(transition.alarm_name, "ignored", transition.state.value,
                                notes=[f"state {transition.state.value} never reverts"])
    state = live_store.read_live_state(ssm, config.namespace)
    if state.registry is None:
        problems = f" ({'; '.join(state.problems)})" if state.problems else ""
        raise RevertConfigError(f"no usable compiled registry at {param_registry(config.namespace)}{problems}",
                                where=param_registry(config.namespace),
                                expected="the registry applied to this namespace (or VOICE_NAMESPACE fixed)")
    plan = plan_revert(transition, state.registry, state.overrides, now=clock(), deployment=config.deployment)
    if plan.verdict is Verdict.UNKNOWN_ALARM:
        logger.warning("rejected: unknown alarm", extra={"alarm": transition.alarm_name, "notes": plan.notes})
        return TransitionResult(plan.alarm, "rejected", transition.state.value, notes=list(plan.notes))
    if plan.verdict is Verdict.DUPLICATE:
        logger.info("duplicate delivery: already handled", extra={"alarm": transition.alarm_name})
        return TransitionResult(plan.alarm, "duplicate", transition.state.value, notes=list(plan.notes))
    result = run_plan(plan, transition, ssm=ssm, sns=sns, codedeploy=codedeploy, config=config)
    logger.info("alarm handled", extra=result.as_dict())
    return result


def handle(event: object, *, ssm: Any, sns: Any, codedeploy: Any, config: HandlerConfig,
           clock: Callable[[], datetime]) -> dict[str, Any]:
    """Handle one delivery (possibly several SNS records). Returns {"status", "results"}; never a bare KeyError."""
    try:
        transitions = parse_event(event)
    except MalformedAlarmEvent as exc:
        logger.warning("rejected: malformed alarm event", extra=error_fields(exc))
        return {"status": "rejected", "error": exc.what, "detail": error_fields(exc), "results": []}
    results = [handle_transition(t, ssm=ssm, sns=sns, codedeploy=codedeploy, config=config, clock=clock)
               for t in transitions]
    statuses = {r.status for r in results}
    overall = next((s for s in ("partial", "reverted", "duplicate", "rejected", "ignored") if s in statuses),
                   "ignored")
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
    with its fields and raised, so the asynchronous invocation is retried and the function's Errors metric counts
    it (the override is what protects users: it must not be dropped silently)."""
    if context is not None and hasattr(context, "aws_request_id"):
        logger.append_keys(request_id=context.aws_request_id)
    try:
        config = HandlerConfig.from_env()
        clients = _default_clients()
        return handle(event, ssm=clients.ssm, sns=clients.sns, codedeploy=clients.codedeploy, config=config,
                      clock=lambda: datetime.now(UTC))
    except VoiceRolloutError as exc:
        logger.error("revert handler failed; the invocation will be retried", extra=error_fields(exc))
        raise
