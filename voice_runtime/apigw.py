"""API Gateway WebSocket handlers for Lambda: the memo's Phase 1 ws-echo path.

Routes: `$connect` -> `connect_handler` (token check, optionally behind `authorizer_handler`, a REQUEST
authorizer), `$disconnect` -> `disconnect_handler`, `$default` -> `default_handler` (echoes every frame back to its
sender through `apigatewaymanagementapi.post_to_connection`). The CDK app references these names.

The token is read from `VOICE_WS_TOKEN`, or from the SSM parameter named by `VOICE_WS_TOKEN_PARAMETER` (SecureString,
through Powertools parameters with a 5-minute cache). With neither configured every connection is refused: fail
closed. Decisions are pure functions; the handlers only read the event, call them, and talk to AWS through a client
made on first use (never at import time).
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

log = Logger(service="voice-ws")

TOKEN_ENV = "VOICE_WS_TOKEN"
TOKEN_PARAMETER_ENV = "VOICE_WS_TOKEN_PARAMETER"
TOKEN_CACHE_SECONDS = 300
MAX_ECHO_BYTES = 128 * 1024  # API Gateway's WebSocket message limit (frames are 32 KB)

ClientFactory = Callable[[str], Any]
_clients: dict[str, Any] = {}


# --- pure decisions ------------------------------------------------------------------------------------------------

def token_ok(presented: str | None, expected: str | None) -> bool:
    """Constant-time comparison; no configured token means nobody gets in."""
    if not expected or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def presented_token(event: Mapping[str, Any]) -> str | None:
    """`?token=` on the connect URL (browsers cannot set headers on a WebSocket), else an Authorization header."""
    query = event.get("queryStringParameters") or {}
    if query.get("token"):
        return str(query["token"])
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    auth = headers.get("authorization", "")
    return auth.removeprefix("Bearer ").strip() or None


def management_endpoint(event: Mapping[str, Any]) -> str:
    """The callback URL of the connection's API: https://{domainName}/{stage}."""
    ctx = event["requestContext"]
    return f"https://{ctx['domainName']}/{ctx['stage']}"


def echo_payload(event: Mapping[str, Any]) -> bytes:
    """The frame to send back: the body as received (base64-decoded when API Gateway marked it binary)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode() if isinstance(body, str) else bytes(body)


def policy(principal: str, effect: str, resource: str, context: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway Lambda authorizer response."""
    return {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
        "context": dict(context or {}),
    }


# --- the thin AWS shell --------------------------------------------------------------------------------------------

def expected_token(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV]
    name = env.get(TOKEN_PARAMETER_ENV)
    if not name:
        return None
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_parameter(name, decrypt=True, max_age=TOKEN_CACHE_SECONDS)
    except Exception:  # cannot read the secret: refuse (fail closed), and say why in the logs
        log.exception("cannot read the WebSocket token parameter", extra={"parameter": name})
        return None
    return str(value) if value is not None else None


def _management_client(endpoint: str) -> Any:
    client = _clients.get(endpoint)
    if client is None:
        import boto3

        client = _clients[endpoint] = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    return client


def connect_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """$connect: admit the connection only with the right token."""
    ctx = event.get("requestContext", {})
    if token_ok(presented_token(event), expected_token()):
        log.info("connect", extra={"connection_id": ctx.get("connectionId")})
        return {"statusCode": 200}
    log.warning("connect refused: bad or missing token", extra={"connection_id": ctx.get("connectionId")})
    return {"statusCode": 401, "body": "unauthorized"}


def disconnect_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """$disconnect: nothing to clean up in the echo path; logged for the connection metrics."""
    ctx = event.get("requestContext", {})
    log.info("disconnect", extra={"connection_id": ctx.get("connectionId"),
                                  "status": ctx.get("disconnectStatusCode"), "reason": ctx.get("disconnectReason")})
    return {"statusCode": 200}


def default_handler(event: dict[str, Any], context: Any = None,
                    client_factory: ClientFactory = _management_client) -> dict[str, Any]:
    """$default: echo the frame back to its sender (memo Phase 1: no ML inference)."""
    ctx = event["requestContext"]
    connection_id = ctx["connectionId"]
    data = echo_payload(event)
    if len(data) > MAX_ECHO_BYTES:
        return {"statusCode": 413, "body": "message too large"}
    client = client_factory(management_endpoint(event))
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
    except client.exceptions.GoneException:
        log.info("connection gone before the echo", extra={"connection_id": connection_id})
        return {"statusCode": 410}
    log.debug("echoed", extra={"connection_id": connection_id, "bytes": len(data)})
    return {"statusCode": 200}


def authorizer_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """REQUEST authorizer for $connect: Allow with the right token, Deny otherwise (API Gateway answers 403)."""
    allowed = token_ok(presented_token(event), expected_token())
    principal = (event.get("requestContext") or {}).get("connectionId") or "anonymous"
    return policy(principal, "Allow" if allowed else "Deny", event.get("methodArn", "*"),
                  {"internal": "true"} if allowed else None)
