"""Metric sinks: where the runtime's per-turn samples go.

The runtime records raw samples (one TTFA value per turn, one 0/1 per turn for SessionError...) so CloudWatch can
compute percentiles (the alarms watch p95 of the raw TTFA metric) and `Average` of a 0/1 metric is a rate.

* `EmfSink`: CloudWatch Embedded Metric Format lines built by Powertools (namespace SilentInfinity/Voice, dimension
  Variant), written to stdout (on ECS/Lambda CloudWatch Logs turns them into metrics) by a background thread.
* `InMemorySink`: for tests and the local alarm evaluator.
* `CallbackSink`: hands each raw sample to a function (the embedded mode feeds the local evaluator with it).
* `CloudWatchSink`: PutMetricData through a given client (the embedded mode points it at moto).
* `FanOutSink`: several of the above; one failing sink never stops the others or the turn.

Metrics never block the event loop (docs/reliability.md, "metrics never block"): the EMF and background
CloudWatch sinks hand their writes to a `BoundedWorker`; when its queue is full (a stdout nobody reads,
CloudWatch hanging) the samples are dropped, counted (`stats()`, shown in /healthz) and reported in a log line
at most once a minute. Losing samples under a stuck sink is the price of calls that keep flowing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from voice_runtime.background import BoundedWorker
from voice_runtime.throttle import Throttle

log = logging.getLogger(__name__)

NAMESPACE = "SilentInfinity/Voice"
TTFA = "VoiceM2_TTFA_ms"
SESSION_ERROR = "VoiceM2_SessionError"
BARGE_IN = "VoiceM2_BargeIn"
MODEL_LATENCY = "VoiceM2_ModelLatency"
UNITS = {TTFA: "Milliseconds", MODEL_LATENCY: "Milliseconds", SESSION_ERROR: "Count", BARGE_IN: "Count"}
_EMF_BATCH = 99  # Powertools prints on its own at 100 values: flush before it does
# Documents (EMF lines, PutMetricData batches) a sink may hold while its writer is stuck: at most ~100 values
# each, so a few MB at worst; beyond it, samples are dropped and counted.
QUEUE_LIMIT = 1024
DROP_LOG_SECONDS = 60.0


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


@dataclass(frozen=True)
class SinkStats:
    """What a background sink did with its samples: shown per sink in /healthz under `metrics`."""

    dropped_samples: int
    queued: int
    failed_writes: int

    def to_json(self) -> dict[str, int]:
        return {"dropped_samples": self.dropped_samples, "queued": self.queued, "failed_writes": self.failed_writes}


class Drops:
    """Counts samples a full queue refused and says so in the log, at most once per `every` seconds."""

    def __init__(self, what: str, clock: Callable[[], float], every: float = DROP_LOG_SECONDS) -> None:
        self.what = what
        self.samples = 0
        self._throttle = Throttle(every, clock)
        self._since_log = 0

    def add(self, samples: int) -> None:
        self.samples += samples
        self._since_log += samples
        if self._throttle.ready() is not None:
            log.warning("metrics: dropped %d samples (%s); %d since start", self._since_log, self.what, self.samples)
            self._since_log = 0


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

    def drain(self, timeout: float) -> bool:
        """Wait, `timeout` seconds in all, for sinks that write in the background (shutdown); False if some
        still had work when the time was up."""
        deadline = time.monotonic() + timeout
        done = True
        for sink in self.sinks:
            drain = getattr(sink, "drain", None)
            if drain is not None:
                try:
                    done = bool(drain(max(0.0, deadline - time.monotonic()))) and done
                except Exception:
                    log.exception("metrics sink %s failed to drain", type(sink).__name__)
        return done

    def stats(self) -> dict[str, dict[str, int]]:
        """Per background sink (`emf`, `cloudwatch`): samples dropped, documents queued, writes failed."""
        return {sink.kind: sink.stats().to_json() for sink in self.sinks if isinstance(sink, EmfSink | CloudWatchSink)}


class EmfSink:
    """EMF lines via Powertools' CloudWatch EMF provider, one provider per Variant dimension value.

    Documents are built on the caller's thread (the event loop) and written by one background thread to `stream`,
    or by default straight to file descriptor 1 (stdout; see voice_runtime/background.py for why not through
    `sys.stdout`). A writer stuck on a pipe nobody reads makes `record`/`flush` drop documents, never wait."""

    kind = "emf"

    def __init__(
        self,
        *,
        namespace: str = NAMESPACE,
        service: str = "voice-runtime",
        stream: TextIO | None = None,
        fd: int = 1,
        resolution: int = 60,
        queue_limit: int = QUEUE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.stream = stream
        self.fd = fd
        self.resolution = resolution
        self._providers: dict[str, AmazonCloudWatchEMFProvider] = {}
        self._counts: dict[str, int] = defaultdict(int)
        self._first_at: dict[str, float] = {}
        self._writer: BoundedWorker[str] = BoundedWorker(self._write, limit=queue_limit, name="emf-writer")
        self._drops = Drops("EMF writer stuck: is stdout read?", clock)

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
        provider.metric_set.clear()
        samples, self._counts[variant] = self._counts[variant], 0
        if not self._writer.submit(json.dumps(document, separators=(",", ":")) + "\n"):
            self._drops.add(samples)

    def _write(self, line: str) -> None:
        """On the writer thread: the whole line, however long the other end takes to read it."""
        if self.stream is not None:
            self.stream.write(line)
            self.stream.flush()
            return
        data = memoryview(line.encode())
        while data:
            data = data[os.write(self.fd, data):]

    def flush(self) -> None:
        """Hand every buffered document to the writer (returns at once)."""
        for variant in list(self._providers):
            self._flush_variant(variant)

    def drain(self, timeout: float = 10) -> bool:
        """Wait until the writer wrote everything handed to it, at most `timeout` s; False if it is stuck."""
        self.flush()
        return self._writer.wait_idle(timeout)

    def stats(self) -> SinkStats:
        return SinkStats(self._drops.samples, self._writer.queued, self._writer.failed)


class CloudWatchSink:
    """PutMetricData (raw values) through an injected client, batched until `flush`.

    With `background=True`, `flush` hands the batch to one daemon worker thread so a turn on the event loop never
    waits on CloudWatch (a full queue drops the batch, counted); `drain` waits, bounded, for the batches in
    flight (shutdown, tests). Otherwise `flush` puts synchronously (for callers that flush from their own
    thread)."""

    kind = "cloudwatch"

    def __init__(self, cloudwatch: Any, *, namespace: str = NAMESPACE, resolution: int = 60,
                 background: bool = False, queue_limit: int = QUEUE_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cw = cloudwatch
        self.background = background
        self.namespace = namespace
        self.resolution = resolution
        self._buffer: list[Sample] = []
        self._worker: BoundedWorker[list[Sample]] = BoundedWorker(self._put, limit=queue_limit,
                                                                 name="cloudwatch-sink")
        self._drops = Drops("PutMetricData backlog full: is CloudWatch answering?", clock)
        self.failures = 0

    def record(self, sample: Sample) -> None:
        self._buffer.append(sample)

    def flush(self) -> None:
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        if not self.background:
            self._put(batch)
        elif not self._worker.submit(batch):
            self._drops.add(len(batch))

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

    def drain(self, timeout: float = 10) -> bool:
        """Wait until every flushed batch was put (or failed), at most `timeout` s; False if one still hangs."""
        return self._worker.wait_idle(timeout)

    def stats(self) -> SinkStats:
        return SinkStats(self._drops.samples, self._worker.queued, self.failures)
