"""Runtime stack: WebSocket routes and authorizer, access logs, handlers, the relay's IAM, and the canary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized
from tests.infra.template_text import as_list, logical_id, policy_statements, text

NS = "/silentinfinity/voice"
PARAM = f"arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter{NS}"


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == kind]


def test_websocket_routes_and_the_connect_authorizer(synthesized: Synthesized) -> None:
    template = synthesized.runtime
    routes = {r["RouteKey"]: r for r in resources(template, "AWS::ApiGatewayV2::Route")}
    assert sorted(routes) == ["$connect", "$default", "$disconnect"]
    authorizer = logical_id(template, "AWS::ApiGatewayV2::Authorizer", AuthorizerType="REQUEST")
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": authorizer}
    assert template["Resources"][authorizer]["Properties"]["IdentitySource"] == ["route.request.querystring.token"]
    synthesized.runtime_template.has_resource_properties("AWS::ApiGatewayV2::Api", {
        "ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.type"})


def test_account_has_the_api_gateway_logging_role_before_the_stage(synthesized: Synthesized) -> None:
    template = synthesized.runtime
    [account] = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::ApiGateway::Account"]
    role = template["Resources"][account]["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    assert template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"}
    [stage] = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert account in stage["DependsOn"]


def test_stage_has_access_logs_and_throttling(synthesized: Synthesized) -> None:
    synthesized.runtime_template.has_resource_properties("AWS::ApiGatewayV2::Stage", {
        "AutoDeploy": True,
        "AccessLogSettings": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("connectionId")},
        "DefaultRouteSettings": Match.object_like({"ThrottlingRateLimit": Match.any_value(),
                                                   "ThrottlingBurstLimit": Match.any_value()}),
    })


def test_each_route_runs_its_handler_on_python_312_arm64(synthesized: Synthesized) -> None:
    for handler in ("connect_handler", "disconnect_handler", "default_handler", "authorizer_handler"):
        synthesized.runtime_template.has_resource_properties("AWS::Lambda::Function", {
            "Handler": f"voice_runtime.apigw.{handler}", "Runtime": "python3.12", "Architectures": ["arm64"],
            "Environment": {"Variables": Match.object_like({"VOICE_NAMESPACE": NS})}})


def test_default_route_goes_through_the_canary_alias(synthesized: Synthesized) -> None:
    template = synthesized.runtime
    alias = logical_id(template, "AWS::Lambda::Alias", Name="live")
    integrations = [text(i["IntegrationUri"]) for i in resources(template, "AWS::ApiGatewayV2::Integration")]
    assert sum(f"<{alias}>" in uri for uri in integrations) == 1


def test_canary_group_has_the_registry_alarms_and_auto_rollback(synthesized: Synthesized) -> None:
    rollback = sorted(n for n, a in synthesized.registry.alarms.items() if a.actions.rollback_deployment)
    assert rollback == ["VoiceM2_P95_Breach"]
    deployment = synthesized.registry.deployment
    synthesized.runtime_template.has_resource_properties("AWS::CodeDeploy::Application", {
        "ApplicationName": deployment.application, "ComputePlatform": "Lambda"})
    # 10 % for as long as the p95 alarm needs to fire (2 x 300 s): CodeDeploy's stock 5-minute canary was shorter.
    config = logical_id(synthesized.runtime, "AWS::CodeDeploy::DeploymentConfig", ComputePlatform="Lambda")
    synthesized.runtime_template.has_resource_properties("AWS::CodeDeploy::DeploymentConfig", {
        "TrafficRoutingConfig": {"Type": "TimeBasedCanary",
                                 "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 10}}})
    synthesized.runtime_template.has_resource_properties("AWS::CodeDeploy::DeploymentGroup", {
        "DeploymentGroupName": deployment.deployment_group,
        "DeploymentConfigName": {"Ref": config},
        "AlarmConfiguration": {"Enabled": True, "Alarms": [{"Name": n} for n in rollback]},
        "AutoRollbackConfiguration": {"Enabled": True, "Events": Match.array_with(
            ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"])},
    })


def relay_statements(synthesized: Synthesized) -> dict[str, list[str]]:
    template = synthesized.runtime
    task = resources(template, "AWS::ECS::TaskDefinition")
    assert len(task) == 1
    role = task[0]["TaskRoleArn"]["Fn::GetAtt"][0]
    by_action: dict[str, list[str]] = {}
    for statement in policy_statements(template, role):
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(text(r) for r in as_list(statement["Resource"]))
    return by_action


def test_relay_iam_is_scoped_to_its_models_endpoints_and_namespace(synthesized: Synthesized) -> None:
    by_action = relay_statements(synthesized)
    assert by_action["bedrock:InvokeModel"] == [
        "arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/amazon.nova-sonic-v1:0"]
    assert by_action["sagemaker:InvokeEndpointWithResponseStream"] == [
        "arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint/csm-1b-inference-v1"]
    for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"):
        assert sorted(by_action[action]) == [PARAM, f"{PARAM}/*"]
    assert "ssm:PutParameter" not in by_action, "the relay reads live state, never writes it"
    assert sorted(by_action["bedrock:InvokeModelWithResponseStream"]) == [
        "arn:<AWS::Partition>:bedrock:*::foundation-model/anthropic.claude-sonnet-4-6-v1:0",
        "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/"
        "us.anthropic.claude-sonnet-4-6-v1:0"]
    unscoped = sorted(a for a, rs in by_action.items() if "*" in rs)
    # Only the services with no resource-level permissions get "*".
    assert unscoped == ["polly:SynthesizeSpeech", "transcribe:StartStreamTranscription",
                        "transcribe:StartStreamTranscriptionWebSocket"]


def test_relay_service_runs_the_dockerfile_image_on_arm64(synthesized: Synthesized) -> None:
    template = synthesized.runtime_template
    template.has_resource_properties("AWS::ECS::TaskDefinition", {
        "RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
        "ContainerDefinitions": [Match.object_like({
            "PortMappings": [Match.object_like({"ContainerPort": 8080})],
            "Environment": Match.array_with([{"Name": "VOICE_NAMESPACE", "Value": NS}]),
        })],
    })
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {"HealthCheckPath": "/healthz"})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
        "LoadBalancerAttributes": Match.array_with([{"Key": "idle_timeout.timeout_seconds", "Value": "600"},
                                                    {"Key": "access_logs.s3.enabled", "Value": "true"}])})
    # The image is an asset built at deploy time from the project's Dockerfile (synthesis needs no Docker); its
    # staged context holds only what .dockerignore lets through.
    assembly = Path(synthesized.built.app.synth().directory)
    manifest = json.loads((assembly / f"{synthesized.built.runtime.artifact_id}.assets.json").read_text())
    images = [i["source"] for i in manifest["dockerImages"].values()]
    assert [(i["dockerFile"], i["platform"]) for i in images] == [("Dockerfile", "linux/arm64")]
    context = {p.name for p in (assembly / images[0]["directory"]).iterdir()}
    assert {"Dockerfile", "pyproject.toml", "registry", "voice_runtime", "cli"} <= context
    assert not context & {".venv", ".git", "tests", "infra"}


def handler_statements(synthesized: Synthesized, handler: str) -> dict[str, list[str]]:
    template = synthesized.runtime
    fn = template["Resources"][logical_id(template, "AWS::Lambda::Function", Handler=handler)]
    by_action: dict[str, list[str]] = {}
    for statement in policy_statements(template, fn["Properties"]["Role"]["Fn::GetAtt"][0]):
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(text(r) for r in as_list(statement["Resource"]))
    by_action.pop("logs:CreateLogStream")
    by_action.pop("logs:PutLogEvents")
    return by_action


def test_websocket_handlers_get_only_what_each_route_needs(synthesized: Synthesized) -> None:
    token = [f"{PARAM}-secrets/ws_token"]
    assert handler_statements(synthesized, "voice_runtime.apigw.connect_handler") == {"ssm:GetParameter": token}
    assert handler_statements(synthesized, "voice_runtime.apigw.authorizer_handler") == {"ssm:GetParameter": token}
    assert handler_statements(synthesized, "voice_runtime.apigw.disconnect_handler") == {}
    default = handler_statements(synthesized, "voice_runtime.apigw.default_handler")
    assert list(default) == ["execute-api:ManageConnections"]
    [connections] = default["execute-api:ManageConnections"]
    assert connections.endswith("/live/*/@connections/*") and ":execute-api:<AWS::Region>:" in connections
    synthesized.runtime_template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "voice_runtime.apigw.authorizer_handler",
        "Environment": {"Variables": Match.object_like({"VOICE_WS_TOKEN_PARAMETER": f"{NS}-secrets/ws_token"})}})


def test_relay_serves_the_registry_namespace_with_an_internal_token(synthesized: Synthesized) -> None:
    [task] = resources(synthesized.runtime, "AWS::ECS::TaskDefinition")
    [container] = task["ContainerDefinitions"]
    command = container["Command"]
    assert command[:3] == ["voicectl", "runtime", "serve"]
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert flags == {"--host": "0.0.0.0", "--port": "8080", "--registry-source": "ssm", "--namespace": NS,
                     "--fallback-baseline": synthesized.registry.baseline, "--metrics": "emf",
                     # the stop settings the ECS/ALB timings fit (test_infra_relay_deploy)
                     "--max-session-seconds": "480", "--drain-seconds": "90", "--shutdown-seconds": "10"}
    [secret] = container["Secrets"]
    assert secret["Name"] == "VOICE_INTERNAL_TOKEN"
    assert text(secret["ValueFrom"]).endswith(f":parameter{NS}-secrets/internal_token")


def test_with_plain_ws_asked_for_the_relay_is_http_and_says_so(minimal: dict[str, Any]) -> None:
    from aws_cdk.assertions import Annotations

    listeners = [r["Protocol"] for r in resources(minimal["runtime"], "AWS::ElasticLoadBalancingV2::Listener")]
    assert listeners == ["HTTP"]
    Annotations.from_stack(minimal["built"].runtime).has_warning(
        "*", Match.string_like_regexp("relay_allow_plain_ws"))


def test_without_a_certificate_or_plain_ws_asked_for_synthesis_refuses(synthesized: Synthesized) -> None:
    from infra.assembly import build_app
    from infra.components.relay_service import PlainRelayListener
    from infra.settings import InfraSettings

    with pytest.raises(PlainRelayListener) as refused:
        build_app(synthesized.registry, settings=InfraSettings(cfn_schema_validation=False))
    assert refused.value.settings == ("relay_certificate_arn", "relay_allow_plain_ws")
    assert "relay_allow_plain_ws" in str(refused.value)


def test_relay_listens_on_https_and_drops_invalid_headers(synthesized: Synthesized) -> None:
    protocols = sorted(r["Protocol"] for r in resources(synthesized.runtime, "AWS::ElasticLoadBalancingV2::Listener"))
    assert protocols == ["HTTP", "HTTPS"]  # HTTP only redirects
    [balancer] = resources(synthesized.runtime, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in balancer["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_relay_scales_out_on_cpu_and_in_slowly(synthesized: Synthesized) -> None:
    template = synthesized.runtime
    [target] = resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    [policy] = resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 50
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    assert (tracking["ScaleOutCooldown"], tracking["ScaleInCooldown"]) == (60, 900)


def test_the_relay_cannot_read_the_secrets_it_does_not_use(synthesized: Synthesized) -> None:
    from fnmatch import fnmatchcase

    reads = [r for action, rs in relay_statements(synthesized).items() if action.startswith("ssm:GetParameter")
             for r in rs]
    assert any(fnmatchcase(f"{PARAM}/registry", r) for r in reads)  # it reads the namespace
    for secret in ("ws_token", "internal_token"):  # internal_token reaches it through ECS secrets, not its role
        assert not any(fnmatchcase(f"{PARAM}-secrets/{secret}", r) for r in reads)
