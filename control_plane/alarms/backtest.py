"""Backtest: replay a metric history through a registry's alarms and say when each would have fired, recovered,
and what it would have reverted. Pure apart from reading the history file.

History formats (one raw sample per row/line; timestamps as ISO 8601 or epoch seconds, UTC):

* CSV with a header: `timestamp`, `metric`, `value`, optional `namespace` (default: the registry's
  metrics_namespace); every other column is a dimension (e.g. `Variant`), empty cells are left out.
* JSON Lines: {"timestamp", "metric", "value", "dimensions": {...}, "namespace"?} per line, or the runtime's
  CloudWatch Embedded Metric Format lines (`_aws` metadata; every value of a line at the line's timestamp).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from control_plane.alarms.detection import Detection, time_to_detect
from control_plane.alarms.evaluator import AlarmDefinition, Evaluator, Transition
from control_plane.alarms.samples import Sample
from control_plane.alarms.states import AlarmState
from registry.errors import InputRefused, InvalidInput, clipped, shown
from registry.input_file import read_input


class HistoryInvalid(InvalidInput):
    """The metrics history file cannot be read; the message names the file and line (`where`)."""


MAX_HISTORY_BYTES = 256 * 1024 * 1024  # checked before reading: a /dev/zero or a stray dump cannot fill memory
JSONL_EXAMPLE = ('lines like {"timestamp": "2026-11-20T14:00:05Z", "metric": "VoiceM2_TTFA_ms", '
                 '"dimensions": {"Variant": "sonic-unified"}, "value": 412}')


def _timestamp(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("a timestamp, not a boolean")
    if isinstance(raw, int | float):
        return float(raw) / 1000.0 if raw > 1e11 else float(raw)  # EMF uses epoch milliseconds
    text = str(raw).strip()
    try:
        return float(text)
    except ValueError:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"{shown(raw)} is not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"{shown(raw)} is not a finite number")
    return value


def _emf_samples(doc: dict[str, Any]) -> list[Sample]:
    meta = doc["_aws"]
    at = _timestamp(meta["Timestamp"])
    samples = []
    for directive in meta["CloudWatchMetrics"]:
        dims = {name: str(doc[name]) for dim_set in directive.get("Dimensions", [[]])[:1] for name in dim_set}
        for metric in directive["Metrics"]:
            values = doc[metric["Name"]]
            for value in values if isinstance(values, list) else [values]:
                samples.append(Sample.of(directive["Namespace"], metric["Name"], dims, _number(value), at))
    return samples


def parse_jsonl(text: str, *, default_namespace: str, source: str = "<history>") -> list[Sample]:
    samples: list[Sample] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise ValueError("each line must be a JSON object")
            if "_aws" in doc:
                samples.extend(_emf_samples(doc))
                continue
            missing = [k for k in ("timestamp", "metric", "value") if k not in doc]
            if missing:
                raise KeyError(", ".join(missing))
            dims = doc.get("dimensions") or {}
            if not isinstance(dims, dict):
                raise ValueError("dimensions must be an object of name -> value")
            samples.append(Sample.of(doc.get("namespace") or default_namespace, str(doc["metric"]), dims,
                                     _number(doc["value"]), _timestamp(doc["timestamp"])))
        except KeyError as exc:
            raise HistoryInvalid(f"{source}:{number}: missing field(s) {exc.args[0]}", where=f"{source}:{number}",
                                 expected='"timestamp", "metric" and "value" on each line') from exc
        except (ValueError, TypeError) as exc:
            raise HistoryInvalid(f"{source}:{number}: {clipped(str(exc))}", where=f"{source}:{number}",
                                 expected=JSONL_EXAMPLE) from exc
    return samples


def parse_csv(text: str, *, default_namespace: str, source: str = "<history>") -> list[Sample]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"timestamp", "metric", "value"} - set(reader.fieldnames or [])
    if missing:
        raise HistoryInvalid(f"{source}:1: the header lacks column(s) {', '.join(sorted(missing))}",
                             where=f"{source}:1", expected="a header such as timestamp,metric,Variant,value")
    dim_columns = [c for c in reader.fieldnames or [] if c not in {"timestamp", "metric", "value", "namespace"}]
    samples = []
    for number, row in enumerate(reader, start=2):
        try:
            dims = {c: row[c] for c in dim_columns if row.get(c)}
            samples.append(Sample.of(row.get("namespace") or default_namespace, row["metric"], dims,
                                     _number(row["value"]), _timestamp(row["timestamp"])))
        except (ValueError, TypeError) as exc:
            raise HistoryInvalid(f"{source}:{number}: {clipped(str(exc))}", where=f"{source}:{number}",
                                 expected="timestamp as ISO 8601 or epoch seconds, value as a number") from exc
    return samples


def read_history(path: Path, *, default_namespace: str) -> list[Sample]:
    """Samples of a .csv or .jsonl/.json/.ndjson history file, sorted by time."""
    try:
        text = read_input(path, max_bytes=MAX_HISTORY_BYTES, kind="metric history")
    except InputRefused as exc:
        raise HistoryInvalid(f"cannot read {path}: {exc.reason}", where=str(path)) from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        samples = parse_csv(text, default_namespace=default_namespace, source=str(path))
    elif suffix in {".jsonl", ".ndjson", ".json", ".log"}:
        samples = parse_jsonl(text, default_namespace=default_namespace, source=str(path))
    else:
        raise HistoryInvalid(f"{path}: unknown history format {suffix or '(no extension)'!r}", where=str(path),
                             expected="a .csv or .jsonl file")
    return sorted(samples, key=lambda s: s.timestamp)


@dataclass(frozen=True)
class BacktestEvent:
    """A transition the alarm would have made, and what it would have done."""

    alarm: str
    at: float
    previous: AlarmState
    state: AlarmState
    reason: str
    would_revert: tuple[str, ...] = ()
    would_notify: tuple[str, ...] = ()
    would_rollback: bool = False

    @property
    def fired(self) -> bool:
        return self.state is AlarmState.ALARM

    @property
    def recovered(self) -> bool:
        return self.previous is AlarmState.ALARM and self.state is not AlarmState.ALARM

    def as_dict(self) -> dict[str, Any]:
        return {"alarm": self.alarm, "at": datetime.fromtimestamp(self.at, UTC).isoformat(),
                "previous": self.previous.value, "state": self.state.value, "reason": self.reason,
                "would_revert": list(self.would_revert), "would_notify": list(self.would_notify),
                "would_rollback": self.would_rollback}


@dataclass
class BacktestReport:
    start: float
    end: float
    samples: int
    alarms: list[str]
    events: list[BacktestEvent] = field(default_factory=list)
    final: dict[str, AlarmState] = field(default_factory=dict)
    ticks: int = 0
    evaluations: dict[str, int] = field(default_factory=dict)  # evaluations per alarm, at CloudWatch's cadence
    detection: dict[str, Detection] = field(default_factory=dict)

    def fired(self, alarm: str | None = None) -> list[BacktestEvent]:
        return [e for e in self.events if e.fired and (alarm is None or e.alarm == alarm)]

    def as_dict(self) -> dict[str, Any]:
        return {"start": datetime.fromtimestamp(self.start, UTC).isoformat(),
                "end": datetime.fromtimestamp(self.end, UTC).isoformat(), "samples": self.samples,
                "alarms": self.alarms, "ticks": self.ticks, "evaluations": self.evaluations,
                "time_to_detect": {k: v.as_dict() for k, v in self.detection.items()},
                "events": [e.as_dict() for e in self.events], "final": {k: v.value for k, v in self.final.items()}}


def _event(t: Transition) -> BacktestEvent:
    fired = t.state is AlarmState.ALARM
    return BacktestEvent(t.alarm.name, t.at, t.previous.state, t.state, t.current.reason,
                         t.alarm.revert if fired else (), t.alarm.notify if fired else (),
                         t.alarm.rollback_deployment and fired)


def backtest(alarms: Sequence[AlarmDefinition], samples: Iterable[Sample], *, step: float | None = None,
             start: float | None = None, end: float | None = None, delay: float = 0.0) -> BacktestReport:
    """Evaluate `alarms` over the history as CloudWatch would: each alarm every minute (every 10 s for 10, 20 and
    30 s periods) over its window ending at that step, from the step holding the first sample until the last
    sample's periods are complete. `step` only sets how often the clock moves; `delay` is the metric delay
    assumed for the time-to-detect figures."""
    ordered = sorted(samples, key=lambda s: s.timestamp)
    step = step or float(min([60, *(a.cadence for a in alarms)]))
    detection = {a.name: time_to_detect(a, delay) for a in alarms}
    if not ordered or not alarms:
        now = start or 0.0
        return BacktestReport(now, end or now, len(ordered), [a.name for a in alarms], detection=detection)
    first, last = ordered[0].timestamp, ordered[-1].timestamp
    begin = start if start is not None else math.floor(first / step) * step
    # Up to the first window that holds the last sample's period whole: the history's end is not the metric
    # stopping, so going further would "recover" notBreaching alarms on no data.
    finish = end if end is not None else max(math.floor(last / a.cadence) * a.cadence + a.cadence for a in alarms)
    evaluator = Evaluator(alarms)
    evaluator.ingest(ordered)
    report = BacktestReport(begin, finish, len(ordered), [a.name for a in alarms], detection=detection)
    now = begin
    while now <= finish:
        # The first evaluation of each alarm leaves INSUFFICIENT_DATA (creation) whatever the data: not news.
        report.events.extend(_event(t) for t in evaluator.tick(now)
                             if not (t.previous.reason.startswith("Unchecked") and t.state is not AlarmState.ALARM))
        report.ticks += 1
        now += step
    report.final = {a.name: evaluator.state(a.name) for a in alarms}
    report.evaluations = {a.name: evaluator.evaluation_counts.get(a.name, 0) for a in alarms}
    return report
