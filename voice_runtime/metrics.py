"""Metric sinks: where the runtime's per-turn samples go.

The runtime records raw samples (one TTFA value per turn, one 0/1 per turn for SessionError...) so CloudWatch can
compute percentiles (the alarms watch p95 of the raw TTFA metric) and `Average` of a 0/1 metric is a rate.

* `EmfSink`: CloudWatch Embedded Metric Format lines built by Powertools (namespace SilentInfinity/Voice, dimension
  Variant), written to a stream (stdout on ECS/Lambda, where CloudWatch Logs turns them into metrics).
* `InMemorySink`: for tests and the local alarm evaluator.
* `CallbackSink`: hands each raw sample to a function (the embedded mode feeds the local evaluator with it).
* `CloudWatchSink`: PutMetricData through a given client (the embedded mode points it at moto).
* `FanOutSink`: several of the above; one failing sink never stops the others or the turn.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

log = logging.getLogger(__name__)

NAMESPACE = "SilentInfinity/Voice"
TTFA = "VoiceM2_TTFA_ms"
SESSION_ERROR = "VoiceM2_SessionError"
BARGE_IN = "VoiceM2_BargeIn"
MODEL_LATENCY = "VoiceM2_ModelLatency"
UNITS = {TTFA: "Milliseconds", MODEL_LATENCY: "Milliseconds", SESSION_ERROR: "Count", BARGE_IN: "Count"}
_EMF_BATCH = 99  # Powertools prints on its own at 100 values: flush before it does


@dataclass(frozen=True)
class Sample:
    """One raw observation of a metric for one variant, at a wall-clock time (epoch seconds)."""

    name: str
    value: float
    variant: str
    at: float
    unit: str = "None"

    @classmethod
    def of(cls, name: str, value: float, variant: str, at: float) -> Sample:
        return cls(name, float(value), variant, at, UNITS.get(name, "None"))


class MetricsSink(Protocol):
    def record(self, sample: Sample) -> None:
        """Accept one sample; must not block the turn (buffer, then write on flush)."""
        ...

    def flush(self) -> None:
        """Write out what is buffered."""
        ...


class InMemorySink:
    """Keeps every sample; `values(name, variant)` for assertions and the local alarm evaluator."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def record(self, sample: Sample) -> None:
        self.samples.append(sample)

    def flush(self) -> None:
        return None

    def values(self, name: str, variant: str | None = None) -> list[float]:
        return [s.value for s in self.samples if s.name == name and (variant is None or s.variant == variant)]


class CallbackSink:
    """Calls `callback(sample)` for every sample, synchronously."""

    def __init__(self, callback: Callable[[Sample], None]) -> None:
        self._callback = callback

    def record(self, sample: Sample) -> None:
        self._callback(sample)

    def flush(self) -> None:
        return None


class FanOutSink:
    """Records into every sink; an exception in one is logged and the others still get the sample."""

    def __init__(self, sinks: Iterable[MetricsSink]) -> None:
        self.sinks = list(sinks)

    def record(self, sample: Sample) -> None:
        for sink in self.sinks:
            try:
                sink.record(sample)
            except Exception:  # metrics must never fail a turn
                log.exception("metrics sink %s failed to record", type(sink).__name__)

    def flush(self) -> None:
        for sink in self.sinks:
            try:
                sink.flush()
            except Exception:
                log.exception("metrics sink %s failed to flush", type(sink).__name__)

    def drain(self) -> None:
        """Wait for sinks that write in the background (shutdown)."""
        for sink in self.sinks:
            drain = getattr(sink, "drain", None)
            if drain is not None:
                try:
                    drain()
                except Exception:
                    log.exception("metrics sink %s failed to drain", type(sink).__name__)


