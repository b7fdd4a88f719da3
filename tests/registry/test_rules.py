"""registry.rules and registry.durations building blocks: statistics, hints, suggestions, durations."""

from __future__ import annotations

import re

import pytest

from registry.durations import format_duration, parse_duration
from registry.rules import is_valid_statistic, statistic_hint, suggest


@pytest.mark.parametrize("stat", ["SampleCount", "Average", "Sum", "Minimum", "Maximum", "p0", "p50", "p95",
                                  "p99.9", "p99.99", "p99.999", "p95.0123456789", "p100", "p100.0", "tm90", "wm99.5",
                                  "TM(10%:90%)", "TC(:95%)", "TM(150:1000)", "IQM", "PR(:300)"])
def test_valid_statistics(stat: str) -> None:
    assert is_valid_statistic(stat)


@pytest.mark.parametrize("stat", ["P95", "avg", "average", "p101", "p100.5", "p95.01234567891", "median", "p", "",
                                  "TM(10:", "TM(90:10)", "TM(10%:90)", "pr90"])
def test_invalid_statistics(stat: str) -> None:
    assert not is_valid_statistic(stat)


@pytest.mark.parametrize(("stat", "hint"), [
    ("P95", "write it in lower case: p95"),
    ("avg", "did you mean 'Average'?"),
    ("average", "did you mean 'Average'?"),
    ("max", "did you mean 'Maximum'?"),
    ("p101", "a percentile is p0..p100 with at most ten decimals, e.g. p95 or p99.9"),
    ("median", "use SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p50, p95 or p99.9"),
])
def test_statistic_hints(stat: str, hint: str) -> None:
    assert statistic_hint(stat) == hint


def test_suggest_close_name_or_list() -> None:
    assert suggest("sonic-unifed", {"sonic-unified", "ws-echo"}, "declared variants") == "did you mean 'sonic-unified'?"
    assert suggest("zzz", {"b", "a"}, "declared variants") == "declared variants: a, b"
    assert suggest("zzz", set(), "declared topics") == "declared topics: none"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("30m", 1800), ("48h", 172_800), ("2d", 172_800),
                                               ("1w", 604_800), ("1h30m", 5400), (" 7D ", 604_800), ("0s", 0)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["48 hours", "0x", "2 days", "h", "", "1.5h", "-1h"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("write a number and a unit, e.g. 30m, 48h, 2d or 1h30m")):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (12, "12s"), (2700, "45m"), (183_600, "2d 3h"),
                                               (90_061, "1d 1h")])
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
