"""Runtime stack: the WebSocket API and its Lambda handlers, the ECS relay, and the canaries (CodeDeploy on
$default, ECS's own on the relay), both watched by the registry's rollback alarms."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Aws, CfnElement, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from control_plane.compiler import Plan
from infra.arns import NAG_ARNS, ArnScope
from infra.components.canary import CanaryDeployment, canary_plan
from infra.components.project_function import ProjectFunction, project_code
from infra.components.relay_service import RELAY_RUNTIME, RelayService, relay_flags, stop_timing
from infra.components.websocket_api import STAGE, VoiceWebSocketApi
from infra.nag import acknowledge
from infra.permissions import INTERNAL_TOKEN, WS_TOKEN, relay_grants, secret_parameter
from infra.settings import InfraSettings
from voice_runtime.adapters.backend_settings import BackendSettings
from voice_runtime.apigw import TOKEN_PARAMETER_ENV

APIGW_HANDLERS = {
    "Connect": "voice_runtime.apigw.connect_handler",
    "Disconnect": "voice_runtime.apigw.disconnect_handler",
    "Default": "voice_runtime.apigw.default_handler",
    "Authorizer": "voice_runtime.apigw.authorizer_handler",
}
LIVE_ALIAS = "live"
# checkov CKV_AWS_115 on the WebSocket handlers.
APIGW_UNRESERVED = ("the stage's throttling (rate and burst limits) bounds these handlers; reserved concurrency "
                    "would be taken from the account's unreserved pool, which AWS keeps at 100 or more, and a "
                    "caller over it is refused by API Gateway before Lambda is reached")


def relay_command(namespace: str, baseline: str, port: int) -> list[str]:
    """The relay container's command: `voicectl runtime serve` reading this registry's namespace from SSM,
    EMF metrics on stdout (CloudWatch Logs extracts them), the baseline until the first registry read, and the
    stop settings the ECS and ALB timings are derived from (relay_service.RELAY_RUNTIME)."""
    return ["voicectl", "runtime", "serve", "--host", "0.0.0.0", "--port", str(port), "--registry-source", "ssm",
            "--namespace", namespace, "--fallback-baseline", baseline, "--metrics", "emf",
            *relay_flags(RELAY_RUNTIME)]


class RuntimeStack(Stack):
    """Everything a caller's voice touches."""

    def __init__(self, scope: Construct, construct_id: str, *, plan: Plan, settings: InfraSettings,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        arns = ArnScope(Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID)
        compiled = plan.compiled
        for key, value in plan.tags.items():
            Tags.of(self).add(key, value)
        code = project_code(settings)
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", settings.powertools_layer_arn(Aws.PARTITION, Aws.REGION))
        environment = {"VOICE_NAMESPACE": compiled.namespace,
                       "VOICE_CACHE_TTL_SECONDS": str(compiled.cache_ttl_seconds)}
        self.handlers = {
            name: ProjectFunction(self, f"{name}Handler", handler=handler, code=code, layer=layer,
                                  description=f"voice runtime WebSocket {name.lower()} ({handler})",
                                  environment=environment, timeout_seconds=10 if name == "Authorizer" else 29,
                                  memory_mb=256, log_retention_days=settings.log_retention_days,
                                  unreserved_because=APIGW_UNRESERVED)
            for name, handler in APIGW_HANDLERS.items()
        }
        # $connect and the authorizer compare the caller's ?token= with a SecureString the operator puts at
        # <namespace>-secrets/ws_token (CloudFormation cannot create SecureStrings); they may read that one only.
        token_parameter = secret_parameter(compiled.namespace, WS_TOKEN)
        for name in ("Connect", "Authorizer"):
            self.handlers[name].function.add_environment(TOKEN_PARAMETER_ENV, token_parameter)
            self.handlers[name].allow(["ssm:GetParameter"], [arns.parameter(token_parameter)])
        # CodeDeploy shifts traffic between versions of $default through this alias; API Gateway calls the alias.
        default = self.handlers["Default"].function
        self.live_alias = lambda_.Alias(self, "DefaultLive", alias_name=LIVE_ALIAS,
                                        version=default.current_version)
        self.api = VoiceWebSocketApi(
            self, "WebSocket", connect=self.handlers["Connect"].function,
            disconnect=self.handlers["Disconnect"].function, default=self.live_alias,
            authorizer=self.handlers["Authorizer"].function, log_retention_days=settings.log_retention_days,
            account_role=settings.apigw_account_role)
        connections = self.api.connections_arn(Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID)
        api_id = self.get_logical_id(cast(CfnElement, self.api.api.node.default_child))
        self.handlers["Default"].allow(["execute-api:ManageConnections"], [connections])
        acknowledge(self.handlers["Default"].role.node.find_child("DefaultPolicy"),
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
                    f"<AWS::AccountId>:<{api_id}>/{STAGE}/*/"
                    f"@connections/*]",
                    "posts replies to the caller's connection: connection ids are only known at run time; "
                    "scoped to this API's stage")
        canary = canary_plan(plan.alarms)
        if compiled.deployment_application and compiled.deployment_group:
            self.canary: CanaryDeployment | None = CanaryDeployment(
                self, "Canary", alias=self.live_alias, application=compiled.deployment_application,
                group=compiled.deployment_group, plan=canary)
        else:
            self.canary = None
        llm_model_id = BackendSettings().llm_model_id
        self.relay = RelayService(
            self, "Relay", settings=settings,
            environment={**environment, "VOICE_RUNTIME_PORT": str(settings.relay_port)},
            command=relay_command(compiled.namespace, compiled.baseline, settings.relay_port),
            internal_token_parameter=secret_parameter(compiled.namespace, INTERNAL_TOKEN),
            grants=relay_grants(compiled, arns, llm_model_id=llm_model_id),
            nag_grants=relay_grants(compiled, NAG_ARNS, llm_model_id=llm_model_id),
            canary=canary, timing=stop_timing(RELAY_RUNTIME))
