"""The runtime reads a malformed override the safe way (registry.live_state): every turn goes to the baseline."""

from __future__ import annotations

from registry.assignment import Subject
from registry.compiled import CompiledRegistry
from registry.live_state import param_override
from tests.voice_runtime.support import BASELINE, NS, FakeClock, namespace_values
from voice_runtime.registry_client import RegistryClient


async def test_a_malformed_revert_keeps_the_variant_off_in_the_runtime(compiled: CompiledRegistry) -> None:
    values = namespace_values(compiled, "Phase4_Week7")  # sonic-unified 100%
    client = RegistryClient(lambda: values, namespace=NS, fallback_baseline=BASELINE, clock=FakeClock())
    assert await client.refresh()
    assert client.table().assign(Subject("caller-1")) == "sonic-unified"
    values[param_override(NS, "sonic-unified")] = '{"variant": "sonic-unified", "share": 0, "source": "alarm"'
    assert await client.refresh()
    assert {client.table().assign(Subject(f"caller-{i}")) for i in range(8)} == {BASELINE}
    assert any("read as sonic-unified at 0%" in p for p in client.status().problems)
