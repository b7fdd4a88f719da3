"""The adapter table: Backend -> adapter factory (STYLE.md #6), built once per runtime.

Echo is built in; the AWS adapters are registered lazily by import path, so the runtime starts (and the echo path
works) even where their SDKs are not importable. A variant whose adapter cannot be loaded fails its turn with a
BackendError (then the turn is retried on the baseline). Whoever composes the runtime may pass other factories
(the embedded stack and the tests pass the in-process emulated backend of `emulators/`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from registry.model import Backend
from voice_runtime.adapters.base import BackendAdapter, BackendError
from voice_runtime.adapters.echo import EchoAdapter
from voice_runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)

Factory = Callable[[RuntimeSettings], Any]

LAZY_ADAPTERS: dict[Backend, str] = {
    Backend.NOVA_SONIC: "voice_runtime.adapters.nova_sonic:NovaSonicAdapter",
    Backend.M1_PIPELINE: "voice_runtime.adapters.m1_pipeline:M1PipelineAdapter",
    Backend.CSM_SAGEMAKER: "voice_runtime.adapters.csm_sagemaker:CsmSageMakerAdapter",
}


def import_factory(path: str) -> Factory:
    """'package.module:Class' -> the class (ImportError / AttributeError when it is not there)."""
    module_name, _, attr = path.partition(":")
    factory: Factory = getattr(importlib.import_module(module_name), attr)
    return factory


def default_factories() -> dict[Backend, Factory | str]:
    """The built-in table: echo as a class, the AWS backends as import paths."""
    table: dict[Backend, Factory | str] = {Backend.ECHO: EchoAdapter}
    table.update(LAZY_ADAPTERS)
    return table


class AdapterTable:
    """One adapter instance per backend kind, created on first use and shared by every session."""

    def __init__(self, settings: RuntimeSettings, factories: Mapping[Backend, Factory | str] | None = None) -> None:
        """`factories`: entries replacing the built-in ones (default_factories) for their backends."""
        self.settings = settings
        self._factories = default_factories()
        self._factories.update(factories or {})
        self._adapters: dict[Backend, BackendAdapter] = {}
        self.load_errors: dict[Backend, str] = {}

    def register(self, backend: Backend, factory: Factory | str) -> None:
        """Serve `backend` with `factory` from its next first use (replaces an entry not yet built)."""
        self._factories[backend] = factory
        self._adapters.pop(backend, None)

    def get(self, backend: Backend) -> BackendAdapter:
        """The adapter serving `backend`; BackendError (not retried on the same backend) if it cannot be had."""
        adapter = self._adapters.get(backend)
        if adapter is None:
            adapter = self._adapters[backend] = self._build(backend)
        return adapter

    def _build(self, backend: Backend) -> BackendAdapter:
        factory = self._factories.get(backend)
        try:
            if factory is None:
                raise LookupError(f"no adapter registered for backend {backend.value}")
            built: BackendAdapter = (import_factory(factory) if isinstance(factory, str) else factory)(self.settings)
            return built
        except (ImportError, AttributeError, LookupError) as exc:
            self.load_errors[backend] = f"{type(exc).__name__}: {exc}"
            raise BackendError(f"backend {backend.value} is not available: {exc}", retryable=False,
                               code="backend_unavailable") from exc
        except Exception as exc:  # a constructor failing (bad endpoint, missing region): not cached, retried later
            self.load_errors[backend] = f"{type(exc).__name__}: {exc}"
            raise BackendError(f"backend {backend.value} failed to start: {exc}", code="backend_unavailable") from exc

    def loaded(self) -> dict[str, str]:
        """backend -> adapter name, for /healthz."""
        return {b.value: getattr(a, "name", type(a).__name__) for b, a in self._adapters.items()}

    async def aclose(self) -> None:
        for adapter in list(self._adapters.values()):
            try:
                await adapter.aclose()
            except Exception:
                log.exception("closing adapter %s failed", adapter)
        self._adapters.clear()
