"""cfn-lint and checkov over every template the infra tests synthesise: the example registry (with a certificate,
as production deploys), the minimal registry (plain ws:// asked for explicitly) and the edited example. No error;
every warning or finding is fixed or acknowledged with its reason (template_lint.CFN_LINT_KEPT for cfn-lint, the
resource's checkov skip metadata, written by infra.nag.acknowledge_checkov, for checkov)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synthesized
from tests.infra.template_lint import cfn_lint_findings, checkov_report, describe, write_templates


@pytest.fixture(scope="module")
def templates(synthesized: Synthesized, minimal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"example-control": synthesized.control, "example-runtime": synthesized.runtime,
            "minimal-control": minimal["control"], "minimal-runtime": minimal["runtime"]}


def test_cfn_lint_finds_nothing_unreasoned(templates: dict[str, dict[str, Any]]) -> None:
    assert cfn_lint_findings(templates) == []


def test_checkov_finds_nothing_unacknowledged(templates: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    write_templates(templates, directory)
    report = checkov_report(directory)
    assert describe(report["failed"]) == []
    # every acknowledgment carries its reason
    assert report["skipped"] and all((c.get("check_result") or {}).get("suppress_comment") for c in report["skipped"])
