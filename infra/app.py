"""CDK CLI entry point (`cdk.json`: `python -m infra.app`): `npx cdk synth -c registry=FILE` / `cdk deploy`.

Wiring only: read the registry named in the context, build both stacks from its compiled Plan, let the CDK CLI
synthesise (cdk-nag's AwsSolutions checks run during synthesis and stop it on any unacknowledged finding).
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from infra.assembly import build_app
from infra.components.relay_service import PlainRelayListener
from infra.settings import POWERTOOLS_LAYER_VERSION, InfraSettings
from registry.loader import load_file

DEFAULT_REGISTRY = "examples/voice-m2.yaml"


def main() -> None:
    """Build the app from the context's registry file and synthesise it into the CLI's output directory."""
    app = cdk.App()
    path = str(app.node.try_get_context("registry") or DEFAULT_REGISTRY)
    result = load_file(path)
    for diagnostic in result.diagnostics:
        print(diagnostic, file=sys.stderr)
    if result.registry is None:
        sys.exit(f"{path}: invalid registry; run: voicectl validate {path}")
    layer = app.node.try_get_context("powertools_layer_version")
    settings = InfraSettings(
        region=os.environ.get("CDK_DEFAULT_REGION") or os.environ.get("AWS_REGION") or InfraSettings.region,
        powertools_layer_version=int(layer) if layer else POWERTOOLS_LAYER_VERSION,
        relay_certificate_arn=app.node.try_get_context("relay_certificate_arn") or None,
        relay_allow_plain_ws=str(app.node.try_get_context("relay_allow_plain_ws") or "").lower() == "true",
    )
    try:
        build_app(result.registry, settings=settings, app=app)
    except PlainRelayListener as exc:  # the CDK CLI's user: a message, not a traceback
        sys.exit(f"{exc.what}: pass -c relay_certificate_arn=<ACM ARN> for wss://, or -c relay_allow_plain_ws=true "
                 "for a test relay on ws://")
    app.synth()


if __name__ == "__main__":
    main()
