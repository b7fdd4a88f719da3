"""Test helper: real boto3 clients that record every AWS operation and can fail the Nth write.

The hook sits on botocore's `before-call` event, so it sees paginated reads too, and a raised ClientError
leaves the call unsent, exactly like an API that refused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from control_plane.aws.session import Clients

READ_PREFIXES = ("Get", "Describe", "List")


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass
class RecordingClients(Clients):
    """Clients whose calls land in `calls` as (service, operation); `fail_write` = N makes the Nth write fail
    with `fail_code`; `fail_call` = N fails the Nth call of any kind; `fail_operation` every call of that one;
    `lose_write` = N lets the Nth write land and then loses its response (a timeout after AWS acted)."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_write: int | None = None
    fail_operation: str | None = None
    fail_call: int | None = None
    fail_code: str = "InternalFailure"
    lose_write: int | None = None

    def client(self, service: str) -> Any:
        fresh = service not in self._cache
        made = super().client(service)
        if fresh:
            made.meta.events.register("before-call.*.*", self._hook(service))
            made.meta.events.register("after-call.*.*", self._after)
        return made

    def _after(self, model: Any, **_: Any) -> None:
        if is_write(model.name) and self.lose_write is not None and self.lose_write == len(self.writes):
            self.lose_write = None  # once: the rerun must go through
            raise ClientError({"Error": {"Code": "RequestTimeout", "Message": "injected: response lost"}}, model.name)

    def _hook(self, service: str) -> Any:
        def before_call(model: Any, **_: Any) -> None:
            op = model.name
            self.calls.append((service, op))
            if (op == self.fail_operation or self.fail_call == len(self.calls)
                    or (is_write(op) and self.fail_write == len(self.writes))):
                raise ClientError({"Error": {"Code": self.fail_code, "Message": "injected failure"}}, op)
        return before_call

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if is_write(c[1])]
