"""Which settings the AWS adapters read, and from where."""

from __future__ import annotations

from types import SimpleNamespace

from voice_runtime.adapters.backend_settings import BackendSettings
from voice_runtime.settings import RuntimeSettings


def test_defaults_when_nothing_is_given() -> None:
    s = BackendSettings.of(None)
    assert s.endpoint("bedrock") is None and s.nova_handover_seconds < 480 and s.region


def test_runtime_settings_region_and_a_nested_backends_block() -> None:
    runtime = RuntimeSettings(aws_region="eu-west-1", aws_endpoint_url="http://127.0.0.1:5000")
    s = BackendSettings.of(runtime)
    assert s.region == "eu-west-1"
    assert s.endpoint("polly") is None  # AWS_ENDPOINT_URL (moto, for SSM) is never used for the voice backends
    nested = SimpleNamespace(aws_region="eu-west-1", backends={"backend_endpoint_url": "https://127.0.0.1:9",
                                                               "transcribe_endpoint_url": "https://127.0.0.1:8"})
    s = BackendSettings.of(nested)
    assert s.endpoint("bedrock") == "https://127.0.0.1:9" and s.endpoint("transcribe") == "https://127.0.0.1:8"


def test_emulator_server_hands_adapters_their_endpoint_and_trust(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from emulators.server import EmulatorServer, backend_settings

    server = EmulatorServer(cert_dir=tmp_path)  # not started: only its address and certificate are read
    s = BackendSettings.of(SimpleNamespace(backends=backend_settings(server)))
    assert s.endpoint("sagemaker") == server.url and s.emulator_ca_file == str(server.cert.cert_file)
    server._sock.close()
