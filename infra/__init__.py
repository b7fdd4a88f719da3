"""The AWS CDK app: deploys the same compiled Plan as `voicectl apply`, plus the revert Lambda and the runtime."""

import os

# jsii runs on node; node 20 prints an end-of-life banner on every start unless silenced, and the variable must
# be set before aws_cdk is first imported, which any infra submodule does.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
