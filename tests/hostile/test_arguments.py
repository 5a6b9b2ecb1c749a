"""Every public builder and class against hostile arguments, before any I/O.

Each *spot* is one argument of one builder, constructor or method, with the rule it must
follow. A value the rule admits must be taken; any other value must raise `TypeError` or
`ValueError` naming the argument -- on a dead engine, so a check that happens only after
I/O (or not at all) shows up as `ConnectionFailedError` instead. Numbers get bools, strings,
None, NaN, infinities, zero and below, fractions where ints are due and values past every
bound; names get empty, braced, control-character and 513-character strings, bytes and
non-strings, plus whatever Hypothesis makes of unicode. No server is needed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redlua import Engine, RetryPolicy, Sleep, Wait
from redlua.batch import BatchOps, Decr, Expire, Incr, Set, ZAdd
from redlua.counters import CounterOps, Decrement, Increment, SetValue, Threshold
from redlua.inventory import InventoryOps
from redlua.ledger import LedgerOps
from redlua.locks import Lock, LockOps, ReadWriteLock, Semaphore, fenced_set
from redlua.ratelimit import Limit, RateLimitOps
from redlua.stateful import KeySchema, LinkOps, PodRegistry, Router
from redlua.stateful import registry as pods_api
from redlua.txn import Transactions, Versioned, VersionedOps
from tests.hostile._support import (
    BAD_FLOATS,
    BAD_NAMES,
    BOOLS,
    HUGE,
    NOT_NUMBERS,
    ODD_NAMES,
    assert_named,
    dead_engine,
    refuses,
)

INT64 = 2**63
DEAD: Engine = dead_engine()
SCHEMA = KeySchema.sf("ns")


# -- rules -------------------------------------------------------------------------------------


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seconds(most_ms: int = 10**15 - 1, *, optional: bool = False) -> Callable[[object], bool]:
    """Seconds as Python speaks them: a finite number > 0, at most *most_ms* once in ms."""

    def rule(value: object) -> bool:
        if value is None:
            return optional
        if not _number(value) or not math.isfinite(value) or value <= 0:  # type: ignore[arg-type]
            return False
        scaled = value * 1000  # type: ignore[operator]
        return bool(scaled <= most_ms + 1 and max(1, round(scaled)) <= most_ms)

    return rule


def span(most: float = math.inf, *, optional: bool = False) -> Callable[[object], bool]:
    """A duration that may be 0 (timeouts, back-off bounds): finite, >= 0, at most *most*."""

    def rule(value: object) -> bool:
        if value is None:
            return optional
        return _number(value) and math.isfinite(value) and 0 <= value <= most  # type: ignore[arg-type,operator]

    return rule


def integer(low: int, high: int, *, optional: bool = False) -> Callable[[object], bool]:
    """An int (never a bool, never a float) from *low* to *high*."""

    def rule(value: object) -> bool:
        if value is None:
            return optional
        return type(value) is int and low <= value <= high

    return rule


def money(low: int) -> Callable[[object], bool]:
    """Minor units as an int from *low* to 10**15-1, or a finite Decimal of major units."""

    def rule(value: object) -> bool:
        if isinstance(value, Decimal):
            return value.is_finite() and value >= low and (low == 0 or value > 0)
        return integer(low, 10**15 - 1)(value)

    return rule


def value_arg(value: object) -> bool:
    """What Redis can store: str, bytes, an int, a finite float (never a bool)."""
    if isinstance(value, (str, bytes)):
        return True
    return _number(value) and math.isfinite(value)  # type: ignore[arg-type]


def name(
    reserved: str = "", *, empty: bool = False, optional: bool = False
) -> Callable[[object], bool]:
    """A key part: 1 to 512 characters, no braces, control characters or *reserved*."""

    def rule(value: object) -> bool:
        if value is None:
            return optional
        if not isinstance(value, str):
            return False
        if not value:
            return empty
        bad = set("{}" + reserved)
        return len(value) <= 512 and not any(
            c in bad or ord(c) < 0x20 or c == "\x7f" for c in value
        )

    return rule


@dataclass(frozen=True)
class Spot:
    """One argument of one public callable, the rule its values follow, how to call it."""

    label: str
    words: tuple[str, ...]
    call: Callable[[Any], object]
    valid: Callable[[object], bool]
    io: bool = False  # a valid value would go on to I/O: only invalid values are tried

    def __repr__(self) -> str:
        return self.label


def spot(
    label: str,
    word: str,
    call: Callable[[Any], object],
    valid: Callable[[object], bool],
    *,
    io: bool = False,
) -> Spot:
    """Build a `Spot` whose errors must name *word*."""
    return Spot(label, (word,), call, valid, io)


LOCK = LockOps()
LIMITS = RateLimitOps(Limit(10, 1))
COUNTERS = CounterOps()
LEDGER = LedgerOps("bank")
SHOP = InventoryOps("shop")
RECORDS = VersionedOps()
LINKS = LinkOps(SCHEMA)

NUMBER_SPOTS: tuple[Spot, ...] = (
    # locks
    spot("LockOps.acquire ttl", "ttl", lambda v: LOCK.acquire("n", "t", v), seconds(10**12)),
    spot(
        "LockOps.acquire longest",
        "longest",
        lambda v: LOCK.acquire("n", "t", 1, wait="will", longest=v),
        seconds(10**9 - 1),
    ),
    spot("LockOps.extend seconds", "seconds", lambda v: LOCK.extend("n", "t", v), seconds(10**12)),
    spot("Lock ttl", "ttl", lambda v: Lock(DEAD, "n", ttl=v), seconds(10**12)),
    spot(
        "Lock.acquire timeout",
        "timeout",
        lambda v: Lock(DEAD, "n").acquire(timeout=v),
        span(optional=True),
        io=True,
    ),
    spot("Semaphore limit", "limit", lambda v: Semaphore(DEAD, "s", v, 10), integer(1, 10**10 - 1)),
    spot("Semaphore ttl", "ttl", lambda v: Semaphore(DEAD, "s", 1, ttl=v), seconds()),
    spot(
        "Semaphore.acquire timeout",
        "timeout",
        lambda v: Semaphore(DEAD, "s", 1, 10).acquire(timeout=v),
        span(optional=True),
        io=True,
    ),
    spot("fenced_set token", "token", lambda v: fenced_set("{r}", "v", v), integer(0, INT64 - 1)),
    spot(
        "fenced_set ttl", "ttl", lambda v: fenced_set("{r}", "v", 1, ttl=v), seconds(optional=True)
    ),
    # rate limits
    spot("Limit limit", "limit", lambda v: Limit(v, 1), integer(1, 10**9)),
    spot(
        "Limit sliding_log limit", "limit", lambda v: Limit(v, 1, "sliding_log"), integer(1, 10**6)
    ),
    spot("Limit period", "period", lambda v: Limit(1, v), seconds(10**12)),
    spot(
        "Limit burst",
        "burst",
        lambda v: Limit(5, 1, "token_bucket", burst=v),
        integer(1, 10**9, optional=True),
    ),
    spot("RateLimitOps.hit cost", "cost", lambda v: LIMITS.hit("u", v), integer(1, 10)),
    spot("RateLimitOps.refund cost", "cost", lambda v: LIMITS.refund("u", v), integer(1, 10**9)),
    spot(
        "RateLimitOps.hit now",
        "now",
        lambda v: LIMITS.hit("u", now=v),
        span((10**15 - 1) / 1000, optional=True),
    ),
    # counters
    spot(
        "increment amount",
        "amount",
        lambda v: COUNTERS.increment_with_limit("c", v),
        integer(1, INT64 - 1),
    ),
    spot(
        "increment maximum",
        "maximum",
        lambda v: COUNTERS.increment_with_limit("c", 1, v),
        integer(0, INT64 - 1, optional=True),
    ),
    spot(
        "increment ttl",
        "ttl",
        lambda v: COUNTERS.increment_with_limit("c", ttl=v),
        seconds(optional=True),
    ),
    spot(
        "decrement amount",
        "amount",
        lambda v: COUNTERS.decrement_if_positive("c", v),
        integer(1, INT64 - 1),
    ),
    spot("set value", "value", lambda v: COUNTERS.set("c", v), integer(-INT64, INT64 - 1)),
    spot("set ttl", "ttl", lambda v: COUNTERS.set("c", 1, ttl=v), seconds(optional=True)),
    spot("events count", "count", lambda v: COUNTERS.events("c", count=v), integer(1, 10**6)),
    spot("Increment amount", "amount", lambda v: Increment("c", v), integer(1, INT64 - 1)),
    spot("Decrement amount", "amount", lambda v: Decrement("c", v), integer(1, INT64 - 1)),
    spot("SetValue value", "value", lambda v: SetValue("c", v), integer(-INT64, INT64 - 1)),
    spot(
        "Threshold level", "level", lambda v: Threshold(v, channel="ch"), integer(-INT64, INT64 - 1)
    ),
    spot(
        "Threshold maxlen",
        "maxlen",
        lambda v: Threshold(1, stream=True, maxlen=v),
        integer(1, 10**9 - 1),
    ),
    # ledger
    spot(
        "LedgerOps history_cap",
        "history_cap",
        lambda v: LedgerOps("l", history_cap=v),
        integer(1, 10**9 - 1),
    ),
    spot(
        "LedgerOps reap_batch",
        "reap_batch",
        lambda v: LedgerOps("l", reap_batch=v),
        integer(1, 9999),
    ),
    spot(
        "LedgerOps idempotency_ttl",
        "idempotency_ttl",
        lambda v: LedgerOps("l", idempotency_ttl=v),
        seconds(86_400_000),
    ),
    spot("transfer amount", "amount", lambda v: LEDGER.transfer("a", "b", v), money(1)),
    spot("hold ttl", "ttl", lambda v: LEDGER.hold("a", "b", 1, v), seconds()),
    spot("capture hold", "hold", lambda v: LEDGER.capture(v, "a", "b"), integer(1, 10**15 - 1)),
    spot("create opening", "opening", lambda v: LEDGER.create("a", "USD", opening=v), money(0)),
    spot("create scale", "scale", lambda v: LEDGER.create("a", "XYZ", scale=v), integer(0, 12)),
    spot("history limit", "limit", lambda v: LEDGER.history("a", limit=v), integer(1, 1000)),
    # inventory
    spot("InventoryOps keep", "keep", lambda v: InventoryOps("i", keep=v), seconds()),
    spot(
        "InventoryOps reap_limit",
        "reap_limit",
        lambda v: InventoryOps("i", reap_limit=v),
        integer(1, 1000),
    ),
    spot(
        "add_product stock", "stock", lambda v: SHOP.add_product("p", v, 1), integer(0, 10**15 - 1)
    ),
    spot(
        "add_product price", "price", lambda v: SHOP.add_product("p", 1, v), integer(0, 10**15 - 1)
    ),
    spot("restock qty", "qty", lambda v: SHOP.restock("p", v), integer(1, 10**12 - 1)),
    spot("reserve qty", "qty", lambda v: SHOP.reserve("p", v, "c", 60), integer(1, 10**12 - 1)),
    spot("reserve ttl", "ttl", lambda v: SHOP.reserve("p", 1, "c", v), seconds()),
    spot("reap limit", "limit", SHOP.reap, integer(1, 1000, optional=True)),
    # batches
    spot("Set ttl", "ttl", lambda v: Set("k", "v", v), seconds(optional=True)),
    spot("Set value", "value", lambda v: Set("k", v), value_arg),
    spot("Incr amount", "amount", lambda v: Incr("k", v), integer(-INT64 + 1, INT64 - 1)),
    spot("Decr amount", "amount", lambda v: Decr("k", v), integer(-INT64 + 2, INT64 - 1)),
    spot("Expire seconds", "seconds", lambda v: Expire("k", v), seconds()),
    spot(
        "ZAdd score",
        "score",
        lambda v: ZAdd("k", "m", v),
        lambda v: _number(v) and math.isfinite(v),
    ),  # type: ignore[arg-type]
    spot("BatchOps chunk", "chunk", BatchOps, integer(1, 10_000)),
    # transactions and versioned records
    spot(
        "set_if_version expected",
        "expected",
        lambda v: RECORDS.set_if_version("r", "v", v),
        integer(0, 10**15 - 1),
    ),
    spot(
        "set_if_version ttl",
        "ttl",
        lambda v: RECORDS.set_if_version("r", "v", 0, ttl=v),
        seconds(optional=True),
    ),
    spot(
        "set_if_version value",
        "value",
        lambda v: RECORDS.set_if_version("r", v, 0),
        lambda v: isinstance(v, (str, bytes)) or type(v) is int,
    ),
    spot("delete expected", "expected", lambda v: RECORDS.delete("r", v), integer(0, 10**15 - 1)),
    spot(
        "Versioned attempts", "attempts", lambda v: Versioned(DEAD, attempts=v), integer(1, 10_000)
    ),
    spot("Versioned base", "base", lambda v: Versioned(DEAD, base=v, cap=10**6), span(10**6)),
    spot(
        "Transactions attempts",
        "attempts",
        lambda v: Transactions(DEAD, attempts=v),
        integer(1, 10_000),
    ),
    # stateful
    spot(
        "set_link pod",
        "pod",
        lambda v: LINKS.set_link("u", "s", v),
        lambda v: type(v) is int and v >= 0,
    ),
    spot(
        "set_link ttl",
        "ttl",
        lambda v: LINKS.set_link("u", "s", 1, v),
        lambda v: v is None or (type(v) is int and (v == -1 or 0 < v <= 10**15 - 1)),
    ),
    spot(
        "remove_link keep",
        "keep",
        lambda v: LINKS.remove_link("u", "s", v),
        lambda v: v is None or (type(v) is int and -1 <= v <= 10**15 - 1),
    ),
    spot(
        "heartbeat load",
        "load",
        lambda v: pods_api.heartbeat(SCHEMA, "s", 0, v, incarnation="i", lease=60),
        integer(0, 10**15 - 1),
    ),
    spot(
        "heartbeat capacity",
        "capacity",
        lambda v: pods_api.heartbeat(SCHEMA, "s", 0, 0, capacity=v, incarnation="i", lease=60),
        integer(0, 10**15 - 1, optional=True),
    ),
    spot(
        "heartbeat lease",
        "lease",
        lambda v: pods_api.heartbeat(SCHEMA, "s", 0, 0, incarnation="i", lease=v),
        seconds(),
    ),
    spot(
        "reserve n",
        "n",
        lambda v: pods_api.reserve(SCHEMA, "s", 0, v),
        integer(-(10**15) + 1, 10**15 - 1),
    ),
    spot("pods expire", "expire", lambda v: pods_api.pods(SCHEMA, "s", expire=v), seconds()),
    spot(
        "PodRegistry capacity",
        "capacity",
        lambda v: PodRegistry(DEAD, SCHEMA, "s", 0, capacity=v),
        integer(0, 10**15 - 1, optional=True),
    ),
    spot(
        "PodRegistry period",
        "period",
        lambda v: PodRegistry(DEAD, SCHEMA, "s", 0, period=v, expire=10**9),
        seconds(10**12 - 1),
    ),
    spot(
        "Router temp_ttl",
        "temp_ttl",
        lambda v: Router(DEAD, SCHEMA, temp_ttl=v),
        lambda v: type(v) is int and v > 0,
    ),
    spot(
        "Router dead_grace",
        "dead_grace",
        lambda v: Router(DEAD, SCHEMA, dead_grace=v),
        lambda v: span()(v) and v != 0,
    ),
    # the engine's own values
    spot("Sleep seconds", "seconds", Sleep, span()),
    spot("Wait seconds", "seconds", lambda v: Wait(("k",), v), lambda v: span()(v) and v != 0),
    spot("RetryPolicy deadline", "deadline", lambda v: RetryPolicy(deadline=v), span()),
    spot("RetryPolicy base", "base", lambda v: RetryPolicy(base=v), span()),
    spot("RetryPolicy cap", "cap", lambda v: RetryPolicy(cap=v), span()),
    spot("RetryPolicy reloads", "reloads", lambda v: RetryPolicy(reloads=v), integer(0, 2**200)),
)

NAME_SPOTS: tuple[Spot, ...] = (
    spot("Lock name", "name", lambda v: Lock(DEAD, v), name()),
    spot("LockOps prefix", "prefix", LockOps, name(empty=True)),
    spot("LockOps.acquire name", "name", lambda v: LOCK.acquire(v, "t", 1), name()),
    spot("Semaphore name", "name", lambda v: Semaphore(DEAD, v, 1, 10), name()),
    spot("ReadWriteLock name", "name", lambda v: ReadWriteLock(DEAD, v, 10), name()),
    spot("Limit name", "name", lambda v: Limit(1, 1, name=v), name(":", optional=True)),
    spot(
        "RateLimitOps prefix",
        "prefix",
        lambda v: RateLimitOps(Limit(1, 1), prefix=v),
        name(empty=True),
    ),
    spot("hit identity", "identity", LIMITS.hit, name()),
    spot("hit tag", "tag", lambda v: LIMITS.hit("u", tag=v), name(optional=True)),
    spot("counter name", "name", COUNTERS.get, name()),
    spot("CounterOps group", "group", lambda v: CounterOps(group=v), name(optional=True)),
    spot("Increment name", "name", Increment, name()),
    spot("ledger", "ledger", LedgerOps, name()),
    spot("create account", "account", lambda v: LEDGER.create(v, "USD"), name()),
    spot(  # the destination is "b": a source "b" is refused as the same account
        "transfer src",
        "src",
        lambda v: LEDGER.transfer(v, "b", 1),
        lambda v: v != "b" and name()(v),
    ),
    spot("inventory name", "name", InventoryOps, name()),
    spot("add_product product", "product", lambda v: SHOP.add_product(v, 1, 1), name()),
    spot("reserve customer", "customer", lambda v: SHOP.reserve("p", 1, v, 60), name()),
    spot("versioned name", "name", RECORDS.get, name()),
    spot("VersionedOps prefix", "prefix", VersionedOps, name(empty=True)),
    spot("KeySchema.sf namespace", "namespace", KeySchema.sf, name()),
    spot(
        "link uid",
        "uid",
        lambda v: LINKS.get_link(v, "s"),
        lambda v: name()(v) or (type(v) is int and v >= 0),
    ),
    spot("link service", "service", lambda v: LINKS.get_link("u", v), name("#")),
    spot("heartbeat service", "service", lambda v: pods_api.pods(SCHEMA, v, expire=60), name("#")),
)


def shaped(pattern: str) -> Callable[[object], bool]:
    """An identifier of a fixed shape (reservation ids, permits, incarnations)."""
    compiled = re.compile(pattern)
    return lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None


def token(value: object) -> bool:
    """A lock token: 1 to 256 characters, no spaces and no control characters."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 256
        and not any(c == " " or ord(c) < 0x20 or c == "\x7f" for c in value)
    )


