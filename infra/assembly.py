"""Build the CDK app from a registry: compile the Plan once, hand it to both stacks, register cdk-nag.

`build_app` is what `infra/app.py` (the CDK CLI entry), `voicectl infra synth` and the tests share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from control_plane.compiler import AwsTarget, Plan, compile_plan
from infra import nag
from infra.settings import InfraSettings
from infra.stacks.control_plane import ControlPlaneStack
from infra.stacks.runtime import RuntimeStack
from registry.model import Registry


@dataclass
class BuiltApp:
    """The app and its parts, before synthesis."""

    app: cdk.App
    plan: Plan
    control_plane: ControlPlaneStack
    runtime: RuntimeStack
    checks: AwsSolutionsChecks
    stacks: list[cdk.Stack] = field(default_factory=list)


def build_app(registry: Registry, *, settings: InfraSettings | None = None, outdir: str | None = None,
              app: cdk.App | None = None, target: AwsTarget | None = None) -> BuiltApp:
    """Both stacks of one registry, with the AwsSolutions checks registered (synthesis fails on a finding)."""
    settings = settings or InfraSettings()
    target = target or AwsTarget()
    plan = compile_plan(registry, target)
    context: dict[str, Any] = {"aws:cdk:disable-stack-trace": True}
    app = app or cdk.App(outdir=outdir, context=context,
                         builtin_cloud_formation_validation=settings.cfn_schema_validation)
    env = cdk.Environment(region=settings.region)
    control = ControlPlaneStack(
        app, f"{settings.stack_prefix}ControlPlane", plan=plan, target=target,
        metrics_namespace=registry.metrics_namespace, settings=settings, env=env,
        description=f"voice-rollout control plane for {registry.namespace}: parameters, alarms, revert")
    runtime = RuntimeStack(
        app, f"{settings.stack_prefix}Runtime", plan=plan, settings=settings, env=env,
        description=f"voice-rollout runtime for {registry.namespace}: WebSocket API, relay, canary")
    # The canary watches the control plane's alarms by name, so they must exist first.
    runtime.add_stack_dependency(control)
    checks = nag.add_checks(app)
    return BuiltApp(app, plan, control, runtime, checks, [control, runtime])
