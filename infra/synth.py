"""In-process synthesis (no CDK CLI, no Docker) and the summary `voicectl infra synth` prints.

The summary is computed from the synthesised templates by pure functions, so it says what CloudFormation will
receive, not what the constructs meant to create.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import cx_api

from infra import nag
from infra.assembly import build_app
from infra.settings import InfraSettings
from registry.model import Registry


@dataclass(frozen=True)
class StackSummary:
    """One synthesised stack: resources by CloudFormation type and the alarm names it declares."""

    name: str
    resources: dict[str, int]
    alarms: list[str]

    @property
    def resource_total(self) -> int:
        return sum(self.resources.values())


@dataclass(frozen=True)
class SynthReport:
    """What a synthesis produced (or, when nag refused, what it found)."""

    outdir: str
    stacks: list[StackSummary]
    findings: list[nag.NagFinding]
    acknowledged: list[nag.Acknowledged]
    build_seconds: float
    synth_seconds: float
    validation: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "outdir": self.outdir,
            "ok": self.ok,
            "stacks": [{"name": s.name, "resources": s.resources, "resource_total": s.resource_total,
                        "alarms": s.alarms} for s in self.stacks],
            "nag": {"findings": [f.__dict__ for f in self.findings],
                    "acknowledged": [a.__dict__ for a in self.acknowledged]},
            "cfn_validation": self.validation,
            "warnings": self.warnings,
            "seconds": {"build": round(self.build_seconds, 3), "synth": round(self.synth_seconds, 3)},
        }


def summarize_template(name: str, template: Mapping[str, Any]) -> StackSummary:
    """Resource counts by type and alarm names of one CloudFormation template (pure)."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    counts = Counter(str(r.get("Type")) for r in resources.values())
    alarms = sorted(str(r["Properties"]["AlarmName"]) for r in resources.values()
                    if r.get("Type") == "AWS::CloudWatch::Alarm" and "AlarmName" in r.get("Properties", {}))
    return StackSummary(name, dict(sorted(counts.items())), alarms)


def validation_messages(report: Mapping[str, Any]) -> list[str]:
    """One line per violation in CDK's validation-report.json (CloudFormation schema checks), e.g.
    'warning F3002 at Stack/Path: message' (pure)."""
    return sorted(
        f"{v.get('severity', 'error')} {v.get('ruleName')} at {c.get('constructPath', '?')}: {v.get('description')}"
        for plugin in report.get("pluginReports", [])
        for v in plugin.get("violations", [])
        for c in v.get("violatingConstructs", [{}])
    )


def synthesize(registry: Registry, *, outdir: Path, settings: InfraSettings | None = None,
               clock: Callable[[], float] = time.perf_counter) -> SynthReport:
    """Build the app, check it with cdk-nag, and (when nothing is left unacknowledged) write the cloud assembly.

    Findings are collected before synthesis, because CDK's validation step aborts synthesis on the first report.
    """
    start = clock()
    built = build_app(registry, settings=settings, outdir=str(outdir))
    findings = nag.findings(built.checks, built.app)
    acknowledged = nag.acknowledged(built.app)
    built_at = clock()
    if findings:
        return SynthReport(str(outdir), [], findings, acknowledged, built_at - start, 0.0)
    assembly = built.app.synth()
    directory = Path(assembly.directory)
    stacks = [summarize_template(s.stack_name, _json(directory / s.template_file)) for s in assembly.stacks]
    report_file = directory / "validation-report.json"
    validation = validation_messages(_json(report_file)) if report_file.is_file() else []
    # Construct warnings (e.g. the relay without a certificate): the CDK CLI prints these, synth() does not.
    warnings = [f"{m.id}: {m.entry.data}" for s in assembly.stacks for m in s.messages
                if m.level != cx_api.SynthesisMessageLevel.INFO]
    return SynthReport(str(outdir), stacks, [], acknowledged, built_at - start, clock() - built_at, validation,
                       warnings)


def _json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
