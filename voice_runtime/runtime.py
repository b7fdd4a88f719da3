"""Composition of a runnable voice runtime from plain choices (used by `voicectl runtime serve` and the embedded
stack): where the live state comes from, where metrics go, which backends are emulated."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.config import Config

from registry.compiled import CompiledRegistry, compile_registry
from registry.errors import UnknownName, UsageError
from registry.live_state import PhaseRecord, param_phase, param_registry
from registry.loader import load_registry
from voice_runtime.metrics import QUEUE_LIMIT, CloudWatchSink, EmfSink, FanOutSink, InMemorySink, MetricsSink
from voice_runtime.registry_client import RegistryClient
from voice_runtime.settings import RuntimeSettings

METRICS_KINDS = ("emf", "cloudwatch", "none")


def file_values(compiled: CompiledRegistry, phase: str | None = None) -> dict[str, str]:
    """The SSM map a runtime would read if `compiled` were applied with `phase` active (default: the first)."""
    name = phase or (compiled.phases[0].name if compiled.phases else None)
    if name is not None and compiled.phase(name) is None:
        raise UnknownName("phase", name, [p.name for p in compiled.phases])
    values = {param_registry(compiled.namespace): compiled.to_json()}
    if name is not None:
        record = PhaseRecord(phase=name, at=datetime.now(UTC), actor="voicectl runtime serve", action="init")
        values[param_phase(compiled.namespace)] = record.model_dump_json()
    return values


def file_source(path: Path, phase: str | None = None) -> tuple[CompiledRegistry, Callable[[], Mapping[str, str]]]:
    """A registry file as a static live-state source (local runs without SSM)."""
    compiled = compile_registry(load_registry(path))
    values = file_values(compiled, phase)
    return compiled, lambda: values


def ssm_source(ssm: Any, namespace: str) -> Callable[[], Mapping[str, str]]:
    """Production wiring: one GetParametersByPath batch per refresh (pages followed by NextToken), every
    parameter under `namespace` as {name: value}. Failures propagate: the registry client keeps its last good copy."""
    path = namespace.rstrip("/") or "/"

    def fetch() -> dict[str, str]:
        values: dict[str, str] = {}
        kwargs: dict[str, Any] = {"Path": path, "Recursive": True, "WithDecryption": True}
        while True:
            page = ssm.get_parameters_by_path(**kwargs)
            values.update((p["Name"], p["Value"]) for p in page.get("Parameters", []))
            if not page.get("NextToken"):
                return values
            kwargs["NextToken"] = page["NextToken"]

    return fetch


def metrics_sink(kinds: list[str], *, cloudwatch: Callable[[], Any] | None = None,
                 resolution: int = 60, queue_limit: int = QUEUE_LIMIT) -> MetricsSink:
    """`emf` (stdout, for CloudWatch Logs), `cloudwatch` (PutMetricData via the given client factory), `none`.
    Both write on a background thread and hold at most `queue_limit` documents while it is stuck."""
    sinks: list[MetricsSink] = []
    for kind in kinds:
        if kind == "emf":
            sinks.append(EmfSink(resolution=resolution, queue_limit=queue_limit))
        elif kind == "cloudwatch":
            if cloudwatch is None:
                raise UsageError("the cloudwatch metrics sink needs an AWS endpoint or credentials", value=kind)
            sinks.append(CloudWatchSink(cloudwatch(), resolution=resolution, background=True,
                                        queue_limit=queue_limit))
        elif kind != "none":
            raise UnknownName("metrics sink", kind, METRICS_KINDS)
    return FanOutSink(sinks) if sinks else InMemorySink()


def registry_client(fetch: Callable[[], Mapping[str, str]], *, namespace: str, fallback_baseline: str,
                    timeout: float, default_ttl: float) -> RegistryClient:
    return RegistryClient(fetch, namespace=namespace, fallback_baseline=fallback_baseline, timeout=timeout,
                          default_ttl=default_ttl)


def aws_config(settings: RuntimeSettings) -> Config:
    """Client settings for the runtime's own AWS calls (SSM, CloudWatch): one attempt is bounded by the SSM
    timeout and retried once, so a hung endpoint holds a thread for seconds, not botocore's default minutes."""
    timeout = settings.ssm_timeout_seconds
    return Config(connect_timeout=min(2.0, timeout), read_timeout=timeout,
                  retries={"max_attempts": 2, "mode": "standard"})
