"""The long-lived voice relay on ECS Fargate, built from the project's Dockerfile, behind a public ALB.

Nova Sonic streams last minutes, longer than a per-message Lambda can hold, so full voice turns go to this
service (`voicectl runtime serve`); the API Gateway path carries the echo variant only.

Deploys: ECS's built-in canary (infra/components/canary.py decides the percent, bakes and alarms). The
production listener rule forwards to a blue and a green target group; ECS registers the new task set in the
idle one, moves the rule's weights, and rolls back (weights back, new tasks gone) when a rollback alarm fires.

Stopping a task, aligned with the runtime (docs/reliability.md, "drain"). ECS first deregisters the task from
its target group and waits for the deregistration delay (or for its last connection to close), and only then
sends SIGTERM, then SIGKILL after the container's stop timeout (ECS task lifecycle: DEACTIVATING, STOPPING). The
ALB sends a deregistering target no new connection, and closes what is still open when the delay ends. The relay
cannot see the deregistration, so it bounds every session's age instead: past `max_session_seconds` a session
is closed with 1012 (reconnect) at its next turn boundary, and the delay is longer than that age plus the
longest turn, so every call on a leaving task ends between two turns and reconnects to another task before the
ALB would cut it. SIGTERM then finds no session left (or drains the few a manual stop caught), and the stop
timeout is longer than the runtime's whole stop bound (drain + shutdown + exit margin).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.components.canary import CanaryPlan
from infra.components.project_function import retention
from infra.nag import acknowledge, acknowledge_checkov
from infra.permissions import Grant
from infra.settings import InfraSettings
from registry.errors import ConfigInvalid
from voice_runtime.session import longest_turn
from voice_runtime.settings import RuntimeSettings
from voice_runtime.shutdown import stop_bound

HEALTH_PATH = "/healthz"
CONTAINER = "relay"
# Longer than the client's 30-second heartbeat, so an idle but healthy conversation is never cut by the ALB.
IDLE_TIMEOUT = Duration.minutes(10)
# Fargate's largest container stop timeout (ECS task definition parameters, stopTimeout: 120 s on Fargate).
STOP_TIMEOUT_SECONDS = 120
# The relay's stop settings on ECS: a session lives 8 minutes at most (Nova Sonic's own stream limit, so the
# backend stream is renewed at the same moment anyway); SIGTERM drains 90 s and shuts down in 10.
RELAY_RUNTIME = RuntimeSettings(max_session_seconds=480, drain_seconds=90, shutdown_seconds=10)
DELAY_MARGIN_SECONDS = 30  # the 1012 close handshake and the client's reconnect, after the last turn_end


@dataclass(frozen=True)
class StopTiming:
    """The ECS and ALB numbers derived from the runtime's own bounds (tested to stay aligned)."""

    deregistration_delay_seconds: int
    stop_timeout_seconds: int


def stop_timing(runtime: RuntimeSettings) -> StopTiming:
    """Deregistration delay: the oldest a session gets plus the longest turn it may be in then, plus margin.
    Stop timeout: Fargate's maximum, which must cover the runtime's stop bound."""
    assert runtime.max_session_seconds is not None, "the relay needs a session age limit to fit the delay"
    delay = runtime.max_session_seconds + longest_turn(runtime) + DELAY_MARGIN_SECONDS
    if stop_bound(runtime) >= STOP_TIMEOUT_SECONDS:
        raise ValueError(f"the runtime's stop bound {stop_bound(runtime):g}s does not fit ECS's "
                         f"{STOP_TIMEOUT_SECONDS}s stop timeout")
    return StopTiming(int(delay), STOP_TIMEOUT_SECONDS)


def relay_flags(runtime: RuntimeSettings) -> list[str]:
    """`voicectl runtime serve` options carrying the relay's stop settings."""
    assert runtime.max_session_seconds is not None
    return ["--max-session-seconds", f"{runtime.max_session_seconds:g}", "--drain-seconds",
            f"{runtime.drain_seconds:g}", "--shutdown-seconds", f"{runtime.shutdown_seconds:g}"]


class PlainRelayListener(ConfigInvalid):
    """The relay's public listener would be plain HTTP (ws://): audio and tokens across the internet unencrypted.
    Neither `relay_certificate_arn` nor `relay_allow_plain_ws` (the setting that accepts it) was given."""

    def __init__(self) -> None:
        super().__init__("the relay has no certificate (relay_certificate_arn) and plain ws:// to the internet was "
                         "not allowed (relay_allow_plain_ws)", where="relay_certificate_arn")
        self.settings = ("relay_certificate_arn", "relay_allow_plain_ws")


