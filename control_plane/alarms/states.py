"""The three CloudWatch alarm states, with what each means for a rollout (STYLE.md 5: states are enums)."""

from __future__ import annotations

from enum import StrEnum


class AlarmState(StrEnum):
    """ALARM -> failed -> revert; INSUFFICIENT_DATA -> inconclusive -> hold; OK -> healthy."""

    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

    @property
    def reverts(self) -> bool:
        """Only ALARM triggers a revert; an inconclusive alarm never reverts (nor promotes)."""
        return self is AlarmState.ALARM
