"""cdk-nag (v3) in one place: acknowledging a rule with its reason, and reading findings back for the summary.

cdk-nag 3 acknowledges through CDK's own `Validations.of(construct).acknowledge(...)`; every acknowledgment in
this app goes through `acknowledge`, so each one carries a reason in code next to the construct it excuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

ACK_PREFIX = "Annotation::"
PACK_PREFIX = "AwsSolutions-"


@dataclass(frozen=True, order=True)
class NagFinding:
    """One AwsSolutions rule reported against one construct path and not acknowledged."""

    rule: str
    path: str
    severity: str
    description: str


@dataclass(frozen=True, order=True)
class Acknowledged:
    """A rule acknowledged on a construct, with the reason given in code."""

    rule: str
    path: str
    reason: str


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (e.g. 'AwsSolutions-IAM5[Resource::*]') on `construct`.

    A reason is mandatory: an acknowledgment without one is a finding hidden, not a decision recorded.
    """
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def acknowledge_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Acknowledge one checkov finding (e.g. 'CKV_AWS_117') on `construct`'s CloudFormation resource, with its
    reason, as checkov reads it: the resource's `Metadata.checkov.skip` list (checkov's documented inline skip for
    CloudFormation). Tests run checkov over the synthesised templates and fail on anything else."""
    if not reason.strip():
        raise ValueError(f"acknowledging {check_id} needs a reason")
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to acknowledge {check_id} on")
    current = resource.get_metadata("checkov") or {}
    skips = [s for s in current.get("skip", []) if s.get("id") != check_id]
    resource.add_metadata("checkov", {"skip": [*skips, {"id": check_id, "comment": reason}]})


def add_checks(app: cdk.App) -> AwsSolutionsChecks:
    """Register the AwsSolutions pack so that synthesis fails on any unacknowledged finding."""
    pack = AwsSolutionsChecks(app)
    cdk.Validations.of(app).add_plugins(pack)
    return pack


def findings(pack: AwsSolutionsChecks, app: cdk.App) -> list[NagFinding]:
    """Every unacknowledged finding of the pack over the whole app (without synthesising)."""
    report = pack.validate_scope(app)
    return sorted(
        NagFinding(v.rule_name, r.construct_path or r.resource_logical_id or "?", v.severity or "error",
                   v.description)
        for v in report.violations
        for r in v.violating_resources
    )


def acknowledged(app: cdk.App) -> list[Acknowledged]:
    """Every AwsSolutions acknowledgment in the construct tree, with its reason (the audit trail). CDK records
    its own acknowledgments of CloudFormation-spec quirks the same way; those are not ours and are left out."""
    metadata_type = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = []
    for node in app.node.find_all():
        for entry in node.node.metadata:
            if entry.type == metadata_type and isinstance(entry.data, dict):
                for key, reason in entry.data.items():
                    rule = key.removeprefix(ACK_PREFIX)
                    if rule.startswith(PACK_PREFIX):
                        found.append(Acknowledged(rule, node.node.path, str(reason)))
    return sorted(found)
