"""The on-call dashboard: TTFA p50/p95 per variant, session error rate, barge-in success, alarm states.

Metric names come from the runtime that emits them (voice_runtime.metrics): TTFA in ms per turn, SessionError and
BargeIn 0/1 per attempt (so their Average is a rate), all with a Variant dimension.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from voice_runtime.metrics import BARGE_IN as BARGE_IN_METRIC
from voice_runtime.metrics import SESSION_ERROR as SESSION_ERROR_METRIC
from voice_runtime.metrics import TTFA as TTFA_METRIC

PERIOD = Duration.minutes(1)


def _per_variant(namespace: str, metric: str, statistic: str, variants: list[str]) -> list[cloudwatch.IMetric]:
    return [cloudwatch.Metric(namespace=namespace, metric_name=metric, dimensions_map={"Variant": v},
                              statistic=statistic, period=PERIOD, label=f"{v} {statistic}")
            for v in variants]


class VoiceDashboard(Construct):
    """One dashboard per registry, named after its namespace."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str, metrics_namespace: str,
                 variants: list[str], alarm_arns: list[str]) -> None:
        super().__init__(scope, construct_id)
        ttfa = cloudwatch.GraphWidget(
            title="TTFA (ms): p50 and p95 per variant", width=24,
            left=[*_per_variant(metrics_namespace, TTFA_METRIC, "p50", variants),
                  *_per_variant(metrics_namespace, TTFA_METRIC, "p95", variants)])
        errors = cloudwatch.GraphWidget(
            title="Session error rate per variant", width=12,
            left=_per_variant(metrics_namespace, SESSION_ERROR_METRIC, "Average", variants))
        barge_in = cloudwatch.GraphWidget(
            title="Barge-in success rate per variant", width=12,
            left=_per_variant(metrics_namespace, BARGE_IN_METRIC, "Average", variants))
        rows: list[list[cloudwatch.IWidget]] = [[ttfa], [errors, barge_in]]
        if alarm_arns:
            alarms = [cloudwatch.Alarm.from_alarm_arn(self, f"Alarm{i}", arn) for i, arn in enumerate(alarm_arns)]
            rows.insert(0, [cloudwatch.AlarmStatusWidget(title="Rollout alarms", alarms=alarms, width=24)])
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name, widgets=rows)
