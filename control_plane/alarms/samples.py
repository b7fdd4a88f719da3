"""Raw metric samples and the in-memory store the local evaluator aggregates them from.

A sample is what the runtime's metrics sink emits for one measurement: (namespace, metric, dimensions,
value, timestamp). A metric is identified, as in CloudWatch, by namespace + name + its exact dimension set:
an alarm on {Variant: sonic-unified} does not see samples emitted with {Variant: sonic-unified, Region: x}.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

Dimensions = tuple[tuple[str, str], ...]
MetricKey = tuple[str, str, Dimensions]


def dimensions_key(dimensions: Mapping[str, str] | Iterable[tuple[str, str]]) -> Dimensions:
    """A canonical, hashable form of a dimension set (sorted name/value pairs)."""
    pairs = dimensions.items() if isinstance(dimensions, Mapping) else dimensions
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def to_epoch(timestamp: float | datetime) -> float:
    """Seconds since the epoch; naive datetimes are taken as UTC (metrics are always UTC)."""
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        return timestamp.timestamp()
    return float(timestamp)


@dataclass(frozen=True)
class Sample:
    """One raw measurement, e.g. a turn's TTFA in milliseconds."""

    namespace: str
    metric: str
    dimensions: Dimensions
    value: float
    timestamp: float

    @property
    def key(self) -> MetricKey:
        return (self.namespace, self.metric, self.dimensions)

    @classmethod
    def of(cls, namespace: str, metric: str, dimensions: Mapping[str, str] | Iterable[tuple[str, str]],
           value: float, timestamp: float | datetime) -> Sample:
        """Build a sample from the feed's loose (namespace, metric, dimensions, value, timestamp) tuple."""
        return cls(namespace, metric, dimensions_key(dimensions), float(value), to_epoch(timestamp))


@dataclass
class SampleStore:
    """Samples per metric, kept sorted by time so a period's values are two bisections away.

    Samples may arrive late or out of order (as they do in CloudWatch); they count for the period they
    are timestamped in, whenever they arrive.
    """

    _times: dict[MetricKey, list[float]] = field(default_factory=dict)
    _values: dict[MetricKey, list[float]] = field(default_factory=dict)
    # (metric, slot width, slot start) -> (sample count, the slot's values sorted): see sorted_slots.
    _sorted: dict[tuple[MetricKey, float, float], tuple[int, np.ndarray]] = field(default_factory=dict)

    def add(self, sample: Sample) -> None:
        times = self._times.setdefault(sample.key, [])
        values = self._values.setdefault(sample.key, [])
        at = bisect.bisect_right(times, sample.timestamp)
        times.insert(at, sample.timestamp)
        values.insert(at, sample.value)

    def extend(self, samples: Iterable[Sample]) -> int:
        count = 0
        for sample in samples:
            self.add(sample)
            count += 1
        return count

    def values(self, key: MetricKey, start: float, end: float) -> list[float]:
        """The values timestamped in [start, end)."""
        times = self._times.get(key)
        if not times:
            return []
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_left(times, end)
        return self._values[key][lo:hi]

    def count(self, key: MetricKey, start: float, end: float) -> int:
        """How many values are timestamped in [start, end) (two bisections, no copy)."""
        times = self._times.get(key)
        if not times:
            return 0
        return bisect.bisect_left(times, end) - bisect.bisect_left(times, start)

    def sorted_slots(self, key: MetricKey, start: float, end: float, slot: float) -> list[np.ndarray]:
        """The values timestamped in [start, end) as one sorted array per `slot`-wide slot that has any;
        `start` and `end` are multiples of `slot`.

        CloudWatch's sliding window moves a period's bounds by one evaluation step (a minute, or 10 s) at a time,
        so consecutive evaluations share all but one of a period's slots: each slot is sorted once (again only
        when its sample count changes, e.g. on a late sample) and a period's percentile selects from its slots'
        arrays instead of sorting the whole period on every evaluation.
        """
        slots: list[np.ndarray] = []
        times = self._times.get(key)
        if not times:
            return slots
        values = self._values[key]
        at = start
        lo = bisect.bisect_left(times, at)
        while at < end:
            hi = bisect.bisect_left(times, at + slot, lo)
            if hi > lo:
                cached = self._sorted.get((key, slot, at))
                if cached is None or cached[0] != hi - lo:
                    cached = (hi - lo, np.sort(np.asarray(values[lo:hi], dtype=np.float64)))
                    self._sorted[(key, slot, at)] = cached
                slots.append(cached[1])
            at += slot
            lo = hi
        return slots

    def prune(self, before: float) -> None:
        """Forget samples older than `before` (no alarm looks back that far any more)."""
        for key, times in self._times.items():
            cut = bisect.bisect_left(times, before)
            if cut:
                del times[:cut]
                del self._values[key][:cut]
        for cached in [k for k in self._sorted if k[2] + k[1] <= before]:
            del self._sorted[cached]

    def __len__(self) -> int:
        return sum(len(t) for t in self._times.values())
