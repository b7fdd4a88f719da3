"""The memo's Phase 2 load test: N concurrent synthetic sessions x M turns against a runtime URL.

`run_loadtest` drives the callers (embedded.conversation) and `summarize` turns their turn results
into the report: TTFA p50/p95/p99 per variant from HDR histograms (client-side, as the memo measures it, and the
server's own figure), error rate, relay overhead (client TTFA minus the backend's latency the server reports in
`turn_end.timings.model_latency_ms`), throughput and CPU. Summaries are pure functions of the results.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from embedded.conversation import CallerSpec, TurnResult, converse

# HDR range in microseconds: 1 µs .. 10 min at 3 significant digits.
_HDR_LOW, _HDR_HIGH, _HDR_DIGITS = 1, 600_000_000, 3
PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class LoadTestConfig:
    url: str
    sessions: int = 100
    turns: int = 50
    internal_share: float = 0.0  # fraction of callers that are internal subjects
    subject_prefix: str = "load"
    utterance_s: float = 0.6
    frame_ms: int = 100
    realtime: bool = True
    think_s: float = 0.2
    ramp_s: float = 2.0  # spread the session starts over this many seconds


@dataclass(frozen=True)
class Distribution:
    """Percentiles (ms) of one latency distribution, read from an HDR histogram."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "p50_ms": self.p50, "p95_ms": self.p95, "p99_ms": self.p99,
                "max_ms": self.max, "mean_ms": self.mean}


def distribution(values_ms: Iterable[float]) -> Distribution:
    """HDR-histogram percentiles of `values_ms` (negative values clamp to 0; None when empty)."""
    hist = HdrHistogram(_HDR_LOW, _HDR_HIGH, _HDR_DIGITS)
    for v in values_ms:
        hist.record_value(min(_HDR_HIGH, max(_HDR_LOW, round(v * 1000))))
    count = hist.get_total_count()
    if count == 0:
        return Distribution(0, None, None, None, None, None)

    def ms(us: float) -> float:
        return round(us / 1000, 3)

    p50, p95, p99 = (ms(hist.get_value_at_percentile(p)) for p in PERCENTILES)
    return Distribution(count, p50, p95, p99, ms(hist.get_max_value()), ms(hist.get_mean_value()))


@dataclass(frozen=True)
class CpuUsage:
    """Process CPU seconds (user + system) and the share of one core they represent over the wall time."""

    name: str
    seconds: float
    wall_s: float

    @property
    def cores(self) -> float:
        return round(self.seconds / self.wall_s, 3) if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class LoadReport:
    config: dict[str, Any]
    wall_s: float
    turns: int
    errors: int
    sessions: int
    per_variant: dict[str, dict[str, Any]]
    error_codes: dict[str, int]
    cpu: list[CpuUsage] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.turns if self.turns else 0.0

    @property
    def throughput(self) -> float:
        """Completed turns per second of wall time."""
        return (self.turns - self.errors) / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "wall_s": round(self.wall_s, 3), "sessions": self.sessions,
            "turns": self.turns, "errors": self.errors, "error_rate": round(self.error_rate, 6),
            "throughput_turns_per_s": round(self.throughput, 2), "per_variant": self.per_variant,
            "error_codes": self.error_codes,
            "cpu": [{"process": c.name, "cpu_s": round(c.seconds, 3), "cores": c.cores} for c in self.cpu],
            "machine": self.machine,
        }


def summarize(results: list[TurnResult], *, config: dict[str, Any], wall_s: float,
              cpu: list[CpuUsage] | None = None) -> LoadReport:
    """Per-variant TTFA distributions, relay overhead and error counts from the callers' turn results (pure)."""
    by_variant: dict[str, list[TurnResult]] = {}
    for r in results:
        by_variant.setdefault(r.variant or "(none)", []).append(r)
    per_variant: dict[str, dict[str, Any]] = {}
    for variant, rows in sorted(by_variant.items()):
        ok = [r for r in rows if r.ok and r.reason != "interrupted"]
        overhead = [r.client_ttfa_ms - r.model_latency_ms for r in ok
                    if r.client_ttfa_ms is not None and r.model_latency_ms is not None]
        per_variant[variant] = {
            "turns": len(rows),
            "errors": sum(not r.ok for r in rows),
            "interrupted": sum(r.reason == "interrupted" for r in rows),
            "retried_on_baseline": sum(r.retried_on_baseline for r in rows),
            "client_ttfa": distribution(r.client_ttfa_ms for r in ok if r.client_ttfa_ms is not None).as_dict(),
            "server_ttfa": distribution(r.server_ttfa_ms for r in ok if r.server_ttfa_ms is not None).as_dict(),
            "model_latency": distribution(r.model_latency_ms for r in ok
                                          if r.model_latency_ms is not None).as_dict(),
            # Overhead may be slightly negative per turn (clock edges); the distribution clamps at 0.
            "relay_overhead": distribution(overhead).as_dict(),
        }
    codes = Counter(r.error or r.reason for r in results if not r.ok)
    return LoadReport(config=config, wall_s=wall_s, turns=len(results), errors=sum(not r.ok for r in results),
                      sessions=len({(r.session, r.subject) for r in results}), per_variant=per_variant,
                      error_codes=dict(sorted(codes.items())), cpu=cpu or [])


def process_cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process, or of `pid` from /proc on Linux (0.0 when unreadable)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
    except (OSError, ValueError, IndexError):
        return 0.0


def caller_specs(config: LoadTestConfig) -> list[CallerSpec]:
    """One spec per session; the first `internal_share` of them are internal subjects."""
    internal_n = round(config.sessions * config.internal_share)
    return [
        CallerSpec(subject=f"{config.subject_prefix}-{i:05d}", turns=config.turns, internal=i < internal_n,
                   utterance_s=config.utterance_s, frame_ms=config.frame_ms, realtime=config.realtime,
                   think_s=config.think_s)
        for i in range(config.sessions)
    ]


async def run_loadtest(config: LoadTestConfig, *, on_turn: Callable[[TurnResult], None] | None = None,
                       server_pid: int | None = None) -> tuple[LoadReport, list[TurnResult]]:
    """Run every session concurrently (starts spread over `ramp_s`); returns the report and the raw results."""
    specs = caller_specs(config)
    load_start = os.getloadavg()
    origin = time.perf_counter()
    cpu0, server0 = process_cpu_seconds(), process_cpu_seconds(server_pid) if server_pid else 0.0

    async def one(i: int, spec: CallerSpec) -> list[TurnResult]:
        await asyncio.sleep(config.ramp_s * i / max(1, len(specs)))
        return await converse(config.url, spec, origin=origin, on_turn=on_turn)

    batches = await asyncio.gather(*(one(i, s) for i, s in enumerate(specs)))
    wall = time.perf_counter() - origin
    cpu = [CpuUsage("loadtest client", process_cpu_seconds() - cpu0, wall)]
    if server_pid:
        cpu.append(CpuUsage(f"runtime (pid {server_pid})", process_cpu_seconds(server_pid) - server0, wall))
    results = [r for batch in batches for r in batch]
    cfg = {k: v for k, v in config.__dict__.items()}
    report = summarize(results, config=cfg, wall_s=wall, cpu=cpu)
    # Other work on the machine shows in the tails: say how busy it was.
    machine = {"cpus": os.cpu_count(), "loadavg_1m_start": round(load_start[0], 2),
               "loadavg_1m_end": round(os.getloadavg()[0], 2)}
    return replace(report, machine=machine), results
