"""`Ledger` and `AsyncLedger` on real servers: accounts, transfers, holds, history, checks."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from redlua import (
    Call,
    CorruptDataError,
    InvalidArgumentError,
    OutcomeUnknownError,
    Sleep,
    key_slot,
)
from redlua._registry import load_script
from redlua.ledger import (
    AccountExistsError,
    AccountInactiveError,
    AccountNotEmptyError,
    AccountNotFoundError,
    AccountRef,
    CrossLedgerError,
    CurrencyMismatchError,
    Hold,
    HoldNotFoundError,
    HoldNotPendingError,
    IdempotencyConflictError,
    InsufficientFundsError,
    LedgerCore,
    LedgerOps,
    Transfer,
)
from redlua.ledger.ledger import RESENDS, resent
from tests.ledger import history_sum, make_ledger, snapshot

LUA = Path(__file__).resolve().parents[2] / "src" / "redlua" / "lua"
BASE = "redlua:ledger:{bank}"


@pytest.fixture
def bank(engine: Any) -> Any:
    """Ledger "bank" with alice (100.00 USD), bob (0 USD) and carol (5 000 JPY)."""
    ledger = make_ledger(engine)
    ledger.create("alice", "USD", opening=Decimal("100.00"))
    ledger.create("bob", "USD")
    ledger.create("carol", "JPY", opening=5000)
    return ledger


# -- accounts ----------------------------------------------------------------------------------


def test_create_and_info_in_minor_and_major_units(engine: Any) -> None:
    """create stores minor units with the currency's scale; info reads them back both ways."""
    ledger = make_ledger(engine)
    made = ledger.create("alice", "USD", opening=Decimal("12.34"), overdraft=500)
    assert (made.balance, made.scale, made.overdraft, made.status) == (1234, 2, 500, "active")
    info = ledger.info("alice")
    assert info == made
    assert info.balance_decimal == Decimal("12.34") and info.available_decimal == Decimal("17.34")
    assert info.to_minor(Decimal("0.5")) == 50
    assert abs(info.created - time.time()) < 5
    assert ledger.balance("alice") == 1234
    points = ledger.create("p", "POINTS", scale=0, status="frozen")
    assert (points.currency, points.scale, points.status) == ("POINTS", 0, "frozen")
    with pytest.raises(AccountExistsError, match="alice"):
        ledger.create("alice", "EUR")
    with pytest.raises(AccountNotFoundError, match="nobody"):
        ledger.info("nobody")
    with pytest.raises(AccountNotFoundError):
        ledger.balance("nobody")


def test_an_opening_balance_is_an_entry_in_history_and_audit(engine: Any, r: redis.Redis) -> None:
    """A non-zero opening balance is written as an "open" entry; a zero one writes nothing."""
    ledger = make_ledger(engine)
    ledger.create("alice", "EUR", opening=Decimal("7.00"))
    ledger.create("bob", "EUR")
    [entry] = ledger.history("alice").entries
    assert (entry.kind, entry.delta, entry.balance, entry.peer) == ("open", 700, 700, "")
    [audit] = ledger.audit().entries
    assert (audit.kind, audit.src, audit.dst, audit.amount) == ("open", "", "alice", 700)
    assert ledger.history("bob").entries == [] and not r.exists(f"{BASE}:history:bob")