SHAPE_SPOTS: tuple[Spot, ...] = (
    spot("LockOps.acquire token", "token", lambda v: LOCK.acquire("n", v, 1), token),
    spot("reserve reservation", "reservation", lambda v: SHOP.reserve("p", 1, "c", 60, reservation=v), lambda v: v is None or shaped(r"[A-Za-z0-9_-]{1,64}")(v)),
    spot("confirm reservation", "reservation", SHOP.confirm, shaped(r"[A-Za-z0-9_-]{1,64}")),
    spot("Semaphore.release permit", "permit", lambda v: Semaphore(DEAD, "s", 1, 10).release(v), shaped(r"[A-Za-z0-9_-]{1,64}"), io=True),
    spot("ReadWriteLock.release holder", "holder", lambda v: ReadWriteLock(DEAD, "d", 10).release("read", v), shaped(r"[A-Za-z0-9_-]{1,64}"), io=True),
    spot("ReadWriteLock.acquire mode", "mode", lambda v: ReadWriteLock(DEAD, "d", 10).acquire(v, blocking=False), lambda v: v in ("read", "write"), io=True),
    spot("heartbeat incarnation", "incarnation", lambda v: pods_api.heartbeat(SCHEMA, "s", 0, 0, incarnation=v, lease=60), shaped(r"[A-Za-z0-9_-]{1,64}")),
    spot("create currency", "currency", lambda v: LEDGER.create("a", v, scale=2), shaped(r"[A-Z][A-Z0-9]{2,11}")),
    spot("history before", "before", lambda v: LEDGER.history("a", before=v), lambda v: v is None or shaped(r"[0-9]+-[0-9]+")(v)),
    spot("events after", "after", lambda v: COUNTERS.events("c", after=v), shaped(r"[0-9]{1,20}-[0-9]{1,20}")),
    spot("Threshold channel", "channel", lambda v: Threshold(1, channel=v), lambda v: isinstance(v, str) and 0 < len(v) <= 512 and not any(ord(c) < 0x20 or c == "\x7f" for c in v)),
)  # fmt: skip


