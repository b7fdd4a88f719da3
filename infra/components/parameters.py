"""The Plan's SSM parameters (the compiled registry), with the tier the compiler chose."""

from __future__ import annotations

from aws_cdk import aws_ssm as ssm
from constructs import Construct

from control_plane.compiler import ParameterSpec


class PlanParameters(Construct):
    """One String parameter per ParameterSpec: name, value, tier and description exactly as compiled."""

    def __init__(self, scope: Construct, construct_id: str, *, specs: tuple[ParameterSpec, ...],
                 tags: dict[str, str]) -> None:
        super().__init__(scope, construct_id)
        self.parameters = [
            ssm.CfnParameter(self, spec.name.strip("/").replace("/", "-"), name=spec.name, value=spec.value,
                             tier=spec.tier, type=spec.type, description=spec.description, tags=tags)
            for spec in specs
        ]