def test_bad_account_input_is_refused_before_any_io(engine: Any, r: redis.Redis) -> None:
    """Floats, too many decimals, unknown codes, bad statuses and names raise before I/O."""
    ledger = make_ledger(engine)
    before = snapshot(r)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"opening": 1.5}, TypeError, "opening must be an int"),
        ({"opening": Decimal("1.234")}, ValueError, "3 decimal places"),
        ({"opening": -1}, ValueError, "opening must be >= 0"),
        ({"overdraft": Decimal("-1")}, ValueError, "overdraft must be >= 0"),
        ({"status": "closed"}, ValueError, "status"),
        ({"scale": 3}, ValueError, "USD has scale 2"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            ledger.create("alice", "USD", **kwargs)
    with pytest.raises(ValueError, match="no known scale"):
        ledger.create("alice", "XTS")
    with pytest.raises(ValueError, match="would make keys collide"):
        ledger.create("a{b}", "USD")
    with pytest.raises(TypeError, match="account must be a str"):
        ledger.create(7, "USD")
    with pytest.raises(ValueError, match="would make keys collide"):
        make_ledger(engine, "b{a}nk")
    assert snapshot(r) == before


def test_freeze_unfreeze_and_close(bank: Any) -> None:
    """Frozen accounts neither send nor receive; only an empty account closes, for good."""
    assert bank.freeze("bob") is True and bank.freeze("bob") is False
    with pytest.raises(AccountInactiveError, match='"bob" is frozen'):
        bank.transfer("alice", "bob", 1)
    assert bank.unfreeze("bob") is True and bank.unfreeze("bob") is False
    bank.transfer("alice", "bob", 100)
    with pytest.raises(AccountNotEmptyError, match="balance of 100"):
        bank.close("bob")
    bank.transfer("bob", "alice", 100)
    assert bank.close("bob") is True and bank.close("bob") is False
    assert bank.info("bob").status == "closed"
    for action in (bank.freeze, bank.unfreeze):
        with pytest.raises(AccountInactiveError, match="closed"):
            action("bob")
    with pytest.raises(AccountInactiveError, match='"bob" is closed'):
        bank.transfer("alice", "bob", 1)
    with pytest.raises(AccountExistsError):
        bank.create("bob", "USD")  # a closed id is never reused
    with pytest.raises(AccountNotFoundError):
        bank.freeze("nobody")


def test_close_waits_for_pending_holds(bank: Any) -> None:
    """An account with a pending hold does not close; once the hold is voided it does."""
    bank.create("dave", "USD", opening=10)
    hold = bank.hold("dave", "alice", 10, ttl=60)
    with pytest.raises(AccountNotEmptyError, match="balance of 10 and 10 held"):
        bank.close("dave")
    bank.capture(hold)
    assert bank.close("dave") is True
    bank.create("erin", "USD", overdraft=50)
    hold = bank.hold("erin", "alice", 20, ttl=60)
    with pytest.raises(AccountNotEmptyError, match="20 held"):
        bank.close("erin")
    bank.void(hold)
    assert bank.close("erin") is True


# -- transfers ---------------------------------------------------------------------------------


def test_transfer_moves_money_with_one_entry_per_account(bank: Any, r: redis.Redis) -> None:
    """One transfer: both balances change, one entry each and one audit entry, one id."""
    done = bank.transfer("alice", "bob", Decimal("12.50"), memo="rent")
    assert isinstance(done, Transfer)
    assert (done.amount, done.src_balance, done.dst_balance, done.replayed) == (
        1250, 8750, 1250, False,
    )  # fmt: skip
    assert abs(done.at - time.time()) < 5
    assert (bank.balance("alice"), bank.balance("bob")) == (8750, 1250)
    out, into = bank.history("alice").entries[0], bank.history("bob").entries[0]
    assert out.transfer == into.transfer == done.id
    assert (out.delta, out.balance, out.peer, out.memo) == (-1250, 8750, "bob", "rent")
    assert (into.delta, into.balance, into.peer, into.kind) == (1250, 1250, "alice", "transfer")
    audit = bank.audit().entries[0]
    assert (audit.transfer, audit.src, audit.dst, audit.amount, audit.memo) == (
        done.id, "alice", "bob", 1250, "rent",
    )  # fmt: skip
    assert history_sum(r, "bank", "alice") == (8750, 2)
    second = bank.transfer("alice", "bob", 1)
    assert second.id > done.id  # ids from the ledger's counter, never from the clock


def test_decimal_amounts_use_the_accounts_scale(bank: Any, r: redis.Redis) -> None:
    """A Decimal is converted with the currency's scale in the script; extra places are refused."""
    bank.create("dan", "JPY")
    assert bank.transfer("carol", "dan", Decimal("250")).amount == 250
    before = snapshot(r)
    with pytest.raises(InvalidArgumentError, match="amount in JPY has 1 decimal places"):
        bank.transfer("carol", "dan", Decimal("2.5"))
    with pytest.raises(InvalidArgumentError, match="amount in USD has 3 decimal places"):
        bank.transfer("alice", "bob", Decimal("0.001"))
    assert snapshot(r) == before
    assert bank.transfer("alice", "bob", Decimal("0.010")).amount == 1  # trailing zeros are fine
    assert bank.balance("bob") == 1


def test_bad_transfers_raise_clear_errors_and_write_nothing(bank: Any, r: redis.Redis) -> None:
    """Zero, negative, float amounts, unknown accounts, mismatches, overdrafts: errors, no writes."""
    bank.create("frozen", "USD", status="frozen")
    before = snapshot(r)
    python_side: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
        (("alice", "bob", 0), {}, ValueError, "amount must be from 1"),
        (("alice", "bob", -5), {}, ValueError, "amount must be from 1"),
        (("alice", "bob", Decimal("-1.00")), {}, ValueError, "amount must be a finite Decimal > 0"),
        (("alice", "bob", 1.5), {}, TypeError, "not float"),
        (("alice", "bob", True), {}, TypeError, "not bool"),
        (("alice", "bob", "10"), {}, TypeError, "not str"),
        (("alice", "alice", 5), {}, ValueError, "different accounts"),
        (("alice", "bob", 5), {"memo": "x" * 257}, ValueError, "memo"),
        (("alice", "bob", 5), {"idempotency_key": "a{b}"}, ValueError, "idempotency_key"),
        (("alice", "b}ob", 5), {}, ValueError, "dst"),
    ]
    for args, kwargs, error, message in python_side:
        with pytest.raises(error, match=message):
            bank.transfer(*args, **kwargs)
    script_side: list[tuple[tuple[Any, ...], type[Exception], str]] = [
        (("alice", "nobody", 5), AccountNotFoundError, '"nobody" does not exist'),
        (("nobody", "alice", 5), AccountNotFoundError, '"nobody" does not exist'),
        (
            ("alice", "carol", 5),
            CurrencyMismatchError,
            'alice" holds USD, account "carol" holds JPY',
        ),
        (("alice", "bob", 10_001), InsufficientFundsError, "has 10000 available"),
        (("alice", "bob", Decimal("100.01")), InsufficientFundsError, "needs 10001"),
        (("alice", "frozen", 5), AccountInactiveError, "frozen"),
        (("alice", "bob", Decimal("0.001")), InvalidArgumentError, "decimal places"),
    ]
    for args, error, message in script_side:
        with pytest.raises(error, match=re.escape(message)):
            bank.transfer(*args, idempotency_key="k")
    assert snapshot(r) == before
    assert bank.transfer("alice", "bob", 5, idempotency_key="k").replayed is False