NUMBER_PROBES: tuple[Any, ...] = (
    *NOT_NUMBERS, *BOOLS, *BAD_FLOATS, -1, 0, 1, 2, 0.5, 1.5, 3.0, -2.5, 1e-9, 10**5, 10**9,
    10**12, 10**15, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**20, 1e300, -1e300,
)  # fmt: skip
"""The fixed values every numeric spot is tried with (Hypothesis adds random ones)."""

NAME_PROBES: tuple[Any, ...] = (*BAD_NAMES, *ODD_NAMES, 7, "a:b", "a#b", "x" * 513)

SHAPE_PROBES: tuple[Any, ...] = (
    *NAME_PROBES, "abc-DEF_123", "USD", "usd", "X" * 13, "0-0", "12-3", "1-", "-1", "a b",
    "x" * 64, "x" * 65, "x" * 256, "x" * 257, "\u0661\u0662-\u0663", "\uff11\uff12-\uff13",
)  # fmt: skip

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NUMBER_PROBES),
)
texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.text(st.sampled_from("ab{}:#\x00\n\x7f é😀"), max_size=12),
    st.sampled_from(NAME_PROBES),
)


def _xfail(spot: Spot, reason: str) -> Any:
    return pytest.param(spot, marks=pytest.mark.xfail(strict=True, reason=reason), id=spot.label)


