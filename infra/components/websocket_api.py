"""The API Gateway WebSocket API of the echo/Lambda path: $connect behind a Lambda REQUEST authorizer,
$disconnect, $default, a stage with JSON access logs and throttling sized for 30-second heartbeats."""

from __future__ import annotations

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.components.project_function import retention
from infra.nag import acknowledge, acknowledge_checkov

STAGE = "live"
# Browsers cannot set headers on a WebSocket upgrade, so the token travels in the query string.
IDENTITY_SOURCE = "route.request.querystring.token"


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """Stage access logs: JSON lines in a CloudWatch log group."""

    def __init__(self, group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(
            '{"requestId":"$context.requestId","connectionId":"$context.connectionId",'
            '"routeKey":"$context.routeKey","eventType":"$context.eventType","status":"$context.status",'
            '"ip":"$context.identity.sourceIp","requestTime":"$context.requestTimeEpoch",'
            '"integrationLatency":"$context.integration.latency","error":"$context.error.message"}')


class VoiceWebSocketApi(Construct):
    """Routes, authorizer and stage. API Gateway closes a WebSocket after 10 idle minutes (2 hours at most):
    the client's 30-second heartbeat keeps it open, and the throttle leaves room for those frames."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        connect: lambda_.IFunction,
        disconnect: lambda_.IFunction,
        default: lambda_.IFunction,
        authorizer: lambda_.IFunction,
        log_retention_days: int,
        account_role: bool = True,
        rate_limit: int = 500,
        burst_limit: int = 1000,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.WebSocketApi(
            self, "Api",
            description="voice runtime WebSocket ($connect authorised, $default echo/turns)",
            route_selection_expression="$request.body.type",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("ConnectIntegration", connect),
                authorizer=authorizers.WebSocketLambdaAuthorizer(
                    "Authorizer", authorizer, identity_source=[IDENTITY_SOURCE]),
            ),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("DisconnectIntegration", disconnect)),
            default_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("DefaultIntegration", default)),
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=retention(log_retention_days),
                                         removal_policy=RemovalPolicy.DESTROY)
        acknowledge_checkov(self.access_logs, "CKV_AWS_158",
                            "CloudWatch Logs encrypts every log group at rest; access logs hold request metadata "
                            "(ids, status, source IP), no audio or tokens")
        self.stage = apigwv2.WebSocketStage(
            self, "Stage", web_socket_api=self.api, stage_name=STAGE, auto_deploy=True,
            access_log_settings=_AccessLogs(self.access_logs),
            throttle=apigwv2.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
        )
        if account_role:
            self._account_logging_role()
        for route in ("$disconnect", "$default"):
            # WebSocket APIs authorise once, on $connect; later routes run on the authorised connection and
            # API Gateway accepts no authorizer on them.
            acknowledge(self.api.node.find_child(f"{route}-Route"), "AwsSolutions-APIG4",
                        "WebSocket authorisation happens on $connect only; this route runs on that connection")

    def _account_logging_role(self) -> None:
        """The account-wide role API Gateway writes access logs with; the stage waits for it."""
        role = iam.Role(self, "ApiGatewayLogsRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                            "service-role/AmazonAPIGatewayPushToCloudWatchLogs")])
        account = apigw.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        self.stage.node.add_dependency(account)
        acknowledge(role, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]",
                    "the account-level API Gateway logging role serves every API of the account, so it cannot be "
                    "scoped to this API's log group; AWS's managed policy is the documented setup")

    def connections_arn(self, partition: str, region: str, account: str) -> str:
        """execute-api ARN for posting to (and closing) this stage's connections, nothing else."""
        return (f"arn:{partition}:execute-api:{region}:{account}:{self.api.api_id}/{STAGE}/"
                f"*/@connections/*")
