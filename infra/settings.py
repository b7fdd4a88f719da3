"""What the CDK app needs besides the registry: where the project's code is and which public layer to use.

Values a deployer may change come from CDK context (`-c powertools_layer_version=27`) or the defaults here; the
registry file stays the only source of alarms, parameters and revert targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Powertools for AWS Lambda (Python) v3 public layer, per Python version and architecture (its docs' install
# page): arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:{version}.
# It bundles pydantic v2, which the registry models need; boto3 comes with the Lambda runtime.
POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python312-arm64"
POWERTOOLS_LAYER_VERSION = 27
# The Lambda zip holds the project's own packages only: everything else in the repository is left out.
LAMBDA_PACKAGES = ("registry", "control_plane", "voice_runtime")
LAMBDA_EXCLUDES = (
    "*",
    ".*",
    *(f"!{p}" for p in LAMBDA_PACKAGES),
    *(f"!{p}/**" for p in LAMBDA_PACKAGES),
    "**/__pycache__",
    "**/*.pyc",
)


@dataclass(frozen=True)
class InfraSettings:
    """Deployment knobs that are not part of the rollout registry."""

    project_root: Path = PROJECT_ROOT
    # Stacks are bound to a region (ALB access logging needs the region's ELB account); the account stays
    # unresolved, so one synthesised template deploys to any account.
    region: str = "us-east-1"
    powertools_layer_version: int = POWERTOOLS_LAYER_VERSION
    stack_prefix: str = "VoiceRollout"
    relay_port: int = 8080
    relay_desired_count: int = 2  # also the autoscaling floor
    relay_max_count: int = 10
    # Target-tracking on the service's average CPU. The runtime's added latency grows with its CPU queueing
    # (BENCHMARKS.md, bench_relay), so the target leaves a core half idle.
    relay_target_cpu_percent: int = 50
    # An ACM certificate for the relay's public listener. Without one the ALB listens on plain HTTP (ws://),
    # which is fine for a first deploy behind a test domain only: audio would cross the internet unencrypted.
    relay_certificate_arn: str | None = None
    # Without a certificate synthesis fails unless this says plain ws:// to the internet is intended (a first
    # deploy behind a test domain); the audio would then cross the internet unencrypted.
    relay_allow_plain_ws: bool = False
    # Executions the revert Lambda keeps for itself, so a revert runs even when other functions use up the
    # account's concurrency. AWS refuses a reservation that leaves the account fewer than 100 unreserved
    # executions (new accounts may have a lower total quota): None deploys without one.
    revert_reserved_concurrency: int | None = 2
    log_retention_days: int = 30
    # CDK's built-in CloudFormation schema validation of the templates at synthesis. It is most of an in-process
    # synthesis (measured with bench/bench_synth.py: ~9 s of ~13 s on an idle 2-CPU machine), so the test suite
    # turns it off for every synthesis but one; the CLI (unless --no-schema-check) and `cdk synth` keep it on.
    cfn_schema_validation: bool = True
    # API Gateway refuses WebSocket access logging until the *account* has a CloudWatch Logs role. The runtime
    # stack sets one (AWS::ApiGateway::Account); turn this off where the account's role is managed elsewhere.
    apigw_account_role: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    def powertools_layer_arn(self, partition: str, region: str) -> str:
        return (f"arn:{partition}:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{POWERTOOLS_LAYER}:"
                f"{self.powertools_layer_version}")
