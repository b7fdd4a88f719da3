"""API Gateway WebSocket handlers with API Gateway's documented event shapes, moto for the management API."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from moto import mock_aws

from voice_runtime import apigw

DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"


def event(route: str, *, body: str | None = None, query: dict[str, str] | None = None,
          binary: bool = False, connection: str = "L0SM9cOFvHcCIhw=") -> dict[str, Any]:
    """The shape API Gateway sends a Lambda proxy integration on a WebSocket route."""
    e: dict[str, Any] = {
        "requestContext": {
            "routeKey": route, "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "extendedRequestId": "L0SM9F2ZoAMF1Dw=", "requestTime": "12/Mar/2026:10:00:00 +0000",
            "messageDirection": "IN", "stage": "prod", "connectedAt": 1773309600000,
            "requestTimeEpoch": 1773309600000, "identity": {"sourceIp": "203.0.113.7"},
            "requestId": "L0SM9F2ZoAMF1Dw=", "domainName": DOMAIN, "connectionId": connection,
            "apiId": "abc123",
        },
        "isBase64Encoded": binary,
    }
    if route == "$connect":
        e["headers"] = {"Host": DOMAIN, "Sec-WebSocket-Version": "13"}
        e["queryStringParameters"] = query
    if route == "$disconnect":
        e["requestContext"].update(disconnectStatusCode=1000, disconnectReason="Client-side close frame")
    if body is not None:
        e["body"] = body
    return e


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(apigw.TOKEN_ENV, "s3cret")
    return "s3cret"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param({"token": "s3cret"}, 200, id="right-token"),
        pytest.param({"token": "guess"}, 401, id="wrong-token"),
        pytest.param(None, 401, id="no-token"),
    ],
)
def test_connect_checks_the_token(token: str, query: dict[str, str] | None, status: int) -> None:
    assert apigw.connect_handler(event("$connect", query=query))["statusCode"] == status


def test_connect_fails_closed_without_a_configured_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(apigw.TOKEN_ENV, raising=False)
    monkeypatch.delenv(apigw.TOKEN_PARAMETER_ENV, raising=False)
    assert apigw.connect_handler(event("$connect", query={"token": ""}))["statusCode"] == 401


@mock_aws
def test_token_can_come_from_an_ssm_secure_string(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("ssm").put_parameter(Name="/voice/ws-token", Value="from-ssm", Type="SecureString")
    monkeypatch.delenv(apigw.TOKEN_ENV, raising=False)
    monkeypatch.setenv(apigw.TOKEN_PARAMETER_ENV, "/voice/ws-token")
    assert apigw.connect_handler(event("$connect", query={"token": "from-ssm"}))["statusCode"] == 200
    assert apigw.connect_handler(event("$connect", query={"token": "s3cret"}))["statusCode"] == 401


def test_authorizer_allows_or_denies_the_method(token: str) -> None:
    e = event("$connect", query={"token": "s3cret"})
    e["methodArn"] = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/$connect"
    allowed = apigw.authorizer_handler(e)
    assert allowed["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": e["methodArn"]}
    e["queryStringParameters"] = {"token": "nope"}
    assert apigw.authorizer_handler(e)["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_disconnect_is_acknowledged() -> None:
    assert apigw.disconnect_handler(event("$disconnect")) == {"statusCode": 200}


@mock_aws
@pytest.mark.parametrize(
    ("body", "binary", "expected"),
    [
        pytest.param('{"type":"ping","t":1}', False, b'{"type":"ping","t":1}', id="json-frame"),
        pytest.param(base64.b64encode(b"\x00\x01pcm").decode(), True, b"\x00\x01pcm", id="binary-frame"),
    ],
)
def test_default_echoes_the_frame_to_its_sender(body: str, binary: bool, expected: bytes) -> None:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    endpoints: list[str] = []

    def factory(endpoint: str) -> Any:
        endpoints.append(endpoint)
        return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1")

    result = apigw.default_handler(event("$default", body=body, binary=binary, connection="conn-1"),
                                   client_factory=factory)
    assert result == {"statusCode": 200}
    assert endpoints == [f"https://{DOMAIN}/prod"]
    backend = apigatewaymanagementapi_backends["123456789012"]["us-east-1"]
    assert backend.connections["conn-1"].data == expected


def test_default_reports_a_gone_connection() -> None:
    class Gone(Exception):
        pass

    class Client:
        class exceptions:  # mirrors boto3's client.exceptions namespace
            GoneException = Gone

        def post_to_connection(self, **kwargs: Any) -> None:
            raise Gone()

    assert apigw.default_handler(event("$default", body="{}"), client_factory=lambda _: Client()) == {
        "statusCode": 410}


def test_default_refuses_oversize_messages() -> None:
    def never(_: str) -> Any:
        raise AssertionError("no client should be made")

    big = event("$default", body="x" * (apigw.MAX_ECHO_BYTES + 1))
    assert apigw.default_handler(big, client_factory=never)["statusCode"] == 413
