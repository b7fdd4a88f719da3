"""What `voicectl local up` and `voicectl loadtest` run (cli/local_commands.py holds the commands): the embedded
stack in the foreground, and the memo's Phase 2 load test against it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from cli.errors import CommandError
from cli.local_extra import LoadTestFailed
from cli.output import Output
from embedded.loadtest import LoadReport, LoadTestConfig, run_loadtest
from embedded.plot import loadtest_latency
from embedded.stack import BackendPath, EmbeddedStack, StackConfig, StackInfo

READY_TIMEOUT = 60.0


def _print_info(out: Output, info: StackInfo, registry_file: Path, samples: Path | None) -> None:
    env = f"AWS_ENDPOINT_URL={info.aws_endpoint_url} AWS_ACCESS_KEY_ID=embedded AWS_SECRET_ACCESS_KEY=embedded " \
          f"AWS_REGION={info.region}"
    metrics = f" --metrics-from samples:{samples}" if samples else ""
    out.show(f"[bold green]embedded stack up[/bold green] ({escape(info.namespace)})")
    out.show(f"  browser client    {info.web_url}")
    out.show(f"  runtime WebSocket {info.runtime_ws_url}")
    out.show(f"  AWS endpoint      {info.aws_endpoint_url}  (moto)")
    if samples:
        out.show(f"  metric samples    {samples}  (what the gates read; moto computes no percentiles)")
    out.show("\n[bold]use it from another shell:[/bold]")
    out.show(f"  export {env}")
    out.show(f"  voicectl status {registry_file}")
    out.show(f"  voicectl advance {registry_file}{metrics}")
    out.show("  voicectl alarms list")
    out.show(f"  voicectl loadtest --url {info.runtime_ws_url} --sessions 20 --turns 5")
    out.show(f"  curl '{info.web_url}admin/emulated?backend=nova_sonic&p50_ms=1400&p95_ms=2200'"
             "   # inject a Nova Sonic latency regression")
    out.hint("Ctrl-C stops everything cleanly.")


async def _serve(config: StackConfig, phase: str | None, out: Output, json_ready: bool) -> None:
    stack = EmbeddedStack(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        info = await stack.start()
        if phase:
            await stack.set_phase(phase, "voicectl local up --phase")
        if json_ready:  # one line a parent process (voicectl loadtest) waits for
            sys.stdout.write(json.dumps({**info.as_dict(), "pid": os.getpid(), "phase": phase}) + "\n")
            sys.stdout.flush()
        else:
            _print_info(out, info, config.registry_file, config.samples_file)
            sys.stdout.flush()  # piped into tee or a log: show the URLs now, not at exit
        await stop.wait()
    finally:
        await stack.stop()
        if not json_ready:
            out.hint("stopped: runtime, alarm evaluator and AWS endpoint are down")


def up(file: Path, port: int, aws_port: int, phase: str | None, samples: Path | None, reply_seconds: float,
       backends: BackendPath, json_ready: bool) -> None:
    """Run the embedded stack until Ctrl-C or SIGTERM."""
    out = Output(json_mode=json_ready)
    config = StackConfig(registry_file=file, runtime_port=port, moto_port=aws_port, samples_file=samples,
                         reply_seconds=reply_seconds, backends_path=backends)
    try:
        asyncio.run(_serve(config, phase, out, json_ready))
    except OSError as exc:
        raise CommandError(f"cannot start the embedded stack: {exc}",
                         next_step="a port is taken: pick others with --port / --aws-port (0 = any free port)") from exc


@contextlib.contextmanager
def _embedded_runtime(phase: str, out: Output, log_path: Path) -> Iterator[dict[str, Any]]:
    """`voicectl local up --json` in a child process (so the load generator does not share its CPU time and GIL),
    stopped with SIGINT on exit; its stderr goes to `log_path`."""
    # The load test measures the relay against the in-process emulated backends (BENCHMARKS.md): 100 sessions of
    # the real M1 pipeline would saturate this machine's cores and measure that instead.
    cmd = [sys.executable, "-c", "from cli.app import main; main()", "local", "up", "--json", "--port", "0",
           "--aws-port", "0", "--backends", "emulated", "--phase", phase,
           "--samples", str(log_path.with_name("metrics.jsonl"))]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            child.wait(timeout=READY_TIMEOUT)
            raise LoadTestFailed(f"the embedded stack did not start: {log_path.read_text().strip()[-500:]}",
                                 next_step="run voicectl local up to see why")
        info: dict[str, Any] = json.loads(line)
        out.hint(f"embedded stack (pid {info['pid']}) at {info['runtime_ws_url']}, phase {phase}")
        yield info
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"{report['sessions']} sessions, {report['turns']} turns in {report['wall_s']:.1f}s: "
                        f"{report['errors']} errors ({100 * report['error_rate']:.2f}%), "
                        f"{report['throughput_turns_per_s']:.1f} turns/s", title_justify="left")
    for col in ("variant", "turns", "TTFA p50", "p95", "p99", "backend p50", "relay p50", "relay p95"):
        table.add_column(col + ("" if col in ("variant", "turns") else " ms"),
                         justify="left" if col == "variant" else "right", no_wrap=True)
    for variant, v in report["per_variant"].items():
        c, m, r = v["client_ttfa"], v["model_latency"], v["relay_overhead"]
        table.add_row(variant, str(v["turns"]), _num(c["p50_ms"], 0), _num(c["p95_ms"], 0), _num(c["p99_ms"], 0),
                      _num(m["p50_ms"], 0), _num(r["p50_ms"], 2), _num(r["p95_ms"], 2))
    cpu = "  ".join(f"{c['process']}: {c['cpu_s']:.1f} s CPU ({c['cores']:.2f} cores)" for c in report["cpu"])
    m = report.get("machine") or {}
    if m:
        cpu += f"  | {m['cpus']} CPUs, load average {m['loadavg_1m_start']} -> {m['loadavg_1m_end']}"
    table.caption = cpu
    table.caption_justify = "left"
    return table


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def loadtest(sessions: int, turns: int, url: str | None, internal_share: float, phase: str, utterance_ms: int,
             think_ms: int, out_dir: Path, max_error_rate: float, json_out: bool) -> None:
    """Run the load test (starting the embedded stack in a child process without `url`) and judge it."""
    out = Output(json_mode=json_out)
    with contextlib.ExitStack() as stack:
        server_pid = None
        if url is None:
            info = stack.enter_context(_embedded_runtime(phase, out, out_dir / "embedded-stack.log"))
            url, server_pid = str(info["runtime_ws_url"]), int(info["pid"])
        config = LoadTestConfig(url=url, sessions=sessions, turns=turns, internal_share=internal_share,
                                utterance_s=utterance_ms / 1000, think_s=think_ms / 1000)
        started = time.time()
        done = 0

        def tick(_: object) -> None:
            nonlocal done
            done += 1
            if not json_out and done % max(1, (sessions * turns) // 10) == 0:
                out.hint(f"  {done}/{sessions * turns} turns, {time.time() - started:.0f}s")

        report, results = asyncio.run(run_loadtest(config, on_turn=tick, server_pid=server_pid))
    doc = report.as_dict()
    doc["target"] = "embedded stack" if server_pid else url
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    png = loadtest_latency(results, doc, out_dir / "latency.png")
    if json_out:
        out.data({**doc, "files": [str(json_path), str(png)]})
    else:
        _widen(out)
        out.show(_table(doc))
        out.show(f"wrote {json_path}\nwrote {png}")
    _judge(report, max_error_rate)


def _judge(report: LoadReport, max_error_rate: float) -> None:
    if report.turns == 0 or report.error_rate > max_error_rate:
        raise LoadTestFailed(f"load test error rate {100 * report.error_rate:.2f}% > {100 * max_error_rate:.2f}% "
                             f"({report.errors} of {report.turns} turns: {report.error_codes})",
                             next_step="see report.json; raise --max-error-rate to tolerate some")


def _widen(out: Output) -> None:
    """Rich assumes 80 columns when stdout is not a terminal (make, CI logs): too narrow for these tables."""
    if not out.out.is_terminal:
        out.out.width = 120

