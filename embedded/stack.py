"""The embedded stack: everything of the product on loopback in one process, no AWS account needed.

* moto's ThreadedMotoServer on 127.0.0.1 (a free port): the AWS endpoint, real HTTP, real boto3 calls;
* the registry applied to it exactly as `voicectl apply` does (SSM parameter, CloudWatch alarms, SNS topics);
* the voice runtime's WebSocket server (voice_runtime.server), reading live state from that endpoint through its
  registry client, with the backends served by emulators of realistic latency (Nova Sonic ~150 ms p50, the M1
  pipeline ~750 ms) and the browser client at GET /;
* the runtime's metrics fanned out to: the local alarm runner (control_plane.alarms.local, CloudWatch's
  evaluation semantics, set_alarm_state on moto, the revert handler invoked in-process as a Lambda action would
  be), a sample store the rollout gates read (moto computes no percentiles), and PutMetricData on moto.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import queue
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from control_plane.alarms.handler import HandlerConfig
from control_plane.alarms.local import LocalAlarmRunner, TickOutcome, in_process_handler
from control_plane.alarms.samples import Sample as AlarmSample
from control_plane.alarms.states import AlarmState
from control_plane.apply import execute, observe, resolve_target, steps_for, still_pending
from control_plane.aws.live_store import put_record
from control_plane.aws.metrics_source import Sample as GateSample
from control_plane.aws.metrics_source import SampleMetricSource
from control_plane.aws.session import Clients
from control_plane.compiler import compile_plan
from control_plane.diff import diff
from embedded.clock import ScaledClock
from embedded.cloudwatch import EmbeddedCloudWatch
from emulators.inprocess import EmulatedAdapter, EmulatedBackendSettings, emulated_factories, latency_knob
from registry.errors import UnknownName
from registry.live_state import PhaseRecord, param_phase
from registry.loader import load_registry
from registry.model import Backend, Registry
from voice_runtime.metrics import NAMESPACE, CallbackSink, CloudWatchSink, FanOutSink, MetricsSink
from voice_runtime.metrics import Sample as RuntimeSample
from voice_runtime.registry_client import RegistryClient
from voice_runtime.runtime import ssm_source
from voice_runtime.server import VoiceServer, create_server
from voice_runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)

DEMO_REGISTRY = Path(__file__).resolve().parents[1] / "examples" / "demo-registry.yaml"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "embedded", "AWS_SECRET_ACCESS_KEY": "embedded"}
EMULATED = frozenset({Backend.NOVA_SONIC, Backend.M1_PIPELINE, Backend.CSM_SAGEMAKER})
# "real": the product's adapters over their SDKs to the protocol emulators (emulators.server: Nova Sonic over
# aws_sdk_bedrock_runtime's HTTP/2 stream, M1 and CSM over the Transcribe SDK and boto3); "real-nova": Nova Sonic's
# real adapter, the pipelines on the in-process emulated backend; "emulated": every backend on the in-process
# emulated backend (a test double, lighter).
BackendPath = Literal["real", "real-nova", "emulated"]
# The M1 pipeline's latency split over its stages (final transcript, first LLM text, first speech), so the
# protocol emulators add up to the memo's end-to-end figure.
M1_STAGE_SHARES = {"transcribe": 0.2, "converse": 0.53, "polly": 0.27}


def default_backends(reply_seconds: float = 1.0) -> dict[Backend, EmulatedBackendSettings]:
    """The memo's latencies: Nova Sonic ~150 ms p50 TTFA, the M1 pipeline ~750 ms, CSM-1B ~620 ms."""
    def emulated(p50: float, p95: float, tone: float, seed: int) -> EmulatedBackendSettings:
        return EmulatedBackendSettings(latency_p50_ms=p50, latency_p95_ms=p95, reply_seconds=reply_seconds,
                                       tone_hz=tone, seed=seed)
    return {Backend.NOVA_SONIC: emulated(150, 260, 520, 1), Backend.M1_PIPELINE: emulated(750, 1000, 330, 2),
            Backend.CSM_SAGEMAKER: emulated(620, 900, 440, 3)}


@dataclass
class StackConfig:
    registry_file: Path = DEMO_REGISTRY
    host: str = "127.0.0.1"
    runtime_port: int = 0  # 0: a free port
    moto_port: int = 0
    region: str = "us-east-1"
    reply_seconds: float = 0.6  # length of every emulated spoken reply
    backends: dict[Backend, EmulatedBackendSettings] | None = None  # default: default_backends(reply_seconds)
    alarm_tick_seconds: float = 1.0  # on the stack's clock (virtual seconds when it runs fast)
    put_metric_data: bool = True  # also send every sample to moto, so `aws cloudwatch` sees the metrics
    quiet: bool = True  # keep the revert handler's JSON logs off the console
    internal_token: str | None = None
    samples_file: Path | None = None  # append every raw sample as JSON lines (for `voicectl advance --metrics-from`)
    backends_path: BackendPath = "emulated"  # see BackendPath; voicectl demo and local up choose the real adapters


