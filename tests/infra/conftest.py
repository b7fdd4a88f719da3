"""One synthesis of the example registry for the whole infra test session (jsii starts node: seconds, not ms)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE

# Before anything imports aws_cdk: jsii's node 20 end-of-life banner would otherwise open every run.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass
class Synthesized:
    registry: Any
    built: Any  # infra.assembly.BuiltApp
    control_template: Any  # aws_cdk.assertions.Template
    runtime_template: Any
    control: dict[str, Any]
    runtime: dict[str, Any]
    seconds: float


# A production deploy serves wss:// (without a certificate synthesis refuses unless plain ws:// is asked for).
CERTIFICATE = "arn:aws:acm:us-east-1:111122223333:certificate/voice-relay"


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from aws_cdk.assertions import Template

    from infra.assembly import build_app
    from infra.settings import InfraSettings
    from registry.loader import load_file

    registry = load_file(EXAMPLE).registry
    assert registry is not None
    start = time.perf_counter()
    # Schema validation is left to the CLI test (test_infra_command), which synthesises with it on.
    built = build_app(registry, settings=InfraSettings(cfn_schema_validation=False, relay_certificate_arn=CERTIFICATE),
                      outdir=str(tmp_path_factory.mktemp("cdk.out")))
    control = Template.from_stack(built.control_plane)
    runtime = Template.from_stack(built.runtime)
    seconds = time.perf_counter() - start
    print(f"\n[infra] build + synth of {Path(EXAMPLE).name}: {seconds:.1f} s")
    return Synthesized(registry, built, control, runtime, control.to_json(), runtime.to_json(), seconds)


MINIMAL = """\
version: 1
namespace: /acme/voice
metrics_namespace: Acme/Voice
baseline: m1
variants:
  m1: {voice_stt: transcribe_streaming, voice_llm: bedrock_claude_sonnet_4_6, voice_tts: polly_generative,
       transport: sse}
phases:
  - name: Only
    weights: {m1: 100}
"""


@pytest.fixture(scope="session")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from infra import nag
    from infra.assembly import build_app
    from infra.settings import InfraSettings
    from registry.loader import load_file

    path: Path = tmp_path_factory.mktemp("registry") / "minimal.yaml"
    path.write_text(MINIMAL)
    result = load_file(path)
    assert result.registry is not None, [str(d) for d in result.diagnostics]
    # Without a certificate, with plain ws:// asked for explicitly: the test deploy the setting exists for.
    built = build_app(result.registry, settings=InfraSettings(cfn_schema_validation=False, relay_allow_plain_ws=True),
                      outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return {"findings": nag.findings(built.checks, built.app), "built": built,
            "control": Template.from_stack(built.control_plane).to_json(),
            "runtime": Template.from_stack(built.runtime).to_json()}
