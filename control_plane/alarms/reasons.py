"""StateReason and StateReasonData as CloudWatch writes them (pure). Every form below is taken from AWS-written
text (tests/fixtures/SOURCES.md lists the captures): LocalStack's AWS-validated snapshots, the user guide's Lambda
alarm-action example, and SNS / EventBridge / DescribeAlarms payloads AWS sent to users' accounts.

Two wordings, by whether the alarm was created with DatapointsToAlarm:

* with it ("M out of N"): `Threshold Crossed: 2 out of the last 2 datapoints [15.4 (17/01/22 14:42:00), 11.5
  (17/01/22 14:37:00)] were greater than the threshold (10.0) (minimum 2 datapoints for OK -> ALARM transition).`
* without it: `Threshold Crossed: 1 datapoint [21.5 (19/09/25 21:11:00)] was greater than the threshold (21.0).`

The count and the list are the datapoints that crossed toward the new state (breaching ones for ALARM,
non-breaching ones for OK), most recent first; from five of them on, the list moves after the sentence as "The most
recent datapoints which crossed the threshold: [...]" with the five most recent. Missing datapoints filled in are
added as "and K missing datapoints were treated as [Breaching|NonBreaching]"; with no datapoint at all, "no
datapoints were received for N periods and N missing datapoints were treated as [...]". INSUFFICIENT_DATA reads
"Insufficient Data: 2 datapoints were unknown." (the unknown ones among the N evaluated). Numbers are written as
Java's Double.toString writes them (21.5, 800.0, 1.0E7), datapoint times as dd/mm/yy HH:MM:SS (UTC, period start).

StateReasonData: {"version","queryDate" (the evaluation time, milliseconds),"startDate" (the oldest real datapoint
evaluated; absent with none),"unit" (when the alarm has one),"statistic" or "extendedStatistic","period",
"recentDatapoints" (the real values evaluated, oldest first),"threshold","evaluatedDatapoints" (the crossing
datapoints, most recent first: {"timestamp","sampleCount","value"}, or {"timestamp"} for a missing one)}.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from control_plane.alarms.states import AlarmState
from registry.model import Comparison, MissingData

if TYPE_CHECKING:
    from control_plane.alarms.evaluator import AlarmDefinition, Datapoint, Outcome

OPERATOR_TEXT = {
    Comparison.GREATER_THAN: "greater than",
    Comparison.GREATER_THAN_OR_EQUAL: "greater than or equal to",
    Comparison.LESS_THAN: "less than",
    Comparison.LESS_THAN_OR_EQUAL: "less than or equal to",
}
LISTED = 5  # from this many crossing datapoints on, the list is "the most recent datapoints": five of them


def java_double(value: float) -> str:
    """A double as Java's Double.toString writes it: plain between 10^-3 and 10^7, else d.dddE[-]n."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else f"{text}.0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    power = len(mantissa) - 1 + exponent
    return f"{'-' if sign else ''}{mantissa[0]}.{mantissa[1:] or '0'}E{power}"


def to_json(value: Any) -> str:
    """Compact JSON with doubles written the Java way (AWS's StateReasonData is Jackson's output)."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        import json

        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(to_json(v) for v in value) + "]"


def when(ts: float) -> str:
    """A datapoint's time in a reason: dd/mm/yy HH:MM:SS, UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%y %H:%M:%S")