@dataclass(frozen=True)
class StackInfo:
    aws_endpoint_url: str
    runtime_ws_url: str
    web_url: str
    namespace: str
    region: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def apply_registry(clients: Clients, registry: Registry) -> list[str]:
    """What `voicectl apply FILE --yes` does: diff the plan against the endpoint and run the ordered writes."""
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    changes = diff(plan, observe(clients, plan, target))
    return execute(clients, steps_for(changes, target, plan.tags), pending=still_pending(clients, plan, target)).applied


def _lognormal(p50_ms: float, p95_ms: float) -> Any:
    """The protocol emulators' Latency with this median and p95 (sigma from the normal quantile 1.645)."""
    from emulators.behaviour import Latency

    sigma = math.log(p95_ms / p50_ms) / 1.6448536269514722 if p95_ms > p50_ms > 0 else 0.0
    return Latency(median_ms=p50_ms, sigma=sigma)


class DeferredSink:
    """Records into `inner` but ignores the runtime's per-turn flush: the alarm thread flushes it every tick,
    so a PutMetricData round trip to the endpoint never runs on the event loop."""

    def __init__(self, inner: MetricsSink) -> None:
        self.inner = inner

    def record(self, sample: RuntimeSample) -> None:
        self.inner.record(sample)

    def flush(self) -> None:
        return None


