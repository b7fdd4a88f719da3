"""cfn-lint and checkov over synthesised templates, with every finding either fixed or listed here with its reason.

cfn-lint (AWS's CloudFormation linter, in the [dev] extra) runs in-process. checkov pins boto3 1.35 against the
product's 1.44, so it lives in its own virtualenv that `make test` creates (`make checkov`); offline it runs with
`--skip-download` (no Prisma Cloud policies are fetched). Without that virtualenv the checkov half is skipped,
unless VOICE_REQUIRE_TOOLS is set (make test sets it), when it fails instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CHECKOV = Path(os.environ.get("VOICE_CHECKOV", ROOT / ".venv-tools" / "checkov" / "bin" / "checkov"))

# cfn-lint findings we keep, by rule and the resource type they are reported on, with the reason.
CFN_LINT_KEPT: dict[tuple[str, str], str] = {
    ("W3005", "AWS::Lambda::Function"):
        "CDK's Function adds DependsOn on its role (and the role's default policy) so the policy exists before "
        "the first invocation; the GetAtt on the role already orders the role itself: redundant, harmless",
    ("W3005", "AWS::ECS::Service"):
        "CDK's ApplicationLoadBalancedFargateService makes the service depend on its listener rule explicitly "
        "(ECS refuses a service whose target group has no listener yet); the Ref to the target group does not "
        "order the listener",
}


def write_templates(templates: dict[str, dict[str, Any]], directory: Path) -> list[Path]:
    """Each template as `<name>.template.json` in `directory` (what `cdk synth` writes)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, template in sorted(templates.items()):
        path = directory / f"{name}.template.json"
        path.write_text(json.dumps(template, indent=1))
        paths.append(path)
    return paths


def cfn_lint_findings(templates: dict[str, dict[str, Any]]) -> list[str]:
    """Every cfn-lint match not in CFN_LINT_KEPT, as 'template: rule resource: message' (errors included)."""
    from cfnlint.api import ManualArgs, lint

    left = []
    for name, template in sorted(templates.items()):
        for match in lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"])):
            path = list(match.path)
            logical = str(path[1]) if len(path) > 1 and path[0] == "Resources" else ""
            kind = template.get("Resources", {}).get(logical, {}).get("Type", "")
            if (match.rule.id, kind) in CFN_LINT_KEPT and not match.rule.id.startswith("E"):
                continue
            left.append(f"{name}: {match.rule.id} {logical or path}: {match.message[:200]}")
    return left


def checkov_report(directory: Path) -> dict[str, Any]:
    """checkov's JSON report over the templates in `directory` (CloudFormation framework, offline)."""
    if not CHECKOV.exists():
        if os.environ.get("VOICE_REQUIRE_TOOLS"):
            pytest.fail(f"checkov is not installed at {CHECKOV} (make checkov)")
        pytest.skip(f"checkov is not installed at {CHECKOV} (make checkov)")
    result = subprocess.run([str(CHECKOV), "--skip-download", "--framework", "cloudformation",
                             "--compact", "-o", "json", "-d", str(directory)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    runs = report if isinstance(report, list) else [report]
    failed = [c for run in runs for c in run.get("results", {}).get("failed_checks", [])]
    skipped = [c for run in runs for c in run.get("results", {}).get("skipped_checks", [])]
    return {"failed": failed, "skipped": skipped}


def describe(checks: list[dict[str, Any]]) -> list[str]:
    return [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in checks]