def check(spot: Spot, value: object) -> None:
    """Call *spot* with *value*: taken if the rule admits it, else a named TypeError/ValueError."""
    if spot.valid(value):
        if spot.io:
            return
        try:
            spot.call(value)
        except (TypeError, ValueError) as exc:  # pragma: no cover - the failure message
            pytest.fail(f"{spot.label}: {value!r} is valid but was refused: {exc}")
        return
    try:
        spot.call(value)
    except (TypeError, ValueError) as exc:
        assert_named(exc, *spot.words)
    except Exception as exc:  # noqa: BLE001 - any other error is the finding
        pytest.fail(f"{spot.label}: {value!r} gave {type(exc).__name__}: {exc}")
    else:
        pytest.fail(f"{spot.label}: {value!r} was accepted")


def _cases(spots: Iterable[Spot], known: dict[str, str]) -> list[Any]:
    return [
        _xfail(s, known[s.label]) if s.label in known else pytest.param(s, id=s.label)
        for s in spots
    ]


KNOWN_NUMBER_BUGS: dict[str, str] = {}


@pytest.mark.parametrize("spot", _cases(NUMBER_SPOTS, KNOWN_NUMBER_BUGS))
def test_numbers_fixed_probes(spot: Spot) -> None:
    """Each numeric argument takes what its rule admits and refuses the rest, naming itself."""
    for value in NUMBER_PROBES:
        check(spot, value)