def _listener(scope: Construct, lb: elbv2.ApplicationLoadBalancer, certificate_arn: str | None, allow_plain: bool,
              default: elbv2.ListenerAction) -> elbv2.ApplicationListener:
    """HTTPS (wss://) with the deployer's certificate and HTTP redirected; plain HTTP only when the settings say
    so explicitly (with a warning on the stack and checkov's findings acknowledged with that reason)."""
    if certificate_arn is None:
        if not allow_plain:
            raise PlainRelayListener()
        Annotations.of(scope).add_warning_v2(
            "voice-rollout:relay-http",
            "the relay listens on plain HTTP (ws://) because relay_allow_plain_ws is set: give "
            "relay_certificate_arn for wss://")
        return lb.add_listener("Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=True,
                               default_action=default)
    certificate = acm.Certificate.from_certificate_arn(scope, "Certificate", certificate_arn)
    lb.add_redirect(source_port=80, target_port=443)
    return lb.add_listener("Https", port=443, protocol=elbv2.ApplicationProtocol.HTTPS, open=True,
                           certificates=[certificate], ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                           default_action=default)


class RelayService(Construct):
    """VPC (public subnets, flow logs), cluster with Container Insights, the ALB with its blue and green target
    groups, the Fargate service deployed by canary, and its IAM."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: InfraSettings,
                 environment: Mapping[str, str], command: list[str], internal_token_parameter: str,
                 grants: list[Grant], nag_grants: list[Grant], canary: CanaryPlan,
                 timing: StopTiming) -> None:
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
        self.task_definition = self._task_definition(settings, environment, command, internal_token_parameter,
                                                     timing)
        public = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        self.load_balancer = elbv2.ApplicationLoadBalancer(self, "LoadBalancer", vpc=self.vpc, internet_facing=True,
                                                           vpc_subnets=public, idle_timeout=IDLE_TIMEOUT)
        # Requests with header fields that are not valid HTTP are dropped at the ALB, not passed to the relay
        # (checkov CKV_AWS_131); browsers' WebSocket upgrades carry none.
        self.load_balancer.set_attribute("routing.http.drop_invalid_header_fields.enabled", "true")
        self.blue, self.green = (self._target_group(name, settings, timing) for name in ("Blue", "Green"))
        # Both groups on the rule from the start (ECS moves the weights); the default action forwards the same
        # way, since ECS refuses listeners that mix forward and non-forward actions.
        weighted = elbv2.ListenerAction.weighted_forward([
            elbv2.WeightedTargetGroup(target_group=self.blue, weight=100),
            elbv2.WeightedTargetGroup(target_group=self.green, weight=0)])
        self.listener = _listener(self, self.load_balancer, settings.relay_certificate_arn,
                                  settings.relay_allow_plain_ws, weighted)
        self.production_rule = elbv2.ApplicationListenerRule(
            self, "ProductionRule", listener=self.listener, priority=1,
            conditions=[elbv2.ListenerCondition.path_patterns(["/*"])], action=weighted)
        self.service = ecs.FargateService(
            self, "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=settings.relay_desired_count,
            assign_public_ip=True,
            vpc_subnets=public,
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
            deployment_controller=ecs.DeploymentController(type=ecs.DeploymentControllerType.ECS),
            deployment_strategy=ecs.DeploymentStrategy.CANARY,
            canary_configuration=ecs.TrafficShiftConfig(
                step_percent=canary.percent, step_bake_time=Duration.minutes(canary.bake_minutes)),
            bake_time=Duration.minutes(canary.deployment_bake_minutes),
            deployment_alarms=ecs.DeploymentAlarmConfig(
                alarm_names=list(canary.alarm_names), behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM)
            if canary.alarm_names else None,
        )
        # ECS's circuit breaker works for rolling updates only; a canary fails on its own health checks and alarms.
        Annotations.of(self.service).acknowledge_warning(
            "@aws-cdk/aws-ecs:shouldUseCircuitBreaker",
            "the canary strategy has no circuit breaker (rolling only): unhealthy new tasks never get traffic and "
            "the rollback alarms roll it back")
        self.service.load_balancer_target(
            container_name=CONTAINER, container_port=settings.relay_port,
            alternate_target=ecs.AlternateTarget(
                "Green", alternate_target_group=self.green,
                production_listener=ecs.ListenerRuleConfiguration.application_listener_rule(self.production_rule)),
        ).attach_to_application_target_group(self.blue)
        self._scale_on_cpu(settings)
        self._access_logs()
        self._acknowledge(nag_grants)
        self._acknowledge_checkov(settings, [flow_logs, self.app_logs])

    def _task_definition(self, settings: InfraSettings, environment: Mapping[str, str], command: list[str],
                         internal_token_parameter: str, timing: StopTiming) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self, "Task", cpu=512, memory_limit_mib=1024, task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        app_logs = self.app_logs = logs.LogGroup(self, "Logs", retention=retention(settings.log_retention_days),
                                                 removal_policy=RemovalPolicy.DESTROY)
        image = ecs.ContainerImage.from_asset(
            str(settings.project_root), file="Dockerfile", platform=ecr_assets.Platform.LINUX_ARM64)
        task.add_container(
            CONTAINER, image=image, command=command, environment=dict(environment),
            # Without a token the runtime trusts `internal: true` from any caller, which would hand internal-only
            # variants to the public: the token is injected from an SSM SecureString.
            secrets={"VOICE_INTERNAL_TOKEN": ecs.Secret.from_ssm_parameter(
                ssm.StringParameter.from_secure_string_parameter_attributes(
                    self, "InternalToken", parameter_name=internal_token_parameter))},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="relay", log_group=app_logs),
            port_mappings=[ecs.PortMapping(container_port=settings.relay_port)],
            stop_timeout=Duration.seconds(timing.stop_timeout_seconds))
        return task

    def _target_group(self, name: str, settings: InfraSettings, timing: StopTiming) -> elbv2.ApplicationTargetGroup:
        return elbv2.ApplicationTargetGroup(
            self, name, vpc=self.vpc, port=settings.relay_port, protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            health_check=elbv2.HealthCheck(path=HEALTH_PATH, healthy_http_codes="200"),
            deregistration_delay=Duration.seconds(timing.deregistration_delay_seconds))

    def _scale_on_cpu(self, settings: InfraSettings) -> None:
        """More tasks as CPU rises. Relay latency is CPU queueing: bench/bench_relay.py measured one runtime
        process adding 6-12 ms (p50-p95) to Nova Sonic turns with 30 sessions on a core and 33-105 ms with 100,
        so tasks are added well before a core is busy. Scale-in is slow: a task leaving drains live calls."""
        scaling = self.service.auto_scale_task_count(
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
        acknowledge_checkov(bucket, "CKV_AWS_18", "this bucket is the access-log destination itself (as for "
                                                  "AwsSolutions-S1 above)")
        acknowledge_checkov(bucket, "CKV_AWS_21", "ALB access logs are written once and never overwritten: "
                                                  "versions would only duplicate them")
        self.load_balancer.log_access_logs(bucket, prefix="relay-alb")

    def _acknowledge(self, nag_grants: list[Grant]) -> None:
        policy = self.task_role.node.find_child("DefaultPolicy")
        for grant in nag_grants:
            for resource in grant.resources:
                if "*" in resource:
                    acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", grant.why)
        execution_role = self.task_definition.obtain_execution_role()
        acknowledge(execution_role.node.find_child("DefaultPolicy"), "AwsSolutions-IAM5[Resource::*]",
                    "ecr:GetAuthorizationToken has no resource-level permissions; the image pull itself is "
                    "scoped to the asset repository")
        acknowledge(self.service.node.find_child("GreenRole"), "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:"
                    "iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers]",
                    "the role ECS assumes to move the canary's listener-rule weights and register the new task "
                    "set: AWS's own policy for exactly that (ECS developer guide, infrastructure IAM role for "
                    "load balancers)")
        acknowledge(self.task_definition, "AwsSolutions-ECS2",
                    "the environment holds configuration only (namespace, region, port); no secrets")
        acknowledge(self.load_balancer.connections.security_groups[0], "AwsSolutions-EC23",
                    "the relay is the public voice endpoint browsers connect to; the ALB accepts the world on "
                    "its listener port only, the tasks accept the ALB only")

    def _acknowledge_checkov(self, settings: InfraSettings, log_groups: list[logs.LogGroup]) -> None:
        for log_group in log_groups:
            acknowledge_checkov(log_group, "CKV_AWS_158",
                                "CloudWatch Logs encrypts every log group at rest; the relay logs no audio, "
                                "transcripts or secrets, so a customer-managed key adds a key policy and nothing "
                                "it protects")
        group = self.load_balancer.connections.security_groups[0]
        if settings.relay_certificate_arn is None:  # only reached with relay_allow_plain_ws (see _listener)
            reason = "plain ws:// was asked for explicitly (relay_allow_plain_ws): a test deploy without a certificate"
            acknowledge_checkov(self.listener, "CKV_AWS_2", reason)
            acknowledge_checkov(self.listener, "CKV_AWS_103", reason)
            acknowledge_checkov(group, "CKV_AWS_260", reason)
        else:
            acknowledge_checkov(group, "CKV_AWS_260", "port 80 only answers with a redirect to HTTPS (redirect_http); "
                                                      "no request is served there")
