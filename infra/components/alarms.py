"""The Plan's CloudWatch alarms as CfnAlarm resources, property for property, with their actions wired.

The compiler already produced the exact PutMetricAlarm arguments; this module only renames them to CloudFormation
properties and swaps the placeholder action ARNs for the deployed topics and revert function. An argument with no
CloudFormation counterpart is an error, so a new compiler field cannot be dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from control_plane.compiler import AlarmSpec
from infra.arns import ArnScope
from registry.errors import InvalidInput

# PutMetricAlarm argument -> AWS::CloudWatch::Alarm property (CDK keyword).
CFN_ALARM_PROPERTY = {
    "AlarmName": "alarm_name",
    "AlarmDescription": "alarm_description",
    "ActionsEnabled": "actions_enabled",
    "AlarmActions": "alarm_actions",
    "OKActions": "ok_actions",
    "InsufficientDataActions": "insufficient_data_actions",
    "MetricName": "metric_name",
    "Namespace": "namespace",
    "Dimensions": "dimensions",
    "Period": "period",
    "EvaluationPeriods": "evaluation_periods",
    "DatapointsToAlarm": "datapoints_to_alarm",
    "Threshold": "threshold",
    "ComparisonOperator": "comparison_operator",
    "TreatMissingData": "treat_missing_data",
    "Statistic": "statistic",
    "ExtendedStatistic": "extended_statistic",
    "Unit": "unit",
    "EvaluateLowSampleCountPercentile": "evaluate_low_sample_count_percentile",
    "ThresholdMetricId": "threshold_metric_id",
}
ACTION_ARGUMENTS = ("AlarmActions", "OKActions", "InsufficientDataActions")
LAMBDA_ALARM_PRINCIPAL = "lambda.alarms.cloudwatch.amazonaws.com"


class UnmappedAlarmArgument(InvalidInput):
    """The Plan holds something the CDK app cannot express: a compiler/infra mismatch, not a user error."""


def alarm_properties(args: Mapping[str, Any], deployed_arn: Mapping[str, str]) -> dict[str, Any]:
    """CfnAlarm keyword arguments for one alarm's PutMetricAlarm `args` (pure).

    `deployed_arn` maps each action ARN the compiler wrote (placeholder account) to the deployed resource's ARN.
    """
    props: dict[str, Any] = {}
    for key, value in args.items():
        if key not in CFN_ALARM_PROPERTY:
            raise UnmappedAlarmArgument(
                f"alarm {args.get('AlarmName')}: PutMetricAlarm argument {key} has no CloudFormation mapping",
                where=str(args.get("AlarmName")), value=key,
                expected="a PutMetricAlarm argument listed in infra.components.alarms.CFN_ALARM_PROPERTY")
        if key in ACTION_ARGUMENTS:
            unknown = [arn for arn in value if arn not in deployed_arn]
            if unknown:
                raise UnmappedAlarmArgument(
                    f"alarm {args.get('AlarmName')}: action {unknown[0]} is not a resource of this app",
                    where=str(args.get("AlarmName")), value=unknown[0],
                    expected="actions on the topics and revert function of the same Plan")
            value = [deployed_arn[arn] for arn in value]
        elif key == "Dimensions":
            value = [{"name": d["Name"], "value": d["Value"]} for d in value]
        props[CFN_ALARM_PROPERTY[key]] = value
    return props


class PlanAlarms(Construct):
    """Every alarm of the Plan; alarms that act through the revert function get a resource-based permission
    for CloudWatch's Lambda alarm action, scoped to that alarm's ARN."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: tuple[AlarmSpec, ...],
        deployed_arn: Mapping[str, str],
        revert_function: lambda_.IFunction,
        revert_placeholder_arn: str,
        arns: ArnScope,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cloudwatch.CfnAlarm] = {}
        for spec in specs:
            alarm = cloudwatch.CfnAlarm(self, spec.name, **alarm_properties(spec.args, deployed_arn))
            if revert_placeholder_arn in spec.args.get("AlarmActions", []):
                revert_function.add_permission(
                    f"InvokeBy{spec.name}",
                    principal=iam.ServicePrincipal(LAMBDA_ALARM_PRINCIPAL),
                    action="lambda:InvokeFunction",
                    source_arn=arns.alarm(spec.name),
                    source_account=arns.account,
                )
            self.alarms[spec.name] = alarm