@pytest.mark.parametrize("spot", _cases(NAME_SPOTS, {}))
def test_names_fixed_probes(spot: Spot) -> None:
    """Each name argument takes any key part and refuses braces, control characters, '' and 513 chars."""
    for value in NAME_PROBES:
        check(spot, value)


@pytest.mark.parametrize("spot", _cases(SHAPE_SPOTS, {}))
def test_shaped_identifiers_fixed_probes(spot: Spot) -> None:
    """Tokens, reservation ids, permits, currencies and cursors keep to their documented shape."""
    for value in SHAPE_PROBES:
        check(spot, value)


@settings(max_examples=400, deadline=None, database=None)
@given(st.sampled_from([s for s in NUMBER_SPOTS if s.label not in KNOWN_NUMBER_BUGS]), numbers)
def test_numbers_random(spot: Spot, value: object) -> None:
    """Random ints, floats (NaN and infinities too) follow each numeric argument's rule."""
    check(spot, value)


@settings(max_examples=400, deadline=None, database=None)
@given(st.sampled_from(NAME_SPOTS), texts)
def test_names_random(spot: Spot, value: object) -> None:
    """Random unicode text follows each name argument's rule."""
    check(spot, value)


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(SHAPE_SPOTS), texts)
def test_shaped_identifiers_random(spot: Spot, value: object) -> None:
    """Random unicode text follows each shaped identifier's rule."""
    check(spot, value)


