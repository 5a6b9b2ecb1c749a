"""`Threshold` and `ThresholdEvent`: announce a counter crossing a level, exactly once.

A counter *crosses* level ``L`` upward when a change takes it from ``before < L`` to
``L <= after``, and downward when it goes from ``L <= before`` to ``after < L``. The
script that changes the counter decides the crossing from the value it read and sends
the notification in the same atomic step, so racing clients can neither miss a crossing
nor announce one twice: exactly one message per crossing, however many processes push the
counter past the level at once. A counter that goes back and crosses again is announced
again.

A notification is either a ``PUBLISH`` to a channel (fire and forget: only subscribers
connected at that moment hear it) or an ``XADD`` to the counter's event stream (kept,
trimmed to about *maxlen* entries, read later with ``Counters.events`` or ``XREAD``). The
stream key shares the counter's hash tag, so it lives in the counter's slot. A channel is
not a key: on a cluster, ``PUBLISH`` reaches the subscribers of every node.

The message is JSON (``PUBLISH``) or stream fields (``XADD``) with the counter's key, the
level, the direction and the values before and after, all numbers as decimal strings so
that none loses digits past 2^53; `ThresholdEvent` reads either form back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redlua._checks import text as _text

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_CHANNEL = 512
MAX_MAXLEN = 10**9 - 1

Direction = Literal["up", "down", "both"]
Change = Literal["incr", "decr", "set"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_int(what: str, value: object, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """Return *value* if it is an int (not a bool) from *low* to *high*, else raise naming it."""
    if type(value) is int and low <= value <= high:
        return value  # the hot path
    if isinstance(value, bool) or not isinstance(value, int):
        kind = type(value).__name__
        extra = f" ({value!r}: counters hold whole numbers)" if isinstance(value, float) else ""
        raise TypeError(f"{what} must be an int, not {kind}{extra}")
    raise ValueError(f"{what} must be from {low} to {high}, got {value}")


@dataclass(frozen=True)
class Threshold:
    """Announce each time a counter crosses *level*: to *channel* (PUBLISH) or, with
    *stream*, to the counter's event stream (XADD, trimmed to about *maxlen* entries).

    *direction* picks the crossings announced: ``"up"`` (the default), ``"down"`` or
    ``"both"``. Give exactly one of *channel* and ``stream=True``::

        Threshold(900, channel="quota-alerts")            # PUBLISH when 900 is reached
        Threshold(10, stream=True, direction="down")      # XADD when it drops below 10
    """

    level: int
    channel: str | None = None
    stream: bool = False
    direction: Direction = "up"
    maxlen: int = 1000

    def __post_init__(self) -> None:
        check_int("level", self.level)
        if not isinstance(self.stream, bool):
            raise TypeError(f"stream must be a bool, not {type(self.stream).__name__}")
        if self.channel is None:
            if not self.stream:
                raise ValueError("a Threshold needs a channel (PUBLISH) or stream=True (XADD)")
        elif self.stream:
            raise ValueError("a Threshold takes a channel or stream=True, not both")
        elif not isinstance(self.channel, str):
            raise TypeError(f"channel must be a str, not {type(self.channel).__name__}")
        elif not 0 < len(self.channel) <= MAX_CHANNEL or _CONTROL.search(self.channel):
            raise ValueError(
                f"channel must be 1 to {MAX_CHANNEL} characters without control characters,"
                f" got {self.channel!r}"
            )
        if self.direction not in ("up", "down", "both"):
            raise ValueError(f"direction must be 'up', 'down' or 'both', got {self.direction!r}")
        check_int("maxlen", self.maxlen, 1, MAX_MAXLEN)

    def windows(self, change: Change, number: int) -> list[str]:
        """Return the script arguments announcing this threshold for one change.

        For an ``incr``/``decr`` by *number*, or a ``set`` to *number*, each crossing
        the change could make becomes six entries: kind, channel or maxlen, level,
        ``up``/``down``, and the range ``lo <= before < hi`` of values before the change
        for which it crosses (``""``: open). The script only compares; it needs no
        arithmetic, so every bound stays exact.
        """
        level = self.level
        kind, target = ("stream", str(self.maxlen)) if self.stream else ("publish", self.channel)
        up, down = self.direction != "down", self.direction != "up"
        out: list[str] = []
        if change == "incr" and up:  # before < level <= before + n
            out += [kind, str(target), str(level), "up", str(level - number), str(level)]
        elif change == "decr" and down:  # before - n < level <= before
            out += [kind, str(target), str(level), "down", str(level), str(level + number)]
        elif change == "set":
            if up and level <= number:  # before < level <= number
                out += [kind, str(target), str(level), "up", "", str(level)]
            if down and number < level:  # number < level <= before
                out += [kind, str(target), str(level), "down", str(level), ""]
        return out


Notify = Threshold | Sequence[Threshold] | None


def notify_args(notify: Notify, change: Change, number: int) -> tuple[list[str], bool]:
    """Return the notification arguments of one change and whether they need the stream key."""
    if notify is None:
        return [], False
    if isinstance(notify, Threshold):
        thresholds: Sequence[Any] = (notify,)
    elif isinstance(notify, Sequence) and not isinstance(notify, (str, bytes)):
        thresholds = notify
    else:
        raise TypeError(
            f"notify must be a Threshold, a sequence of them or None, not {type(notify).__name__}"
        )
    args: list[str] = []
    stream = False
    for threshold in thresholds:
        if not isinstance(threshold, Threshold):
            raise TypeError(f"notify holds a {type(threshold).__name__}, not a Threshold")
        more = threshold.windows(change, number)
        if more:
            args += more
            stream = stream or threshold.stream
    return args, stream


@dataclass(frozen=True)
class ThresholdEvent:
    """One announced crossing: the counter's *key*, the *level*, ``"up"`` or ``"down"``,
    the values *before* and *after* the change, and the stream entry *id* (None for a
    PUBLISH message)."""

    key: str
    level: int
    direction: Literal["up", "down"]
    before: int
    after: int
    id: str | None = None

    @classmethod
    def from_message(cls, data: str | bytes) -> ThresholdEvent:
        """Read the JSON payload of a PUBLISH notification (``message["data"]``)."""
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise ValueError("a threshold message is a JSON object")
        return cls._from(fields, None)

    @classmethod
    def from_entry(cls, entry_id: Any, fields: Mapping[Any, Any] | Sequence[Any]) -> ThresholdEvent:
        """Read a stream entry: its id and its fields (a mapping, or a flat field/value list)."""
        if isinstance(fields, Mapping):
            pairs = {_text(k): _text(v) for k, v in fields.items()}
        else:
            pairs = {_text(k): _text(v) for k, v in zip(fields[::2], fields[1::2], strict=True)}
        return cls._from(pairs, _text(entry_id))

    @classmethod
    def _from(cls, fields: Mapping[str, Any], entry_id: str | None) -> ThresholdEvent:
        direction = fields["direction"]
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
        return cls(
            key=str(fields["key"]),
            level=int(fields["level"]),
            direction=direction,
            before=int(fields["before"]),
            after=int(fields["after"]),
            id=entry_id,
        )
