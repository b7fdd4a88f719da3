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
from infra.nag import acknowledge
from infra.permissions import Grant
from infra.settings import InfraSettings

HEALTH_PATH = "/healthz"
# Longer than the client's 30-second heartbeat, so an idle but healthy conversation is never cut by the ALB.
IDLE_TIMEOUT = Duration.minutes(10)
# A deploy lets open conversations finish their turn before the old task goes away.
DRAIN = Duration.minutes(2)


def _listener(scope: Construct, certificate_arn: str | None) -> dict[str, Any]:
    """HTTPS (wss://) with the deployer's certificate and HTTP redirected; plain HTTP, with a warning, without."""
    if certificate_arn is None:
        Annotations.of(scope).add_warning_v2(
            "voice-rollout:relay-http",
            "the relay listens on plain HTTP (ws://): pass -c relay_certificate_arn=<ACM ARN> for wss://")
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
            **_listener(self, settings.relay_certificate_arn),
            assign_public_ip=True,
            task_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            idle_timeout=IDLE_TIMEOUT,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
        )
        self.service.target_group.configure_health_check(path=HEALTH_PATH, healthy_http_codes="200")
        self.service.target_group.set_attribute("deregistration_delay.timeout_seconds", str(DRAIN.to_seconds()))
        self._scale_on_cpu(settings)
        self._access_logs()
        self._acknowledge(nag_grants)

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
