"""The Lambda zip holds only the project's packages; its handlers must import with what Lambda provides (the
Python 3.12 runtime's boto3) plus the Powertools layer (which bundles pydantic v2) and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.components.revert_function import REVERT_HANDLER
from infra.settings import LAMBDA_PACKAGES
from infra.stacks.runtime import APIGW_HANDLERS
from tests.conftest import ROOT

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