def test_the_overdraft_limit_is_the_floor(bank: Any) -> None:
    """An account may go down to minus its overdraft limit, not one unit further."""
    bank.create("credit", "USD", overdraft=Decimal("50.00"))
    assert bank.transfer("credit", "bob", 5000).src_balance == -5000
    with pytest.raises(InsufficientFundsError, match="has 0 available"):
        bank.transfer("credit", "bob", 1)
    info = bank.info("credit")
    assert (info.balance, info.available, info.balance_decimal) == (-5000, 0, Decimal("-50.00"))


def test_idempotent_replay_returns_the_first_result(bank: Any, r: redis.Redis) -> None:
    """A replayed key returns the first Transfer and moves nothing; its record has the TTL."""
    first = bank.transfer("alice", "bob", 300, idempotency_key="order-1", memo="m")
    again = bank.transfer("alice", "bob", Decimal("3.00"), idempotency_key="order-1")
    assert again == first._replace(replayed=True)
    assert (bank.balance("alice"), bank.balance("bob")) == (9700, 300)
    assert len(bank.audit().entries) == 3  # two openings and one transfer
    assert 86_390_000 < r.pttl(f"{BASE}:idem:order-1") <= 86_400_000
    for args in (("alice", "bob", 301), ("bob", "alice", 300)):
        with pytest.raises(IdempotencyConflictError, match="transfer of 300"):
            bank.transfer(*args, idempotency_key="order-1")
    with pytest.raises(IdempotencyConflictError):
        bank.hold("alice", "bob", 300, 60, idempotency_key="order-1")
    assert bank.transfer("alice", "bob", 300, idempotency_key="order-2").replayed is False