# -- collections and twins ---------------------------------------------------------------------


def test_malformed_batches_are_refused_by_position() -> None:
    """Batch items that are not operations name their place; nothing is built."""
    batch = BatchOps()
    for ops, words in (
        ([("set", "k")], ("ops[0]",)),
        ([Set("k", 1), ("nope", "k")], ("ops[1]", "unknown")),
        ([Set("k", 1), "set k 1"], ("ops[1]",)),
        ([("incr", "k", 1.5)], ("ops[0]", "amount")),
        ([("set", "k", float("nan"))], ("ops[0]", "value")),
        ([("expire", "k", 0)], ("ops[0]", "seconds")),
        ([None], ("ops[0]",)),
        ([()], ("ops[0]",)),
    ):
        refuses(partial(batch.process, ops), *words)
    refuses(partial(batch.bulk_set, [("k", "v")]), "mapping")
    refuses(partial(batch.bulk_get, "k"), "keys")
    refuses(partial(batch.update_all, {"{a}1": 1, "{b}2": 2}), "slot")
    refuses(partial(batch.update_all, {"k": 1}, require_existing=1), "require_existing")
    refuses(partial(COUNTERS.batch, [Increment("a"), Increment("a")]), "twice")
    refuses(partial(COUNTERS.batch, [("incr", "a")]), "changes[0]")
    refuses(partial(COUNTERS.batch, [Increment("a"), Increment("b")], all_or_nothing=True), "slot")
    refuses(partial(COUNTERS.increment_with_limit, "c", notify="alerts"), "notify")
    refuses(
        partial(COUNTERS.increment_with_limit, "c", notify=[Threshold(1, channel="c"), 5]), "notify"
    )
    refuses(partial(SHOP.reserve_many, {}, "c", 60), "items")
    refuses(partial(SHOP.reserve_many, [("p", 1)], "c", 60), "items")
    refuses(partial(RateLimitOps), "Limit")
    refuses(partial(RateLimitOps, Limit(1, 1), Limit(1, 1)), "named")
    refuses(partial(RateLimitOps, "10/s"), "Limit")
    refuses(partial(LEDGER.transfer, "a", "a", 1), "src")
    refuses(partial(LINKS.batch_get, "u1", "s"), "uids")


