"""What the voice relay may call, derived from the registry's variants (pure: data in, statements out).

Each backend kind needs its own services; a registry with no CSM variant grants no SageMaker access at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.arns import ArnScope
from registry.compiled import CompiledRegistry
from registry.model import Backend

# Transcribe streaming and Polly have no resource-level permissions: "*" is the narrowest resource they take.
ANY_RESOURCE = "*"
# Bedrock cross-region inference profile ids start with their geography ("us.anthropic...").
PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.")
# The SecureStrings the operator creates (CloudFormation cannot): the WebSocket `?token=` and the relay's internal
# token. They live beside the namespace, not under it: the runtime and the revert Lambda read the namespace with
# GetParametersByPath, which SSM authorises against the path and not per parameter, so a secret under it could
# not be denied to them ("How Parameter Store authorizes parameter retrieval"; the SSM user guide's advice is to
# "separate sensitive parameters into their own path").
SECRETS_SUFFIX = "-secrets"
WS_TOKEN = "ws_token"
INTERNAL_TOKEN = "internal_token"


def secret_parameter(namespace: str, name: str) -> str:
    """A secret's parameter name: `<namespace>-secrets/<name>` (outside the namespace's tree, see above)."""
    return f"{namespace.rstrip('/')}{SECRETS_SUFFIX}/{name}"


@dataclass(frozen=True, order=True)
class Grant:
    """One IAM statement: actions on resources, and why (the reason doubles as the nag acknowledgment)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str


def llm_grant(model_id: str, arns: ArnScope) -> Grant:
    """ConverseStream (the M1 and CSM pipelines' LLM) on one model, or on an inference profile and the model it
    routes to in each region of its geography."""
    action = ("bedrock:InvokeModelWithResponseStream",)
    if model_id.startswith(PROFILE_PREFIXES):
        base = model_id.split(".", 1)[1]
        return Grant(action, (arns.inference_profile(model_id), arns.foundation_model_any_region(base)),
                     "a cross-region inference profile invokes its model in whichever region of the geography "
                     "has capacity; the model is fixed, the region cannot be")
    return Grant(action, (arns.foundation_model(model_id),), "the pipelines' LLM (ConverseStream)")


def relay_grants(compiled: CompiledRegistry, arns: ArnScope, *, llm_model_id: str) -> list[Grant]:
    """The relay's statements: read the namespace, then per backend present in the registry its own calls.

    `llm_model_id` is the runtime's ConverseStream model (voice_runtime's BackendSettings), used by the M1 and
    CSM pipelines; the registry names only the component (bedrock_claude_sonnet_4_6), not the model id.
    """
    ns = compiled.namespace
    grants = [Grant(("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"),
                    tuple(arns.parameter_tree(ns)), "per-turn registry and live-state reads, namespace only")]
    variants = sorted(compiled.variants.items())
    models = sorted({v.bedrock_model_id for _, v in variants
                     if v.backend is Backend.NOVA_SONIC and v.bedrock_model_id})
    if models:
        # The Bedrock API reference (InvokeModelWithBidirectionalStream): "This operation requires permission for
        # the bedrock:InvokeModel action"; there is no IAM action named after the operation (cfn-lint W3037).
        grants.append(Grant(("bedrock:InvokeModel",),
                            tuple(arns.foundation_model(m) for m in models), "Nova Sonic speech-to-speech"))
    endpoints = sorted({v.sagemaker_endpoint for _, v in variants
                        if v.backend is Backend.CSM_SAGEMAKER and v.sagemaker_endpoint})
    if endpoints:
        grants.append(Grant(("sagemaker:InvokeEndpointWithResponseStream",),
                            tuple(arns.sagemaker_endpoint(e) for e in endpoints), "CSM-1B speech on SageMaker"))
    backends = {v.backend for _, v in variants}
    if backends & {Backend.M1_PIPELINE, Backend.CSM_SAGEMAKER}:
        grants.append(llm_grant(llm_model_id, arns))
        grants.append(Grant(("transcribe:StartStreamTranscription",
                             "transcribe:StartStreamTranscriptionWebSocket"), (ANY_RESOURCE,),
                            "speech-to-text for the M1 and CSM pipelines; Transcribe streaming has no "
                            "resource-level permissions"))
    if Backend.M1_PIPELINE in backends:
        grants.append(Grant(("polly:SynthesizeSpeech",), (ANY_RESOURCE,),
                            "M1 text-to-speech; Polly voices are not IAM resources, so * is the narrowest"))
    return grants
