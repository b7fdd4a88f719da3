"""boto3 clients made in one place: standard configuration (profile, region, AWS_ENDPOINT_URL) plus an
explicit endpoint, retries with backoff for throttling, and AWS errors turned into actionable ones.

Nothing here runs at import time; commands and handlers build a `Clients` and pass clients down.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from registry.errors import AwsError, AwsProblem

# "standard" retry mode retries throttling and transient errors with exponential backoff and jitter.
RETRY_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=15)
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


@dataclass
class Clients:
    """A lazily built set of boto3 clients sharing one session and endpoint."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    config: Config = RETRY_CONFIG
    _cache: dict[str, Any] = field(default_factory=dict)
    _session: Any = None

    def client(self, service: str) -> Any:
        """The client for `service`, built once; all share one boto3 Session (a Session costs ~150 ms to load)."""
        if service not in self._cache:
            if self._session is None:
                self._session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            region = self._session.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            self._cache[service] = self._session.client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=self.config
            )
        return self._cache[service]

    @property
    def ssm(self) -> Any:
        return self.client("ssm")

    @property
    def cloudwatch(self) -> Any:
        return self.client("cloudwatch")

    @property
    def sns(self) -> Any:
        return self.client("sns")

    @property
    def sts(self) -> Any:
        return self.client("sts")

    @property
    def codedeploy(self) -> Any:
        return self.client("codedeploy")


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: BaseException, action: str) -> AwsError:
    """Turn a botocore failure into an AwsError that names the action and the kind of problem."""
    code = error_code(exc) or None
    if code in ACCESS_DENIED:
        return AwsError(f"access denied: {action} ({exc})", action=action, problem=AwsProblem.ACCESS_DENIED, code=code)
    if isinstance(exc, NoCredentialsError):
        return AwsError("no AWS credentials found", action=action, problem=AwsProblem.NO_CREDENTIALS)
    if isinstance(exc, EndpointConnectionError):
        return AwsError(f"cannot reach the AWS endpoint for {action}: {exc}", action=action,
                        problem=AwsProblem.UNREACHABLE)
    return AwsError(f"{action} failed: {exc}", action=action, problem=AwsProblem.FAILED, code=code)


@contextmanager
def aws_call(action: str) -> Iterator[None]:
    """Run AWS calls and re-raise failures as AwsError naming `action` (e.g. 'ssm:PutParameter')."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, action) from exc


def call[T](action: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Call `fn(**kwargs)` under aws_call(action)."""
    with aws_call(action):
        return fn(**kwargs)