def test_idempotency_records_expire_after_their_ttl(engine: Any, r: redis.Redis) -> None:
    """With idempotency_ttl=0.1 s the key is gone after it, and the same key moves money again."""
    ledger = make_ledger(engine, idempotency_ttl=0.1, hold_retention=0.1)
    ledger.create("a", "USD", opening=10)
    ledger.create("b", "USD")
    ledger.transfer("a", "b", 1, idempotency_key="k")
    assert 0 < r.pttl(f"{BASE}:idem:k") <= 100
    time.sleep(0.15)
    assert ledger.transfer("a", "b", 1, idempotency_key="k").replayed is False
    assert ledger.balance("b") == 2


def test_accounts_of_another_ledger_are_refused_before_io(bank: Any, r: redis.Redis) -> None:
    """A transfer between ledgers raises CrossLedgerError naming the saga, before any I/O."""
    before = snapshot(r)
    other = AccountRef("other", "alice")
    with pytest.raises(CrossLedgerError, match="saga"):
        bank.transfer("alice", other, 1)
    with pytest.raises(CrossLedgerError, match="saga"):
        bank.hold(other, "bob", 1, 60)
    with pytest.raises(CrossLedgerError, match="belongs to ledger 'other'"):
        bank.info(other)
    assert snapshot(r) == before
    assert bank.transfer(bank.account("alice"), AccountRef("bank", "bob"), 1).amount == 1


# -- history and audit -------------------------------------------------------------------------


def test_history_pages_newest_first(bank: Any) -> None:
    """Pages of 4 walk the whole history newest first, with no gap or repeat."""
    for amount in range(1, 11):
        bank.transfer("alice", "bob", amount)
    seen, before = [], None
    while True:
        page = bank.history("bob", limit=4, before=before)
        seen += [e.delta for e in page.entries]
        if page.next is None:
            break
        before = page.next
    assert seen == list(range(10, 0, -1))
    assert [e.balance for e in bank.history("bob", limit=2).entries] == [55, 45]
    with pytest.raises(ValueError, match="limit"):
        bank.history("bob", limit=0)
    with pytest.raises(ValueError, match="cursor"):
        bank.history("bob", before="yesterday")
    with pytest.raises(AccountNotFoundError):
        bank.history("nobody")


def test_history_and_audit_keep_at_least_their_cap(engine: Any, r: redis.Redis) -> None:
    """With caps of 5 the streams keep at least 5 newest entries and are trimmed near the cap."""
    ledger = make_ledger(engine, history_cap=5, audit_cap=5)
    ledger.create("a", "USD", opening=10_000)
    ledger.create("b", "USD")
    for _ in range(400):
        ledger.transfer("a", "b", 1)
    for key in (f"{BASE}:history:a", f"{BASE}:history:b", f"{BASE}:audit"):
        assert 5 <= r.xlen(key) <= 5 + 100, key  # MAXLEN ~ trims whole nodes of ~100
    assert [e.balance for e in ledger.history("b", limit=5).entries] == [400, 399, 398, 397, 396]
    assert ledger.audit(limit=1).entries[0].transfer == 401


# -- holds -------------------------------------------------------------------------------------


