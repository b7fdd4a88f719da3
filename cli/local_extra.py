"""The commands that run the embedded stack (demo, local up, loadtest) need the test world: the emulators, the
embedded stack and their dependencies, installed by the `[local]` extra. They are imported only when such a command
runs, so `voicectl` (and the relay image, which installs the core only) starts without them."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Literal

from cli.errors import CommandError, ExitCode

# The project's test-world packages and the third-party ones only the [local] extra installs.
LOCAL_ONLY = frozenset({"embedded", "emulators", "moto", "matplotlib", "hypercorn", "hdrh", "flask", "werkzeug"})
DEMO_REGISTRY = Path(__file__).resolve().parents[1] / "examples" / "demo-registry.yaml"
# real: the product's adapters over their SDKs to the protocol emulators; real-nova: Nova Sonic's real adapter, the
# pipelines on the in-process emulated backend; emulated: the in-process test double for every backend.
BackendPath = Literal["real", "real-nova", "emulated"]


def load(module: str, command: str) -> ModuleType:
    """Import `module` (a cli module that uses the embedded stack), or say which extra `command` needs."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in LOCAL_ONLY:
            raise
        raise CommandError(f"{command} needs the local test world, which is not installed (no module {exc.name!r})",
                         next_step="pip install 'voice-rollout[local]' (make demo installs it)") from exc


class DemoFailed(CommandError):
    """The scenario ran but did not behave as expected (a check failed)."""

    def __init__(self, what: str, *, next_step: str | None = None) -> None:
        super().__init__(what, next_step=next_step, exit_code=ExitCode.INVALID_INPUT)


class LoadTestFailed(CommandError):
    """The load test ran but its error rate was above the limit."""

    def __init__(self, what: str, *, next_step: str | None = None) -> None:
        super().__init__(what, next_step=next_step, exit_code=ExitCode.INVALID_INPUT)