def iso(ts: float) -> str:
    """CloudWatch's timestamp form, with milliseconds: 2026-11-25T16:10:00.512+0000."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _verb(count: int) -> str:
    return "was" if count == 1 else "were"


def crossing(points: Sequence[Datapoint], outcome: Outcome) -> list[int]:
    """Indexes of the real datapoints that crossed toward the new state, most recent first."""
    want = outcome.state is AlarmState.ALARM
    return [i for i in reversed(outcome.evaluated) if points[i].breaching is want]


def _treated(treat: MissingData) -> str:
    return "Breaching" if treat is MissingData.BREACHING else "NonBreaching"


def reason_text(alarm: AlarmDefinition, points: Sequence[Datapoint], outcome: Outcome) -> str:
    """The StateReason of a transition to `outcome.state` (see the module docstring for the forms)."""
    n = alarm.evaluation_periods
    if outcome.state is AlarmState.INSUFFICIENT_DATA:
        unknown = max(n - len(outcome.evaluated), 1)
        return f"Insufficient Data: {_plural(unknown, 'datapoint')} {_verb(unknown)} unknown."
    treated = _treated(alarm.missing_data)
    if not outcome.evaluated:
        return (f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
                f"{_plural(outcome.filled, 'missing datapoint')} {_verb(outcome.filled)} treated as [{treated}].")
    alarming = outcome.state is AlarmState.ALARM
    crossed = [points[i] for i in crossing(points, outcome)]
    listed = crossed or [points[i] for i in reversed(outcome.evaluated)]
    op = ("" if alarming else "not ") + OPERATOR_TEXT[alarm.comparison]
    threshold = java_double(alarm.threshold)
    items = ", ".join(f"{java_double(p.value or 0.0)} ({when(p.start)})" for p in listed[:LISTED])
    fills = (f" and {_plural(outcome.filled, 'missing datapoint')} {_verb(outcome.filled)} treated as [{treated}]"
             if outcome.filled else "")
    k = len(crossed)
    if alarm.datapoints_to_alarm_set:
        head = f"Threshold Crossed: {k} out of the last {n} datapoints"  # "1 out of the last 1 datapoints"
    else:
        head = f"Threshold Crossed: {_plural(k, 'datapoint')}"
    if len(listed) < LISTED:
        text = f"{head} [{items}] {_verb(len(listed))} {op} the threshold ({threshold}){fills}"
    else:
        text = (f"{head} were {op} the threshold ({threshold}){fills}. The most recent datapoints which crossed "
                f"the threshold: [{items}]")
    if alarm.datapoints_to_alarm_set:
        m = alarm.datapoints_to_alarm
        text += (f" (minimum {_plural(m, 'datapoint')} for OK -> ALARM transition)" if alarming else
                 f" (minimum {_plural(n - m + 1, 'datapoint')} for ALARM -> OK transition)")
    return text + "."


def reason_data(alarm: AlarmDefinition, points: Sequence[Datapoint], outcome: Outcome, now: float) -> str:
    """The StateReasonData JSON of the same transition, keys in AWS's order."""
    real = [points[i] for i in outcome.evaluated]  # oldest first
    data: dict[str, Any] = {"version": "1.0", "queryDate": iso(now)}
    if real:
        data["startDate"] = iso(real[0].start)
    if alarm.unit:
        data["unit"] = alarm.unit
    data["extendedStatistic" if alarm.extended else "statistic"] = alarm.statistic
    data["period"] = alarm.period
    data["recentDatapoints"] = [p.value for p in real]
    data["threshold"] = alarm.threshold
    if outcome.state is AlarmState.INSUFFICIENT_DATA:
        unknown = max(alarm.evaluation_periods - len(real), 1)
        missing = [p for p in reversed(points[-alarm.evaluation_periods:]) if p.value is None][:unknown]
        entries: list[dict[str, Any]] = [{"timestamp": iso(p.start)} for p in missing]
    else:
        want_fills = (alarm.missing_data is MissingData.BREACHING) is (outcome.state is AlarmState.ALARM)
        chosen = {i: points[i] for i in crossing(points, outcome)}
        if want_fills:
            chosen |= {i: points[i] for i in outcome.fills}
        entries = [{"timestamp": iso(p.start), "sampleCount": float(p.sample_count), "value": p.value}
                   if p.value is not None else {"timestamp": iso(p.start)}
                   for _, p in sorted(chosen.items(), reverse=True)]
    data["evaluatedDatapoints"] = entries
    return to_json(data)