def test_a_hold_reserves_and_a_capture_moves_it_once(bank: Any, r: redis.Redis) -> None:
    """A hold lowers available funds, not the balance; a capture moves it; a re-capture replays."""
    hold = bank.hold("alice", "bob", Decimal("30.00"), ttl=60, memo="order")
    assert isinstance(hold, Hold)
    assert (hold.amount, hold.state, hold.replayed) == (3000, "pending", False)
    assert 59 < hold.expires_at - time.time() <= 60.5
    info = bank.info("alice")
    assert (info.balance, info.held, info.available) == (10000, 3000, 7000)
    with pytest.raises(InsufficientFundsError, match="7000 available"):
        bank.transfer("alice", "bob", 7001)
    done = bank.capture(hold)
    assert (done.amount, done.src_balance, done.dst_balance, done.replayed) == (
        3000, 7000, 3000, False,
    )  # fmt: skip
    assert bank.capture(hold.id) == done._replace(replayed=True)
    assert bank.info("alice").held == 0
    captured = bank.hold_info(hold.id)
    assert (captured.state, captured.transfer, captured.memo) == ("captured", done.id, "order")
    [entry] = bank.history("bob").entries
    assert (entry.kind, entry.transfer, entry.memo) == ("capture", done.id, "order")
    assert bank.audit().entries[0].hold == hold.id
    with pytest.raises(HoldNotPendingError, match="captured"):
        bank.void(hold)
    assert not r.zcard(f"{BASE}:holds:pending") and r.zcard(f"{BASE}:holds:finished") == 1


def test_a_void_gives_the_amount_back_once(bank: Any) -> None:
    """A void frees the held amount; voiding again changes nothing; a capture then is refused."""
    hold = bank.hold("alice", "bob", 4000, ttl=60)
    voided = bank.void(hold.id)
    assert (voided.state, voided.replayed) == ("voided", False)
    assert bank.void(hold) == voided._replace(replayed=True)
    assert bank.info("alice").available == 10000
    with pytest.raises(HoldNotPendingError, match="voided"):
        bank.capture(hold)
    with pytest.raises(HoldNotFoundError):
        bank.void(999)
    with pytest.raises(HoldNotFoundError):
        bank.capture(999)
    assert (bank.balance("alice"), bank.balance("bob")) == (10000, 0)


def test_holds_check_like_transfers_and_write_nothing_on_error(bank: Any, r: redis.Redis) -> None:
    """A hold on missing funds, a mismatch or a bad ttl raises and writes nothing."""
    before = snapshot(r)
    with pytest.raises(InsufficientFundsError):
        bank.hold("alice", "bob", 10_001, ttl=60)
    with pytest.raises(CurrencyMismatchError):
        bank.hold("alice", "carol", 1, ttl=60)
    with pytest.raises(ValueError, match="ttl"):
        bank.hold("alice", "bob", 1, ttl=0)
    with pytest.raises(TypeError, match="ttl"):
        bank.hold("alice", "bob", 1, ttl="1")
    with pytest.raises(ValueError, match="hold must be from 1"):
        bank.void(0)
    with pytest.raises(TypeError, match="hold must be an int"):
        bank.hold_info("7")
    assert snapshot(r) == before


def test_an_expired_hold_returns_its_amount_exactly_once(bank: Any, r: redis.Redis) -> None:
    """A due hold is released by the next transfer's reaper, once; it cannot be captured."""
    hold = bank.hold("alice", "bob", 10000, ttl=0.05)
    time.sleep(0.1)
    assert bank.hold_info(hold.id).state == "expired"  # due, not reaped yet
    with pytest.raises(HoldNotPendingError, match="expired"):
        bank.capture(hold)
    done = bank.transfer("alice", "bob", 10000)  # counts the due hold as released
    assert done.src_balance == 0
    assert bank.reap() == 0
    assert bank.void(hold).replayed is True
    info = bank.info("alice")
    assert (info.balance, info.held) == (0, 0)
    assert not r.hexists(f"{BASE}:held", "alice")


def test_voiding_a_due_hold_releases_it_once_beside_the_reaper(engine: Any, r: redis.Redis) -> None:
    """Voiding a due, unreaped hold frees it once; the void's reaper frees reap_batch others."""
    ledger = make_ledger(engine, reap_batch=2)
    ledger.create("a", "USD", opening=100)
    ledger.create("b", "USD")
    holds = [ledger.hold("a", "b", 10, ttl=0.05) for _ in range(3)]
    time.sleep(0.1)
    assert ledger.void(holds[1]).state == "expired"
    assert not r.zcard(f"{BASE}:holds:pending") and r.zcard(f"{BASE}:holds:finished") == 3
    assert not r.hexists(f"{BASE}:held", "a")
    assert ledger.reap() == 0 and ledger.info("a").available == 100


