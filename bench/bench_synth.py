"""Synthesis time of the CDK app for examples/voice-m2.yaml, in-process (no CDK CLI, no Docker). PRINTS figures.

Each run is a fresh Python process, so the first figure includes starting node for jsii (what a CI job pays);
within each process, the report splits construct building + cdk-nag from writing the cloud assembly.

    .venv/bin/python bench/bench_synth.py [RUNS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
t0 = time.perf_counter()
from infra.settings import InfraSettings
from infra.synth import synthesize
from registry.loader import load_file
t1 = time.perf_counter()
settings = InfraSettings(cfn_schema_validation=sys.argv[3] == "on", relay_allow_plain_ws=True)
report = synthesize(load_file(sys.argv[1]).registry, outdir=__import__("pathlib").Path(sys.argv[2]),
                    settings=settings)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "build_nag": report.build_seconds, "synth": report.synth_seconds,
                  "total_in_process": t2 - t0, "ok": report.ok,
                  "resources": sum(s.resource_total for s in report.stacks)}))
"""


def measure(runs: int, validation: str) -> list[dict[str, float]]:
    """`runs` fresh processes, each synthesising once; CDK's CloudFormation schema validation on or off."""
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    rows = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(ROOT / "examples" / "voice-m2.yaml"), out, validation],
                cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["process"] = time.perf_counter() - start
            rows.append(row)
    assert all(r["ok"] for r in rows), "cdk-nag findings: run voicectl infra synth examples/voice-m2.yaml"
    return rows


def report(rows: list[dict[str, float]], validation: str) -> None:
    print(f"\nvoice-m2.yaml -> 2 stacks, {rows[0]['resources']:.0f} resources; {len(rows)} fresh processes; "
          f"CloudFormation schema validation {validation} ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    print(f"{'phase':<34}{'median s':>10}{'min s':>10}{'max s':>10}")
    for key, label in (("import", "import aws_cdk + infra (node start)"), ("build_nag", "build constructs + cdk-nag"),
                       ("synth", "synthesise (+ schema check if on)"), ("total_in_process", "total in process"),
                       ("process", "whole process (python start too)")):
        values = [r[key] for r in rows]
        print(f"{label:<34}{statistics.median(values):>10.2f}{min(values):>10.2f}{max(values):>10.2f}")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for validation in ("on", "off"):
        report(measure(runs, validation), validation)


if __name__ == "__main__":
    main()
