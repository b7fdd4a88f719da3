"""The Lambda zip holds only the project's packages; its handlers must import with what Lambda provides (the
Python 3.12 runtime's boto3) plus the Powertools layer (which bundles pydantic v2) and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.components.revert_function import REVERT_HANDLER
from infra.settings import LAMBDA_PACKAGES
from infra.stacks.runtime import APIGW_HANDLERS
from tests.conftest import ROOT
from tests.infra.conftest import Synthesized

# Installed in the project's virtualenv but in neither the Lambda runtime nor the Powertools layer.
NOT_IN_LAMBDA = ("yaml", "jsonschema", "typer", "rich", "websockets", "awscrt", "aws_sdk_bedrock_runtime",
                 "aws_sdk_transcribe_streaming", "smithy_core", "smithy_aws_core", "hypercorn", "matplotlib", "hdrh",
                 "moto", "aws_cdk", "cdk_nag", "cli", "infra")
PROBE = """
import importlib, sys
blocked = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not available in Lambda")
sys.meta_path.insert(0, Block())
module, function = sys.argv[2].rsplit(".", 1)
assert callable(getattr(importlib.import_module(module), function))
"""


# Every handler string the stacks deploy (the same constants the constructs use).
@pytest.mark.parametrize("handler", [REVERT_HANDLER, *APIGW_HANDLERS.values()])
def test_handler_imports_with_the_lambda_runtime_and_powertools_only(handler: str) -> None:
    assert handler.split(".")[0] in LAMBDA_PACKAGES
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(NOT_IN_LAMBDA), handler], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_lambda_asset_holds_the_project_packages_only(synthesized: Synthesized) -> None:
    assembly = Path(synthesized.built.app.synth().directory)
    manifest = json.loads((assembly / f"{synthesized.built.control_plane.artifact_id}.assets.json").read_text())
    [code] = [f["source"] for f in manifest["files"].values() if f["source"]["packaging"] == "zip"]
    staged = assembly / code["path"]
    assert sorted(p.name for p in staged.iterdir()) == sorted(LAMBDA_PACKAGES)
    assert not list(staged.rglob("__pycache__"))
    assert (staged / "control_plane" / "alarms" / "handler.py").is_file()