@pytest.mark.parametrize(
    ("key", "spoil"),
    [
        ("audit", lambda r, k: r.set(k, "x")),
        ("history:b", lambda r, k: (r.delete(k), r.hset(k, "x", "1"))),
        ("seq", lambda r, k: r.set(k, "junk")),
        ("held", lambda r, k: r.hset(k, "b", "junk")),
        ("holds:finished", lambda r, k: r.set(k, "x")),
    ],
)
def test_a_spoiled_key_stops_a_reaping_transfer_before_any_write(
    engine: Any, r: redis.Redis, key: str, spoil: Any
) -> None:
    """With a due hold to release first, a spoiled key still stops a transfer with nothing written."""
    ledger = make_ledger(engine)
    ledger.create("a", "USD", opening=100)
    ledger.create("b", "USD", opening=100)
    ledger.hold("b", "a", 10, ttl=0.05)
    time.sleep(0.1)
    spoil(r, f"{BASE}:{key}")
    before = snapshot(r)
    with pytest.raises(CorruptDataError, match="nothing was written"):
        ledger.transfer("a", "b", 5)
    assert snapshot(r) == before


def test_a_held_sum_below_its_hold_is_corrupt_data(bank: Any, r: redis.Redis) -> None:
    """A held sum tampered below a pending hold makes capture and void refuse, writing nothing."""
    hold = bank.hold("alice", "bob", 4000, ttl=60)
    r.hset(f"{BASE}:held", "alice", 3999)
    before = snapshot(r)
    with pytest.raises(CorruptDataError, match="held sum"):
        bank.capture(hold)
    with pytest.raises(CorruptDataError, match="held sum"):
        bank.void(hold)
    assert snapshot(r) == before


def test_reap_releases_due_holds_and_purges_old_records(engine: Any, r: redis.Redis) -> None:
    """reap() releases due holds (at most reap_batch); records are purged after their retention."""
    ledger = make_ledger(engine, reap_batch=3, idempotency_ttl=0.2, hold_retention=0.2)
    ledger.create("a", "USD", opening=100)
    ledger.create("b", "USD")
    holds = [ledger.hold("a", "b", 10, ttl=0.05) for _ in range(5)]
    time.sleep(0.1)
    assert [ledger.reap(), ledger.reap(), ledger.reap()] == [3, 2, 0]
    assert ledger.info("a").available == 100
    assert r.zcard(f"{BASE}:holds:finished") == 5
    time.sleep(0.25)
    assert [ledger.reap(), ledger.reap()] == [0, 0]  # purges 3, then the last 2
    with pytest.raises(HoldNotFoundError, match="purged"):
        ledger.hold_info(holds[0].id)
    assert not r.exists(f"{BASE}:holds") and not r.exists(f"{BASE}:holds:finished")


def test_a_replayed_hold_returns_the_first_hold(bank: Any) -> None:
    """A hold's idempotency key replays the first hold with its current state."""
    first = bank.hold("alice", "bob", 100, ttl=60, idempotency_key="auth-1")
    again = bank.hold("alice", "bob", Decimal("1.00"), ttl=30, idempotency_key="auth-1")
    assert again == first._replace(replayed=True)
    bank.capture(first)
    assert bank.hold("alice", "bob", 100, ttl=60, idempotency_key="auth-1").state == "captured"
    assert bank.info("alice").held == 0 and bank.balance("bob") == 100
    with pytest.raises(IdempotencyConflictError, match="hold of 100"):
        bank.transfer("alice", "bob", 100, idempotency_key="auth-1")


# -- the pure parts ----------------------------------------------------------------------------


def test_every_key_of_a_ledger_shares_one_slot() -> None:
    """Every key a ledger call names hashes to the ledger's slot; the calls carry it."""
    ops = LedgerOps("bank")
    calls = [
        ops.create("a", "USD"),
        ops.transfer("a", "b", 1, idempotency_key="k"),
        ops.hold("a", "b", 1, 1, idempotency_key="k2"),
        ops.capture(1, "a", "b"),
        ops.void(1),
        ops.info("a"),
        ops.close("a"),
        ops.history("a"),
        ops.audit(),
        ops.reap(),
    ]
    slot = key_slot("redlua:ledger:{bank}")
    for call in calls:
        assert call.slot == slot and {key_slot(k) for k in call.keys} == {slot}
        assert Call(call.script, call.keys, call.args).slot == slot  # the full checks agree


