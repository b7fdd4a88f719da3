"""cdk-nag AwsSolutions: nothing unacknowledged, every acknowledgment carries a reason, and the check is live."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from infra import nag
from tests.infra.conftest import Synthesized


def test_example_app_has_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    assert nag.findings(synthesized.built.checks, synthesized.built.app) == []


def test_every_acknowledgment_names_a_rule_and_gives_a_reason(synthesized: Synthesized) -> None:
    ours = nag.acknowledged(synthesized.built.app)
    assert all(a.rule.startswith("AwsSolutions-") for a in ours)
    assert len(ours) >= 10, "the app acknowledges its findings; a short list means the reader is broken"
    for ack in ours:
        assert len(ack.reason) >= 30, f"{ack.rule} at {ack.path}: a reason, not a shrug"


def test_no_blanket_acknowledgment_of_iam_wildcards(synthesized: Synthesized) -> None:
    # IAM5 acknowledgments must name the exact resource they excuse, never the whole rule.
    iam5 = [a for a in nag.acknowledged(synthesized.built.app) if a.rule.startswith("AwsSolutions-IAM5")]
    assert iam5 and all("[" in a.rule for a in iam5)


def test_the_checks_catch_a_real_finding() -> None:
    # GIVEN an app with a topic and a queue that accept plain-HTTP callers
    app = cdk.App()
    stack = cdk.Stack(app, "Bad")
    sns.Topic(stack, "Topic")
    sqs.Queue(stack, "Queue")
    checks = nag.add_checks(app)
    # THEN the same reader the CLI uses reports it
    rules = {f.rule for f in nag.findings(checks, app)}
    assert {"AwsSolutions-SNS3", "AwsSolutions-SQS4"} <= rules


def test_acknowledging_without_a_reason_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="needs a reason"):
        nag.acknowledge(stack, "AwsSolutions-IAM5", "  ")