class EmbeddedStack:
    """Start with `await stack.start()`, stop with `await stack.stop()` (both idempotent)."""

    def __init__(self, config: StackConfig | None = None, *, clock: ScaledClock | None = None) -> None:
        self.config = config or StackConfig()
        # The rollout's timeline (metric timestamps, registry cache, alarms, bakes); latency stays real time.
        self.clock = clock or ScaledClock()
        self.registry = load_registry(self.config.registry_file)
        self.gate_samples = SampleMetricSource()
        self.alarm_feed: queue.Queue[AlarmSample] = queue.Queue()
        self.runtime_samples: list[RuntimeSample] = []
        self.applied: list[str] = []
        self.alarm_outcomes: list[tuple[float, TickOutcome]] = []
        self.cloudwatch = EmbeddedCloudWatch(clock=self.clock.time)
        self._moto: Any = None
        self._server: VoiceServer | None = None
        self._runner: LocalAlarmRunner | None = None
        self._runner_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cw_sink: CloudWatchSink | None = None
        self.clients: Clients | None = None
        self.info: StackInfo | None = None
        self._samples_written = 0
        self._emulators: Any = None  # emulators.server.EmulatorServer when backends_path == "real"

    # --- lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> StackInfo:
        if self.info is not None:
            return self.info
        from embedded.cloudwatch import EmbeddedAwsServer, front_for

        for key, value in FAKE_CREDENTIALS.items():  # moto accepts any; never let a real profile be picked up
            os.environ.setdefault(key, value)
        if self.config.quiet:
            logging.getLogger("voice-rollout-revert").setLevel(logging.WARNING)
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        # moto for every service, its CloudWatch answered from the project's evaluator (embedded.cloudwatch)
        self._moto = EmbeddedAwsServer(front_for(self.cloudwatch), self.config.host, self.config.moto_port)
        host, port = self._moto.start()
        endpoint = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start from an empty account (a stack started earlier
        # in the same process, e.g. by a test, would otherwise leave its phase and overrides behind).
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        self.clients = Clients(endpoint_url=endpoint, region=self.config.region)
        self.applied = apply_registry(self.clients, self.registry)
        if self.config.samples_file is not None:
            self.config.samples_file.parent.mkdir(parents=True, exist_ok=True)
            self.config.samples_file.write_text("")
        self._start_alarm_runner(endpoint)
        if self.config.backends_path != "emulated":
            self._start_emulators()
        self._server = self._build_server(endpoint)
        await self._server.start()
        ws_port = self._server.port
        self.info = StackInfo(aws_endpoint_url=endpoint, runtime_ws_url=f"ws://{self.config.host}:{ws_port}/ws",
                              web_url=f"http://{self.config.host}:{ws_port}/", namespace=self.registry.namespace,
                              region=self.config.region)
        return self.info

    async def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._runner_thread is not None:
            self._runner_thread.join(timeout=5)
            self._runner_thread = None
        if self._emulators is not None:
            self._emulators.stop()
            self._emulators = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    # --- parts -----------------------------------------------------------------------------------------------------

    def _build_server(self, endpoint: str) -> VoiceServer:
        reg = self.registry
        # The runtime gets clients of its own: boto3 sessions are not shared across threads.
        runtime_clients = Clients(endpoint_url=endpoint, region=self.config.region)
        ssm = runtime_clients.ssm
        registry_client = RegistryClient(ssm_source(ssm, reg.namespace), namespace=reg.namespace,
                                         fallback_baseline=reg.baseline, default_ttl=reg.cache_ttl_seconds,
                                         clock=self.clock.time)
        settings = RuntimeSettings(
            host=self.config.host, port=self.config.runtime_port, namespace=reg.namespace,
            fallback_baseline=reg.baseline, default_cache_ttl_seconds=reg.cache_ttl_seconds,
            aws_endpoint_url=endpoint, internal_token=self.config.internal_token,
        )
        emulated = EMULATED
        if self._emulators is not None:  # every backend through its real adapter, to the protocol emulators
            settings = settings.model_copy(update={"backend_endpoint_url": self._emulators.url,
                                                   "emulator_ca_file": str(self._emulators.cert.cert_file)})
            emulated = EMULATED - {Backend.NOVA_SONIC} if self.config.backends_path == "real-nova" else frozenset()
        sinks: list[MetricsSink] = [CallbackSink(self._on_sample)]
        if self.config.put_metric_data:
            self._cw_sink = CloudWatchSink(Clients(endpoint_url=endpoint, region=self.config.region).cloudwatch)
            sinks.append(DeferredSink(self._cw_sink))
        factories = emulated_factories(self.config.backends or default_backends(self.config.reply_seconds),
                                       backends=emulated)
        server = create_server(settings, registry_client, FanOutSink(sinks), factories=factories,
                               wall=self.clock.time)
        server.routes["/admin/emulated"] = (self._latency_route if self._emulators is not None
                                            else latency_knob(server.adapters.get))
        return server

    def _start_emulators(self) -> None:
        from emulators.pipeline_server import REPLY
        from emulators.server import EmulatorServer, behaviours

        self._emulators = EmulatorServer().start()
        targets = self.config.backends or default_backends(self.config.reply_seconds)
        for backend in (Backend.NOVA_SONIC, Backend.M1_PIPELINE, Backend.CSM_SAGEMAKER):
            self._set_protocol_latency(backend, targets[backend].latency_p50_ms, targets[backend].latency_p95_ms)
        for behaviour in behaviours(self._emulators.emulators).values():
            behaviour.reply_audio_ms = int(self.config.reply_seconds * 1000)
            behaviour.speech_ms_per_char = self.config.reply_seconds * 1000 / len(REPLY)  # Polly, CSM: same length
            behaviour.pace_audio = True  # replies at speaking speed, as the emulated backend sends them

    def _set_protocol_latency(self, backend: Backend, p50_ms: float, p95_ms: float) -> None:
        """The protocol emulators' latency for `backend`: Nova Sonic's own; a pipeline's split over its stages."""
        emulators = self._emulators.emulators
        if backend is Backend.NOVA_SONIC:
            emulators.nova.behaviour.latency = _lognormal(p50_ms, p95_ms)
            return
        if backend is Backend.M1_PIPELINE:
            for stage, share in M1_STAGE_SHARES.items():
                getattr(emulators, stage).behaviour.latency = _lognormal(p50_ms * share, p95_ms * share)
            return
        # CSM shares Transcribe and the LLM with M1: SageMaker's speech takes the rest of its latency.
        before = emulators.transcribe.behaviour.latency.median_ms + emulators.converse.behaviour.latency.median_ms
        emulators.sagemaker.behaviour.latency = _lognormal(max(1.0, p50_ms - before), max(1.0, p95_ms - before))

    def _latency_route(self, query: Mapping[str, list[str]]) -> tuple[int, object]:
        """`/admin/emulated?backend=nova_sonic&p50_ms=..&p95_ms=..` for the protocol emulators (the real adapters)."""
        try:
            backend = Backend(query["backend"][0])
            p50 = float(query["p50_ms"][0])
            p95 = float(query["p95_ms"][0]) if "p95_ms" in query else p50
            self.set_latency(backend, p50, p95)
        except (KeyError, ValueError) as exc:
            return 400, {"error": f"bad query: {exc}"}
        return 200, {"backend": backend.value, "p50_ms": p50, "p95_ms": p95, "served_by": "protocol emulators"}


    def _start_alarm_runner(self, endpoint: str) -> None:
        clients = Clients(endpoint_url=endpoint, region=self.config.region)
        target = resolve_target(clients)
        prefix = f"arn:{target.partition}:sns:{target.region}:{target.account_id}:"
        invoke = in_process_handler(ssm=clients.ssm, sns=clients.sns, codedeploy=clients.codedeploy,
                                    config=HandlerConfig(self.registry.namespace, topic_arn_prefix=prefix,
                                                         account=target.account_id, region=target.region),
                                    clock=self.clock.time)
        plan = compile_plan(self.registry, target)
        self._runner = LocalAlarmRunner.from_registry(
            self.registry, cloudwatch=clients.cloudwatch, invoke=invoke, clock=self.clock.time,
            feed=self.alarm_feed,
            sns=clients.sns, topic_arn_prefix=prefix, region=target.region, account=target.account_id,
            alarm_args={spec.name: spec.args for spec in plan.alarms})
        runner = self._runner
        # SetAlarmState from anyone (voicectl, the aws CLI, a test) holds until the next evaluation and runs the new
        # state's actions; the runner's own set_alarm_state finds the state already taken and does nothing more.

        def on_set_state(name: str, state: str, reason: str, data: str) -> None:
            if any(a.name == name for a in runner.alarms):
                runner.set_alarm_state(name, AlarmState(state), reason, data)

        self.cloudwatch.on_set_state = on_set_state
        self._stop.clear()
        self._runner_thread = threading.Thread(target=self._run_alarms, name="local-alarms", daemon=True)
        self._runner_thread.start()

    def _run_alarms(self) -> None:
        assert self._runner is not None
        while not self._stop.is_set():
            try:
                for outcome in self._runner.tick():
                    self.alarm_outcomes.append((self.clock.time(), outcome))
                if self._cw_sink is not None:
                    self._cw_sink.flush()
                self._write_samples()
            except Exception:  # keep evaluating: one bad tick must not silence every alarm
                log.exception("alarm tick failed")
            self._stop.wait(self.clock.real(self.config.alarm_tick_seconds))

    def _write_samples(self) -> None:
        """Append the samples recorded since the last call to `samples_file` (SampleMetricSource's format)."""
        path = self.config.samples_file
        if path is None:
            return
        rows = self.gate_samples.samples[self._samples_written:]
        self._samples_written += len(rows)
        if rows:
            with path.open("a", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({"namespace": r.namespace, "metric": r.metric, "dimensions": dict(r.dimensions),
                                        "timestamp": r.timestamp.isoformat(), "value": r.value}) + "\n")

    def _on_sample(self, sample: RuntimeSample) -> None:
        """Runtime metric sample -> the alarm runner's feed and the gates' sample store."""
        dims = {"Variant": sample.variant}
        self.runtime_samples.append(sample)
        self.alarm_feed.put(AlarmSample.of(NAMESPACE, sample.name, dims, sample.value, sample.at))
        self.gate_samples.samples.append(
            GateSample(NAMESPACE, sample.name, dims, datetime.fromtimestamp(sample.at, UTC), sample.value))

    # --- knobs -----------------------------------------------------------------------------------------------------

    @property
    def server(self) -> VoiceServer:
        assert self._server is not None, "the stack is not started"
        return self._server

    def set_latency(self, backend: Backend, p50_ms: float, p95_ms: float | None = None) -> None:
        """Turn an emulated backend's latency knob (the demo's injected regression)."""
        if self._emulators is not None and (backend is Backend.NOVA_SONIC or self.config.backends_path == "real"):
            self._set_protocol_latency(backend, p50_ms, p95_ms or p50_ms)
            return
        adapter = self.server.adapters.get(backend)
        if not isinstance(adapter, EmulatedAdapter):
            raise RuntimeError(f"{backend.value} is not served by an emulated backend")
        adapter.set_latency(p50_ms, p95_ms)

    async def set_phase(self, phase: str, reason: str) -> None:
        """Make `phase` active now, as `voicectl advance --to PHASE --force --reason ...` would record it, and
        have the runtime pick it up at once rather than at its next cache refresh."""
        if self.registry.phase(phase) is None:
            raise UnknownName("phase", phase, [p.name for p in self.registry.all_phases()])
        assert self.clients is not None, "the stack is not started"
        record = PhaseRecord(phase=phase, action="force", actor="voicectl-local", reason=reason,
                             at=self.clock.now())
        await asyncio.to_thread(put_record, self.clients.ssm, param_phase(self.registry.namespace), record,
                                description=f"force {phase}")
        registry = self.server.registry
        for _ in range(50):  # a background refresh may be in flight (then refresh() declines): retry until seen
            await registry.refresh()
            state = registry.state
            if state is not None and state.phase is not None and state.phase.phase == phase:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the runtime did not pick up phase {phase} within 5 s")

    def adapters_serving(self) -> dict[str, str]:
        """backend -> the adapter that served it: the product's SDK adapter (its name, e.g. `nova_sonic`) or the
        emulated test double (`nova_sonic(emulated)`)."""
        return self.server.adapters.loaded()

    def alarm_state(self, name: str) -> str:
        assert self._runner is not None
        return self._runner.evaluator.state(name).value
