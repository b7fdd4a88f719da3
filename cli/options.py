"""Option and argument aliases shared by every command group, so flags read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from botocore.config import Config

from control_plane.aws.session import RETRY_CONFIG, Clients

RegistryFile = Annotated[
    Path, typer.Argument(help="The registry file, e.g. examples/voice-m2.yaml.", show_default=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
EndpointUrl = Annotated[
    str | None,
    typer.Option("--endpoint-url", envvar="AWS_ENDPOINT_URL",
                 help="AWS endpoint override (the embedded stack's URL); standard boto3 config otherwise."),
]
Region = Annotated[str | None, typer.Option("--region", envvar="AWS_REGION", help="AWS region.")]
Profile = Annotated[str | None, typer.Option("--profile", envvar="AWS_PROFILE", help="AWS profile.")]
Reason = Annotated[str, typer.Option("--reason", help="Why: recorded in SSM parameter history, the audit log.")]


def clients_from(endpoint_url: str | None, region: str | None, profile: str | None,
                 config: Config = RETRY_CONFIG) -> Clients:
    """The one place commands build their AWS clients from the shared options (`config`: timeouts, retries)."""
    return Clients(endpoint_url=endpoint_url, region=region, profile=profile, config=config)
