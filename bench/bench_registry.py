"""Benchmark: load + validate + compile of examples/voice-m2.yaml, in-process.

Prints the median and p95 wall time per stage and end to end, and, for scale, the same file through what a user
would otherwise write (plain `yaml.safe_load` + pydantic, no locations, no semantic rules).

    .venv/bin/python bench/bench_registry.py [--iterations N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from control_plane.compiler import compile_plan  # noqa: E402
from registry.loader import _known, load_text  # noqa: E402
from registry.model import Registry  # noqa: E402
from registry.rules import check_rules  # noqa: E402
from registry.yaml_source import parse_yaml  # noqa: E402

EXAMPLE = ROOT / "examples" / "voice-m2.yaml"


def timed(fn: Callable[[], object], iterations: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per call, after a short warm-up. On a shared machine the wall figures include
    waiting for a core; the process CPU time does not."""
    for _ in range(min(20, iterations)):
        fn()
    wall, cpu = [], []
    for _ in range(iterations):
        start, start_cpu = time.perf_counter_ns(), time.process_time_ns()
        fn()
        cpu.append((time.process_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
    return wall, cpu


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    n = parser.parse_args().iterations
    text = EXAMPLE.read_text()
    parsed = parse_yaml(text, str(EXAMPLE))
    registry = Registry.model_validate(parsed.data)
    known = _known(parsed.data)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def end_to_end() -> None:
        result = load_text(text, str(EXAMPLE))
        assert result.registry is not None
        compile_plan(result.registry)

    stages: list[tuple[str, Callable[[], object]]] = [
        ("parse YAML with locations", lambda: parse_yaml(text, str(EXAMPLE))),
        ("validate: pydantic model", lambda: Registry.model_validate(parsed.data)),
        ("validate: semantic rules", lambda: check_rules(registry, parsed.source, known)),
        ("compile: Plan", lambda: compile_plan(registry)),
        ("load + validate + compile", end_to_end),
        (f"baseline: yaml.safe_load ({loader.__name__}) + pydantic",
         lambda: Registry.model_validate(yaml.load(text, Loader=loader))),
    ]
    print(f"{EXAMPLE.name}: {len(text):,} bytes, {n} iterations, Python {sys.version.split()[0]}")
    print(f"{'stage':<52} {'median ms':>10} {'p95 ms':>10} {'CPU median':>11} {'CPU p95':>9}")
    results = {}
    for name, fn in stages:
        wall, cpu = timed(fn, n)
        results[name] = statistics.median(cpu)
        print(f"{name:<52} {statistics.median(wall):>10.3f} {p95(wall):>10.3f} {statistics.median(cpu):>11.3f} "
              f"{p95(cpu):>9.3f}")
    full, base = results["load + validate + compile"], results[stages[-1][0]]
    print(f"end to end vs plain safe_load + pydantic (CPU medians): {full / base:.2f}x "
          "(locations, duplicate keys, rules, compile)")


if __name__ == "__main__":
    main()