class EmfSink:
    """EMF lines via Powertools' CloudWatch EMF provider, one provider per Variant dimension value."""

    def __init__(
        self,
        *,
        namespace: str = NAMESPACE,
        service: str = "voice-runtime",
        stream: TextIO | None = None,
        resolution: int = 60,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.stream = stream
        self.resolution = resolution
        self._providers: dict[str, AmazonCloudWatchEMFProvider] = {}
        self._counts: dict[str, int] = defaultdict(int)
        self._first_at: dict[str, float] = {}

    def _provider(self, variant: str) -> AmazonCloudWatchEMFProvider:
        provider = self._providers.get(variant)
        if provider is None:
            # Explicit empty sets: the provider's defaults are shared mutable state across instances.
            provider = AmazonCloudWatchEMFProvider(
                metric_set={}, dimension_set={}, metadata_set={}, namespace=self.namespace,
                default_dimensions={"Variant": variant},
            )
            # Alarms and gates select {Variant: x} exactly; a `service` dimension would make them miss these
            # metrics, so the service name travels as metadata instead.
            provider.service = None  # type: ignore[assignment]
            provider.add_metadata("service", self.service)
            self._providers[variant] = provider
        return provider

    def record(self, sample: Sample) -> None:
        provider = self._provider(sample.variant)
        provider.add_metric(name=sample.name, unit=MetricUnit(sample.unit) if sample.unit != "None"
                            else MetricUnit.NoUnit, value=sample.value, resolution=self.resolution)
        self._first_at.setdefault(sample.variant, sample.at)
        self._counts[sample.variant] += 1
        if max(len(m["Value"]) for m in provider.metric_set.values()) >= _EMF_BATCH:
            self._flush_variant(sample.variant)

    def _flush_variant(self, variant: str) -> None:
        provider = self._providers[variant]
        if not provider.metric_set:
            return
        provider.set_timestamp(int(self._first_at.pop(variant) * 1000))
        document = provider.serialize_metric_set()
        (self.stream or sys.stdout).write(json.dumps(document, separators=(",", ":")) + "\n")
        provider.metric_set.clear()
        self._counts[variant] = 0

    def flush(self) -> None:
        for variant in list(self._providers):
            self._flush_variant(variant)
        (self.stream or sys.stdout).flush()


class CloudWatchSink:
    """PutMetricData (raw values) through an injected client, batched until `flush`.

    With `background=True`, `flush` hands the batch to one worker thread so a turn on the event loop never waits
    on CloudWatch; `drain` waits for the batches in flight (shutdown, tests). Otherwise `flush` puts synchronously
    (for callers that flush from their own thread)."""

    def __init__(self, cloudwatch: Any, *, namespace: str = NAMESPACE, resolution: int = 60,
                 background: bool = False) -> None:
        self._cw = cloudwatch
        self.background = background
        self.namespace = namespace
        self.resolution = resolution
        self._buffer: list[Sample] = []
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self.failures = 0

    def record(self, sample: Sample) -> None:
        self._buffer.append(sample)

    def flush(self) -> None:
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        if not self.background:
            self._put(batch)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cloudwatch-sink")
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._put, batch))

    def _put(self, batch: list[Sample]) -> None:
        data = [
            {
                "MetricName": s.name,
                "Dimensions": [{"Name": "Variant", "Value": s.variant}],
                "Timestamp": datetime.fromtimestamp(s.at, tz=UTC),
                "Value": s.value,
                "Unit": s.unit,
                "StorageResolution": self.resolution,
            }
            for s in batch
        ]
        try:
            for start in range(0, len(data), 500):  # PutMetricData accepts up to 1000 datums per call
                self._cw.put_metric_data(Namespace=self.namespace, MetricData=data[start : start + 500])
        except Exception:  # metrics must never fail a turn; the EMF copy (if configured) still has them
            self.failures += 1
            log.exception("PutMetricData failed for %d samples", len(batch))

    def drain(self, timeout: float | None = 10) -> None:
        """Wait until every flushed batch was put (or failed)."""
        for future in list(self._pending):
            future.result(timeout)
        self._pending = []