def test_async_twins_check_the_same_way() -> None:
    """The asyncio classes refuse the same bad names and numbers before any I/O."""
    import redis.asyncio

    from redlua import AsyncEngine
    from redlua.counters import AsyncCounters
    from redlua.inventory import AsyncInventory
    from redlua.ledger import AsyncLedger
    from redlua.locks import AsyncLock, AsyncReadWriteLock, AsyncSemaphore
    from redlua.ratelimit import AsyncRateLimiter
    from redlua.stateful import AsyncLinks
    from redlua.txn import AsyncVersioned

    dead = AsyncEngine(redis.asyncio.Redis(unix_socket_path="/nonexistent/redlua.sock"))
    refuses(partial(AsyncLock, dead, "{x}"), "name")
    refuses(partial(AsyncLock, dead, "x", ttl=0), "ttl")
    refuses(partial(AsyncSemaphore, dead, "s", True, 10), "limit")
    refuses(partial(AsyncReadWriteLock, dead, "d{", 10), "name")
    refuses(partial(AsyncRateLimiter, dead, Limit(1, 1), prefix="{p}"), "prefix")
    refuses(partial(AsyncCounters, dead, group="a\nb"), "group")
    refuses(partial(AsyncInventory, dead, "shop", reap_limit=0), "reap_limit")
    refuses(
        partial(
            AsyncLedger,
            dead,
            "",
        ),
        "ledger",
    )
    refuses(partial(AsyncLinks, dead, "sf"), "schema")
    refuses(partial(AsyncVersioned, dead, attempts=1.5), "attempts")


