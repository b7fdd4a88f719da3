"""PNG plots (matplotlib, Agg backend: no display needed): the demo timeline and the load test's latencies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedded.conversation import TurnResult
from embedded.report import DemoRecord, rolling_share


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported on first use: it costs ~0.4 s, which every voicectl
    command would otherwise pay at start-up. Agg needs no display (headless machines, CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt

PALETTE = {"transcribe-polly-baseline": "#4c72b0", "sonic-unified": "#dd8452", "ws-echo": "#55a868",
           "sesame-csm1b": "#8172b3"}
_EVENT_STYLE = {"phase": ("#2f7d32", "--"), "inject": ("#b00020", ":"), "alarm": ("#b00020", "-"),
                "override": ("#6a1b9a", "-."), "revert": ("#6a1b9a", "-.")}


def _color(variant: str, i: int) -> str:
    return PALETTE.get(variant, f"C{i % 10}")


def _rolling_percentile(points: Sequence[tuple[float, float]], q: float, window_s: float,
                        step_s: float) -> tuple[list[float], list[float]]:
    """Percentile q of the values in a trailing window, sampled every step_s (needs >= 3 values per window)."""
    if not points:
        return [], []
    points = sorted(points)
    xs, ys = [], []
    t, end = points[0][0] + window_s / 2, points[-1][0]
    while t <= end + step_s:
        values = sorted(v for x, v in points if t - window_s <= x < t)
        xs.append(t)
        # Too few values in the window: a gap in the line rather than a line drawn across missing data.
        ys.append(values[min(len(values) - 1, int(q / 100 * len(values)))] if len(values) >= 3 else float("nan"))
        t += step_s
    return xs, ys


def _marker_label(kind: str, title: str) -> str | None:
    """Short labels for the vertical markers; None for events not worth a marker (alarm OK transitions)."""
    if kind == "alarm":
        state, _, name = title.partition(" ")
        return f"{state} {name.removeprefix('VoiceM2_')}" if state == "ALARM" else None
    if kind == "inject":
        return "regression injected"
    if kind in ("override", "revert"):
        return title.split(" (")[0]
    return title


def demo_timeline(record: DemoRecord, path: Path, *, threshold_ms: float | None = None) -> Path:
    """Two panels on one time axis: external traffic share per variant, and TTFA per variant (turns, rolling
    p50/p95), with phase changes, the injected regression, the alarm and the override marked on both."""
    plt = _pyplot()
    fig, (ax_share, ax_ttfa) = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True,
                                            gridspec_kw={"height_ratios": [1, 1.3]})
    timeline = rolling_share(record.turns, window_s=6.0, step_s=1.0, internal=False)
    # The canary's few percent would vanish under a stacked 100 %: plot every non-baseline variant's share as a
    # line on its own scale; the baseline serves the rest.
    others = sorted({v for _, shares in timeline for v in shares if v != record.baseline})
    top = 10.0
    xs = [t for t, _ in timeline]
    for i, variant in enumerate(others):
        ys = [shares.get(variant, 0.0) for _, shares in timeline]
        top = max(top, *ys)
        ax_share.plot(xs, ys, color=_color(variant, i), linewidth=1.8, label=f"{variant} (6 s window)")
        ax_share.fill_between(xs, ys, color=_color(variant, i), alpha=0.25)
    ax_share.set_ylabel(f"share of external turns (%)\n{record.baseline} serves the rest")
    ax_share.set_ylim(0, top * 1.35)
    if others:
        ax_share.legend(loc="upper left", fontsize=8)
    ax_share.set_title("voicectl demo: canary, latency regression, automatic revert")

    by_variant: dict[str, list[tuple[float, float]]] = {}
    for t in record.turns:
        if t.variant and t.client_ttfa_ms is not None and t.ok and t.reason != "interrupted":
            by_variant.setdefault(t.variant, []).append((t.at_s, t.client_ttfa_ms))
    for i, (variant, points) in enumerate(sorted(by_variant.items())):
        color = _color(variant, i)
        ax_ttfa.scatter([p[0] for p in points], [p[1] for p in points], s=5, alpha=0.25, color=color)
        for q, style in ((50, "-"), (95, "--")):
            xs, ys = _rolling_percentile(points, q, window_s=6.0, step_s=1.0)
            ax_ttfa.plot(xs, ys, style, color=color, linewidth=1.6, label=f"{variant} p{q}")
    if threshold_ms is not None:
        ax_ttfa.axhline(threshold_ms, color="#b00020", linewidth=0.8, alpha=0.6)
        ax_ttfa.text(0.0, threshold_ms, f" alarm threshold {threshold_ms:g} ms", color="#b00020", fontsize=8,
                     va="bottom")
    ax_ttfa.set_ylabel("TTFA, client-side (ms)")
    ax_ttfa.set_xlabel("seconds since start")
    ax_ttfa.set_yscale("log")
    ax_ttfa.legend(loc="upper left", fontsize=7, ncol=3)

    for e in record.events:
        label = _marker_label(e.kind, e.title) if e.kind in _EVENT_STYLE else None
        if label is None:
            continue
        color, style = _EVENT_STYLE[e.kind]
        for ax in (ax_share, ax_ttfa):
            ax.axvline(e.at_s, color=color, linestyle=style, linewidth=1.0, alpha=0.8)
        # Alarm labels sit left of their line, the rest right of it: an alarm and its override are a second apart.
        ax_share.text(e.at_s, 0.97, f" {label} ", rotation=90, va="top", ha="right" if e.kind == "alarm" else "left",
                      fontsize=7, color=color,
                      transform=ax_share.get_xaxis_transform())
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loadtest_latency(results: Sequence[TurnResult], report: dict[str, Any], path: Path) -> Path:
    """Left: client TTFA CDF per variant (log x). Right: relay overhead CDF per variant."""
    plt = _pyplot()
    fig, (ax_cdf, ax_bars) = plt.subplots(1, 2, figsize=(12, 4.8))
    by_variant: dict[str, list[float]] = {}
    for r in results:
        if r.variant and r.client_ttfa_ms is not None and r.ok and r.reason != "interrupted":
            by_variant.setdefault(r.variant, []).append(max(r.client_ttfa_ms, 0.01))
    for i, (variant, values) in enumerate(sorted(by_variant.items())):
        values.sort()
        n = len(values)
        ax_cdf.plot(values, [100 * (k + 1) / n for k in range(n)], color=_color(variant, i),
                    label=f"{variant} (n={n})")
    ax_cdf.set_xscale("log")
    ax_cdf.set_xlabel("TTFA, client-side (ms)")
    ax_cdf.set_ylabel("percentile")
    ax_cdf.grid(True, which="both", alpha=0.3)
    ax_cdf.legend(fontsize=8)
    ax_cdf.set_title("TTFA distribution per variant")

    overhead: dict[str, list[float]] = {}
    for r in results:
        if r.variant and r.ok and r.reason != "interrupted" and r.client_ttfa_ms is not None \
                and r.model_latency_ms is not None:
            overhead.setdefault(r.variant, []).append(r.client_ttfa_ms - r.model_latency_ms)
    for i, (variant, values) in enumerate(sorted(overhead.items())):
        values.sort()
        n = len(values)
        ax_bars.plot(values, [100 * (k + 1) / n for k in range(n)], color=_color(variant, i), label=variant)
    ax_bars.set_xscale("symlog", linthresh=1.0)  # the body is ~1 ms, the tail (a busy machine) hundreds
    ax_bars.set_xlabel("relay overhead: client TTFA - backend latency reported by the server (ms)")
    ax_bars.set_ylabel("percentile")
    ax_bars.grid(True, alpha=0.3)
    if overhead:
        ax_bars.legend(fontsize=8)
    ax_bars.set_title(f"{report.get('sessions', '?')} sessions, {report.get('turns', '?')} turns, "
                      f"{report.get('errors', '?')} errors: relay overhead")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
