"""One local HTTPS endpoint (HTTP/2 + HTTP/1.1 over TLS, hypercorn) hosting every backend emulator by path.

The real SDKs are pointed at it (`endpoint_uri` / `endpoint_url`) and told to trust its generated certificate:

* POST /model/{id}/invoke-with-bidirectional-stream: Nova Sonic (aws_sdk_bedrock_runtime, CRT HTTP/2)
* POST /stream-transcription: Transcribe StartStreamTranscription (aws_sdk_transcribe_streaming, CRT HTTP/2)
* POST /model/{id}/converse-stream: Bedrock ConverseStream (boto3 bedrock-runtime)
* POST /v1/speech: Polly SynthesizeSpeech (boto3 polly)
* POST /endpoints/{name}/invocations-response-stream: SageMaker InvokeEndpointWithResponseStream (boto3)
* GET /_emulator/stats: turns served and each first output's lateness past its sampled latency, per service

It runs on its own event loop in a daemon thread, so tests and benchmarks drive it from any loop.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from emulators.behaviour import Behaviour
from emulators.nova_sonic_server import NovaSonicEmulator
from emulators.pipeline_server import (
    REPLY,
    ConverseEmulator,
    PollyEmulator,
    SageMakerStreamEmulator,
)
from emulators.tls import LocalCertificate, make_local_certificate
from emulators.transcribe_server import TranscribeEmulator

STATS_PATH = "/_emulator/stats"


@dataclass
class Emulators:
    """The per-service emulators, each with its own Behaviour (latency, faults)."""

    nova: NovaSonicEmulator = field(default_factory=NovaSonicEmulator)
    transcribe: TranscribeEmulator = field(default_factory=TranscribeEmulator)
    converse: ConverseEmulator = field(default_factory=ConverseEmulator)
    polly: PollyEmulator = field(default_factory=PollyEmulator)
    sagemaker: SageMakerStreamEmulator = field(default_factory=SageMakerStreamEmulator)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        path: str = scope["path"]
        if path.endswith("/invoke-with-bidirectional-stream"):
            await self.nova(scope, receive, send)
        elif path == "/stream-transcription":
            await self.transcribe(scope, receive, send)
        elif path.endswith("/converse-stream"):
            await self.converse(scope, receive, send)
        elif path == "/v1/speech":
            await self.polly(scope, receive, send)
        elif path.endswith("/invocations-response-stream"):
            await self.sagemaker(scope, receive, send)
        elif path == STATS_PATH:
            await self.stats(send)
        else:
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"x-amzn-errortype", b"UnknownOperationException")]})
            await send({"type": "http.response.body", "body": b'{"message":"no emulator for this path"}'})


    async def stats(self, send: Any) -> None:
        """`GET /_emulator/stats`: per service, the turns served and how late each first output went out past its
        sampled latency (ms), for benchmarks that subtract the emulators' latency from what clients measure."""
        body = {name: {"turns": b.turns, "lateness_ms": [round(x * 1000, 3) for x in b.lateness]}
                for name, b in behaviours(self).items()}
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class EmulatorServer:
    """Start/stop the TLS endpoint in a background thread; `url` and `cert` are what clients need."""

    def __init__(self, emulators: Emulators | None = None, *, cert_dir: Path | None = None) -> None:
        self.emulators = emulators or Emulators()
        self.cert: LocalCertificate = make_local_certificate(cert_dir)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> EmulatorServer:
        """Serve until `stop()`; returns once the loop is running."""
        config = Config()
        config.bind = [f"fd://{self._sock.detach()}"]
        config.certfile = str(self.cert.cert_file)
        config.keyfile = str(self.cert.key_file)
        config.alpn_protocols = ["h2", "http/1.1"]
        config.accesslog = None
        config.errorlog = None
        config.keep_alive_timeout = 600
        config.h2_max_concurrent_streams = 1000

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            loop.call_soon(self._ready.set)
            loop.run_until_complete(serve(self.emulators, config, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]
            loop.close()

        self._thread = threading.Thread(target=run, name="voice-emulators", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def backend_settings(server: EmulatorServer) -> dict[str, str]:
    """What the AWS adapters need to use these emulators (see adapters.backend_settings.BackendSettings): give it
    to them as a settings object's `backends` mapping, or as top-level attributes."""
    return {"backend_endpoint_url": server.url, "emulator_ca_file": str(server.cert.cert_file)}


def behaviours(emulators: Emulators) -> dict[str, Behaviour]:
    """Every emulator's Behaviour by service name (for CLIs and benchmarks that tune them all)."""
    return {"nova": emulators.nova.behaviour, "transcribe": emulators.transcribe.behaviour,
            "converse": emulators.converse.behaviour, "polly": emulators.polly.behaviour,
            "sagemaker": emulators.sagemaker.behaviour}


def main(argv: list[str] | None = None) -> None:
    """`python -m emulators.server`: serve the emulators until interrupted (for benchmarks and demos).

    Prints one JSON line {"url", "cert_file"} on stdout once listening.
    """
    import argparse
    import signal

    from emulators.behaviour import Fault, Latency

    parser = argparse.ArgumentParser(description=main.__doc__)
    for service, default in (("nova", 150.0), ("transcribe", 100.0), ("converse", 200.0), ("polly", 120.0),
                             ("sagemaker", 250.0)):
        parser.add_argument(f"--{service}-ms", type=float, default=default, help=f"{service} median latency (ms)")
    parser.add_argument("--sigma", type=float, default=0.0, help="log-normal shape (0: fixed latencies)")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default="stream_error", help="comma-separated Fault names drawn at the rate")
    parser.add_argument("--reply-ms", type=int, default=600,
                        help="reply audio per turn: Nova Sonic's, and what Polly / CSM synthesize for the LLM reply")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    emulators = Emulators()
    kinds = tuple(Fault(k) for k in args.faults.split(",") if k)
    for index, (name, behaviour) in enumerate(behaviours(emulators).items()):
        behaviour.latency = Latency(median_ms=getattr(args, f"{name}_ms"), sigma=args.sigma)
        behaviour.fault_rate = args.fault_rate
        behaviour.fault_kinds = kinds
        behaviour.reply_audio_ms = args.reply_ms
        # Polly and CSM speak the emulated LLM reply: the same length of audio per turn as Nova Sonic's reply.
        behaviour.speech_ms_per_char = args.reply_ms / len(REPLY)
        behaviour.seed = args.seed + index
        behaviour.__post_init__()  # reseed with the new seed
    server = EmulatorServer(emulators).start()
    print(json.dumps({"url": server.url, "cert_file": str(server.cert.cert_file)}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):  # a timed wait lets the SIGTERM handler run
            pass
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
