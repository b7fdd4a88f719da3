"""The long-lived voice relay on ECS Fargate, built from the project's Dockerfile, behind a public ALB.

Nova Sonic streams last minutes, longer than a per-message Lambda can hold, so full voice turns go to this
service (`voicectl runtime serve`); the API Gateway path carries the echo variant only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.components.project_function import retention
from infra.nag import acknowledge, acknowledge_checkov
from infra.permissions import Grant
from infra.settings import InfraSettings
from registry.errors import ConfigInvalid

HEALTH_PATH = "/healthz"
# Longer than the client's 30-second heartbeat, so an idle but healthy conversation is never cut by the ALB.
IDLE_TIMEOUT = Duration.minutes(10)
# A deploy lets open conversations finish their turn before the old task goes away.
DRAIN = Duration.minutes(2)


class PlainRelayListener(ConfigInvalid):
    """The relay's public listener would be plain HTTP (ws://): audio and tokens across the internet unencrypted.
    Neither `relay_certificate_arn` nor `relay_allow_plain_ws` (the setting that accepts it) was given."""

    def __init__(self) -> None:
        super().__init__("the relay has no certificate (relay_certificate_arn) and plain ws:// to the internet was "
                         "not allowed (relay_allow_plain_ws)", where="relay_certificate_arn")
        self.settings = ("relay_certificate_arn", "relay_allow_plain_ws")


def _listener(scope: Construct, certificate_arn: str | None, allow_plain: bool) -> dict[str, Any]:
    """HTTPS (wss://) with the deployer's certificate and HTTP redirected; plain HTTP only when the settings say
    so explicitly (with a warning on the stack and checkov's findings acknowledged with that reason)."""
    if certificate_arn is None:
        if not allow_plain:
            raise PlainRelayListener()
        Annotations.of(scope).add_warning_v2(
            "voice-rollout:relay-http",
            "the relay listens on plain HTTP (ws://) because relay_allow_plain_ws is set: give "
            "relay_certificate_arn for wss://")
        return {}
    return {"certificate": acm.Certificate.from_certificate_arn(scope, "Certificate", certificate_arn),
            "protocol": elbv2.ApplicationProtocol.HTTPS, "redirect_http": True,
            "ssl_policy": elbv2.SslPolicy.RECOMMENDED_TLS}


class RelayService(Construct):
    """VPC (public subnets, flow logs), cluster with Container Insights, the Fargate service and its IAM."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: InfraSettings,
                 environment: Mapping[str, str], command: list[str], internal_token_parameter: str,
                 grants: list[Grant], nag_grants: list[Grant]) -> None:
        super().__init__(scope, construct_id)
        # Public subnets and public task IPs: the relay only calls AWS APIs, and a NAT gateway would add cost
        # and a failure point without adding isolation the security groups do not already give.
        self.vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)])
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=retention(settings.log_retention_days),
                                  removal_policy=RemovalPolicy.DESTROY)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc,
                              container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.task_role = iam.Role(self, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                                  description="voice relay: its backends and the namespace's parameters only")
        for grant in grants:
            self.task_role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(grant.actions), resources=list(grant.resources)))
        app_logs = logs.LogGroup(self, "Logs", retention=retention(settings.log_retention_days),
                                 removal_policy=RemovalPolicy.DESTROY)
        image = ecs.ContainerImage.from_asset(
            str(settings.project_root), file="Dockerfile", platform=ecr_assets.Platform.LINUX_ARM64)
        self.service = ecs_patterns.ApplicationLoadBalancedFargateService(
            self, "Service",
            cluster=cluster,
            cpu=512,
            memory_limit_mib=1024,
            desired_count=settings.relay_desired_count,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX),
            task_image_options=ecs_patterns.ApplicationLoadBalancedTaskImageOptions(
                image=image, container_port=settings.relay_port, task_role=self.task_role,
                command=command, environment=dict(environment),
                # Without a token the runtime trusts `internal: true` from any caller, which would hand
                # internal-only variants to the public: the token is injected from an SSM SecureString.
                secrets={"VOICE_INTERNAL_TOKEN": ecs.Secret.from_ssm_parameter(
                    ssm.StringParameter.from_secure_string_parameter_attributes(
                        self, "InternalToken", parameter_name=internal_token_parameter))},
                log_driver=ecs.LogDrivers.aws_logs(stream_prefix="relay", log_group=app_logs)),
            public_load_balancer=True,
            **_listener(self, settings.relay_certificate_arn, settings.relay_allow_plain_ws),
            assign_public_ip=True,
            task_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            idle_timeout=IDLE_TIMEOUT,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
        )
        self.service.target_group.configure_health_check(path=HEALTH_PATH, healthy_http_codes="200")
        # Requests with header fields that are not valid HTTP are dropped at the ALB, not passed to the relay
        # (checkov CKV_AWS_131); browsers' WebSocket upgrades carry none.
        self.service.load_balancer.set_attribute("routing.http.drop_invalid_header_fields.enabled", "true")
        self.service.target_group.set_attribute("deregistration_delay.timeout_seconds", str(DRAIN.to_seconds()))
        self._scale_on_cpu(settings)
        self._access_logs()
        self._acknowledge(nag_grants)
        self._acknowledge_checkov(settings, [flow_logs, app_logs])

    def _scale_on_cpu(self, settings: InfraSettings) -> None:
        """More tasks as CPU rises. Relay latency is CPU queueing: bench/bench_relay.py measured one runtime
        process adding 6-12 ms (p50-p95) to Nova Sonic turns with 30 sessions on a core and 33-105 ms with 100,
        so tasks are added well before a core is busy. Scale-in is slow: a task leaving drains live calls."""
        scaling = self.service.service.auto_scale_task_count(
            min_capacity=settings.relay_desired_count, max_capacity=settings.relay_max_count)
        scaling.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=settings.relay_target_cpu_percent,
            scale_out_cooldown=Duration.seconds(60), scale_in_cooldown=Duration.minutes(15))

    def _access_logs(self) -> None:
        """ALB access logs to an S3 bucket (ALB log delivery supports SSE-S3 only, not KMS)."""
        bucket = s3.Bucket(self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
                           block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                           removal_policy=RemovalPolicy.RETAIN)
        acknowledge(bucket, "AwsSolutions-S1",
                    "this bucket is the access-log destination itself; logging it would need another bucket "
                    "whose own logs raise the same finding")
        self.service.load_balancer.log_access_logs(bucket, prefix="relay-alb")
        acknowledge_checkov(bucket, "CKV_AWS_18", "this bucket is the access-log destination itself (as for "
                                                  "AwsSolutions-S1 above)")
        acknowledge_checkov(bucket, "CKV_AWS_21", "ALB access logs are written once and never overwritten: "
                                                  "versions would only duplicate them")

    def _acknowledge(self, nag_grants: list[Grant]) -> None:
        policy = self.task_role.node.find_child("DefaultPolicy")
        for grant in nag_grants:
            for resource in grant.resources:
                if "*" in resource:
                    acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", grant.why)
        execution_role = self.service.task_definition.obtain_execution_role()
        acknowledge(execution_role.node.find_child("DefaultPolicy"), "AwsSolutions-IAM5[Resource::*]",
                    "ecr:GetAuthorizationToken has no resource-level permissions; the image pull itself is "
                    "scoped to the asset repository")
        acknowledge(self.service.task_definition, "AwsSolutions-ECS2",
                    "the environment holds configuration only (namespace, region, port); no secrets")
        acknowledge(self.service.load_balancer.connections.security_groups[0], "AwsSolutions-EC23",
                    "the relay is the public voice endpoint browsers connect to; the ALB accepts the world on "
                    "its listener port only, the tasks accept the ALB only")

    def _acknowledge_checkov(self, settings: InfraSettings, log_groups: list[logs.LogGroup]) -> None:
        for log_group in log_groups:
            acknowledge_checkov(log_group, "CKV_AWS_158",
                                "CloudWatch Logs encrypts every log group at rest; the relay logs no audio, "
                                "transcripts or secrets, so a customer-managed key adds a key policy and nothing "
                                "it protects")
        group = self.service.load_balancer.connections.security_groups[0]
        if settings.relay_certificate_arn is None:  # only reached with relay_allow_plain_ws (see _listener)
            reason = "plain ws:// was asked for explicitly (relay_allow_plain_ws): a test deploy without a certificate"
            acknowledge_checkov(self.service.listener, "CKV_AWS_2", reason)
            acknowledge_checkov(self.service.listener, "CKV_AWS_103", reason)
            acknowledge_checkov(group, "CKV_AWS_260", reason)
        else:
            acknowledge_checkov(group, "CKV_AWS_260", "port 80 only answers with a redirect to HTTPS (redirect_http); "
                                                      "no request is served there")
