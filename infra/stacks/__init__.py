"""The CDK stacks: control plane and runtime."""
