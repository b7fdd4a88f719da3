"""ARNs of the resources a registry owns, built from names alone (pure string functions).

In the CDK app the partition, region and account are CloudFormation tokens; in tests they are plain strings.
Building ARNs from names (instead of passing construct references across stacks) keeps the stacks free of
cross-stack exports, so either can be redeployed alone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArnScope:
    """Where ARNs point: partition, region and account (tokens inside a stack)."""

    partition: str
    region: str
    account: str

    def _arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def parameter(self, name: str) -> str:
        """An SSM parameter by its full name ('/ns/overrides/x'); SSM ARNs carry the leading slash once."""
        return self._arn("ssm", f"parameter/{name.lstrip('/')}")

    def parameter_tree(self, namespace: str) -> list[str]:
        """The namespace parameter itself and everything under it (GetParametersByPath needs both forms)."""
        return [self.parameter(namespace), self.parameter(f"{namespace.rstrip('/')}/*")]

    def alarm(self, name: str) -> str:
        return self._arn("cloudwatch", f"alarm:{name}")

    def foundation_model(self, model_id: str) -> str:
        """Bedrock foundation models are regional and account-less."""
        return self._arn("bedrock", f"foundation-model/{model_id}", account=False)

    def inference_profile(self, profile_id: str) -> str:
        return self._arn("bedrock", f"inference-profile/{profile_id}")

    def foundation_model_any_region(self, model_id: str) -> str:
        """A cross-region inference profile routes to the model in any region of its group."""
        return f"arn:{self.partition}:bedrock:*::foundation-model/{model_id}"

    def sagemaker_endpoint(self, endpoint: str) -> str:
        # SageMaker stores endpoint names lower-cased in ARNs.
        return self._arn("sagemaker", f"endpoint/{endpoint.lower()}")

    def deployment_group(self, application: str, group: str) -> str:
        return self._arn("codedeploy", f"deploymentgroup:{application}/{group}")

    def log_group(self, name: str) -> str:
        return self._arn("logs", f"log-group:{name}")


# How cdk-nag prints a tokenised ARN inside a finding id, so acknowledgments can name the exact resource.
NAG_ARNS = ArnScope("<AWS::Partition>", "<AWS::Region>", "<AWS::AccountId>")