def test_every_reaping_script_includes_the_one_reaper() -> None:
    """The reaper lives once, in lua/lib/ledger_reaper.lua, spliced into each script that reaps."""
    carriers = {
        path.name
        for path in sorted(LUA.glob("ledger_*.lua"))
        if "--!include ledger_reaper" in path.read_text()
    }
    assert carriers == {
        "ledger_capture.lua", "ledger_hold.lua", "ledger_info.lua", "ledger_reap.lua",
        "ledger_status.lua", "ledger_transfer.lua", "ledger_void.lua",
    }  # fmt: skip
    for name in carriers:
        source = load_script(name.removesuffix(".lua")).source
        assert "local function reap(due, now, keep)" in source
        assert "\n--!include" not in source


def test_options_are_checked() -> None:
    """Caps, batch and TTL options are checked; retention must cover the idempotency ttl."""
    with pytest.raises(ValueError, match="history_cap"):
        LedgerOps("bank", history_cap=0)
    with pytest.raises(TypeError, match="reap_batch"):
        LedgerOps("bank", reap_batch=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hold_retention"):
        LedgerOps("bank", idempotency_ttl=60, hold_retention=30)
    with pytest.raises(ValueError, match="idempotency_ttl"):
        LedgerOps("bank", idempotency_ttl=float("inf"))


def test_a_keyed_transfer_is_resent_after_an_unknown_outcome() -> None:
    """With an idempotency key the flow re-sends after OutcomeUnknownError, then gives up."""
    flow = LedgerCore("bank").transfer_flow("a", "b", 5, idempotency_key="k")
    call = next(flow)
    lost = OutcomeUnknownError("ledger_transfer", TimeoutError("read"))
    for attempt in range(RESENDS - 1):
        assert flow.throw(lost) == Sleep(0.05 * 2**attempt)
        assert flow.send(None) is call
    with pytest.raises(OutcomeUnknownError):
        flow.throw(lost)
    flow = resent(call, True)
    next(flow)
    flow.throw(lost)
    assert flow.send(None) is call
    with pytest.raises(StopIteration) as done:
        flow.send("result")
    assert done.value.value == "result"


def test_an_unkeyed_transfer_is_never_resent() -> None:
    """Without an idempotency key an unknown outcome reaches the caller at once."""
    flow = LedgerCore("bank").transfer_flow("a", "b", 5)
    next(flow)
    with pytest.raises(OutcomeUnknownError):
        flow.throw(OutcomeUnknownError("ledger_transfer", TimeoutError("read")))


# -- a cluster ---------------------------------------------------------------------------------


@pytest.mark.cluster
def test_a_ledger_on_a_cluster(cluster_engine: Any) -> None:
    """Accounts, transfers, replays, holds and pages work on a 3-master cluster."""
    for name in ("bank", "shop", "ledger-3"):
        ledger = make_ledger(cluster_engine, name)
        ledger.create("alice", "EUR", opening=Decimal("10.00"))
        ledger.create("bob", "EUR")
        done = ledger.transfer("alice", "bob", Decimal("2.50"), idempotency_key="k")
        assert ledger.transfer("alice", "bob", 250, idempotency_key="k").replayed is True
        hold = ledger.hold("alice", "bob", 100, ttl=60)
        assert ledger.capture(hold.id).dst_balance == 350
        short = ledger.hold("alice", "bob", 100, ttl=0.05)
        time.sleep(0.1)
        assert ledger.reap() == 1 and ledger.void(short).state == "expired"
        assert ledger.info("alice").available == 650
        assert [e.transfer for e in ledger.history("bob").entries] == [hold.id + 1, done.id]
        assert len(ledger.audit().entries) == 3
        with pytest.raises(CrossLedgerError):
            ledger.transfer("alice", AccountRef("elsewhere", "bob"), 1)
