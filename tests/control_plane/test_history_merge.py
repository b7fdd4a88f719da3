"""History: parameter versions -> one audit log, sorted, every kind of writer (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_plane.aws.live_store import ParameterVersion
from control_plane.history import history_parameters, merge_history
from control_plane.overrides import AuditRecord, param_audit
from registry.live_state import ApprovalRecord, DeprecationRecord, OverrideRecord, PhaseRecord

NS = "/v"
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def v(name: str, version: int, value: str, at: datetime = T0, user: str = "", desc: str = "") -> ParameterVersion:
    return ParameterVersion(name, version, at, value, user, desc)


def test_every_writer_becomes_an_event_sorted_by_time() -> None:
    versions = [
        v(f"{NS}/rollout/phase", 1, PhaseRecord(phase="P1", action="init", actor="ann", at=T0).model_dump_json()),
        v(f"{NS}/rollout/phase", 2, PhaseRecord(phase="P2", previous="P1", actor="ann", reason="clean",
                                                at=T0 + timedelta(hours=3)).model_dump_json()),
        v(f"{NS}/overrides/sonic", 1, OverrideRecord(variant="sonic", share=0, source="alarm", alarm="P95",
                                                     at=T0 + timedelta(hours=1)).model_dump_json()),
        v(f"{NS}/variant_overrides", 1, '{"sonic": 0, "base": 100}', T0 + timedelta(hours=2),
          "arn:aws:iam::123456789012:user/oncall-bob", "emergency revert by bob: robotic"),
        v(f"{NS}/approvals/P1/quality", 1, ApprovalRecord(phase="P1", approval="quality", score=4.2, by="qa",
                                                           at=T0 + timedelta(minutes=30)).model_dump_json()),
        v(f"{NS}/deprecations/base", 1, DeprecationRecord(variant="base", actor="ann",
                                                          at=T0 + timedelta(days=14)).model_dump_json()),
        v(param_audit(NS), 1, AuditRecord(action="override clear", target="sonic", actor="bob", reason="fixed",
                                          at=T0 + timedelta(hours=4), was="sonic=0%").model_dump_json()),
        v(f"{NS}/overrides/broken", 1, "{not json", T0 + timedelta(hours=5)),
    ]
    events = merge_history(NS, versions)
    assert [(e.actor, e.action, e.detail) for e in events] == [
        ("ann", "init", "P1"),
        ("qa", "approve", "P1 quality score 4.2"),
        ("alarm P95", "revert", "sonic=0%"),
        ("oncall-bob", "runbook map", "base=100%, sonic=0%"),
        ("ann", "advance", "P1 -> P2"),
        ("bob", "override clear", "sonic (was sonic=0%)"),
        ("unknown", "unparsed value", events[6].detail),
        ("ann", "deprecate", "base"),
    ]
    assert events[3].reason == "emergency revert by bob: robotic"
    assert events[6].detail.startswith("'{not json'")
    assert events[0].to_dict()["at"] == T0.isoformat()


def test_history_parameters_skip_the_registry_and_always_include_known_ones() -> None:
    names = history_parameters(NS, [f"{NS}/registry", f"{NS}/overrides/a"])
    assert names == sorted([f"{NS}/overrides/a", f"{NS}/rollout/phase", f"{NS}/variant_overrides", param_audit(NS)])