# -- Decimals (money) --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, database=None)
@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_ledger_amounts_as_decimals(amount: Decimal) -> None:
    """A Decimal amount is taken when finite, > 0 and within 15 digits; else a named ValueError."""
    try:
        LEDGER.transfer("a", "b", amount)
    except ValueError as exc:
        assert_named(exc, "amount")
        assert (
            not amount.is_finite()
            or amount <= 0
            or abs(amount) >= 10**15
            or amount.as_tuple().exponent < -12
        )  # type: ignore[operator]
    else:
        assert amount.is_finite() and amount > 0


def test_floats_are_never_money() -> None:
    """Floats, bools and strings are refused as money with a TypeError naming the argument."""
    for value in (0.1, 1.0, True, "1.00", None):
        for build, word in (
            (lambda v: LEDGER.transfer("a", "b", v), "amount"),
            (lambda v: LEDGER.create("a", "USD", opening=v), "opening"),
            (lambda v: LEDGER.create("a", "USD", overdraft=v), "overdraft"),
            (lambda v: LEDGER.hold("a", "b", v, 60), "amount"),
        ):
            with pytest.raises(TypeError) as info:
                build(value)
            assert_named(info.value, word)


# -- numbers past the float range -------------------------------------------------------------

SECONDS_SPOTS = [s for s in NUMBER_SPOTS if s.label in {
    "LockOps.acquire ttl", "Lock ttl", "Semaphore ttl", "ReadWriteLock ttl", "fenced_set ttl",
    "Limit period",
    "increment ttl", "hold ttl", "InventoryOps keep", "reserve ttl", "Set ttl", "Expire seconds",
    "set_if_version ttl", "heartbeat lease", "pods expire",
}]  # fmt: skip


def test_seconds_past_the_float_range_are_refused_by_name() -> None:
    """An int number of seconds beyond any float (10**400) raises ValueError naming the argument."""
    spots = [
        *SECONDS_SPOTS,
        *(
            s
            for s in NUMBER_SPOTS
            if s.label in {"ZAdd score", "Sleep seconds", "Wait seconds", "RateLimitOps.hit now"}
        ),
    ]
    failures = []
    for one in spots:
        try:
            one.call(HUGE)
        except ValueError as exc:
            if not any(word in str(exc) for word in one.words):
                failures.append(f"{one.label}: {exc}")
        except Exception as exc:  # noqa: BLE001 - collected
            failures.append(f"{one.label}: {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{one.label}: accepted")
    assert failures == []


def test_versioned_tombstone_errors_name_the_argument() -> None:
    """A tombstone that is no number raises an error naming ``tombstone``."""
    for value in (None, [1], "abc"):
        with pytest.raises((TypeError, ValueError)) as info:
            VersionedOps(tombstone=value)  # type: ignore[arg-type]
        assert_named(info.value, "tombstone")


def test_lone_surrogates_are_refused_by_name() -> None:
    """A name holding a lone surrogate (not encodable as UTF-8) raises ValueError naming it."""
    for one in NAME_SPOTS:
        if one.label in ("LockOps prefix", "RateLimitOps prefix", "VersionedOps prefix"):
            continue
        assert isinstance(refuses(partial(one.call, "a\ud800b"), *one.words), ValueError)
