"""Pure parts, no server: slots, contracts, error parsing, statistics, retry policy."""

from __future__ import annotations

import pytest

from redlua import Call, ContractError, CrossSlotError, RetryPolicy, Script, Sleep, key_slot
from redlua._stats import Histogram, Stats
from redlua.errors import (
    InvalidArgumentError,
    ScriptCompileError,
    ScriptError,
    ScriptKilledError,
    ScriptReplyError,
    ServerBusyError,
    ServerError,
    from_reply,
    parse_lua_error,
    register_error_code,
)

SHA = "a" * 40


@pytest.mark.parametrize(
    ("key", "slot"),
    [
        ("{user:1}:a", 10778),
        ("user:1", 10778),
        ("{}a", 10875),
        ("a{}b", 13694),
        ("{a}{b}", 15495),
        ("a{b}c{d}", 3300),
        ("}a{b}", 3300),
        ("{{a}}", 10276),
        ("a{", 14311),
        ("{ü}x", 9552),
        ("", 0),
        ("{}", 15257),
        ("ключ{x}", 16287),
        (b"{user:1}:b", 10778),
    ],
)
def test_key_slot_matches_cluster_keyslot(key: str | bytes, slot: int) -> None:
    """key_slot agrees with the server's CLUSTER KEYSLOT on the edge cases."""
    assert key_slot(key) == slot


def test_call_slot_and_cross_slot() -> None:
    """A Call records its keys' slot; keys in two slots raise CrossSlotError."""
    script = Script("s", "return 1")
    assert Call(script).slot is None
    assert Call(script, ("{u}a", "{u}b")).slot == key_slot("u")
    with pytest.raises(CrossSlotError, match=r"'a'.*'b'"):
        Call(script, ("a", "b"))


def test_call_accepts_lists_and_rejects_strings_as_sequences() -> None:
    """keys/args may be lists; a bare string is refused rather than split into characters."""
    script = Script("s", "return 1")
    assert Call(script, ["k"], [1]).keys == ("k",)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys must be a sequence"):
        Call(script, "abc")  # type: ignore[arg-type]


def test_sleep_validates_seconds() -> None:
    """Sleep refuses negative, infinite and non-numeric durations."""
    assert Sleep(0).seconds == 0
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds"):
            Sleep(bad)
    with pytest.raises(TypeError):
        Sleep("1")  # type: ignore[arg-type]


FULL = """#!lua flags=no-writes,allow-oom
--[[
  Move an amount between two balances,
  never below zero.

  KEYS[1]  source balance
  KEYS[2]  destination balance
  ARGV[1]  amount
  ARGV[2]  (optional) memo

  Returns  {source_after, destination_after}.
  Errors   INSUFFICIENT_FUNDS when the source holds less,
           INVALID_ARGUMENT when the amount is not a positive integer.
  Idempotent  no
]]
return 1
"""


def test_contract_is_parsed_from_the_header() -> None:
    """The header gives purpose, KEYS, ARGV, reply, error codes and flags."""
    script = Script.from_source("ledger_transfer", FULL, require_contract=True)
    contract = script.contract
    assert contract is not None
    assert contract.purpose == "Move an amount between two balances, never below zero."
    assert contract.keys == ("source balance", "destination balance")
    assert contract.argv == ("amount", "(optional) memo")
    assert contract.argv_required == 1
    assert contract.returns == "{source_after, destination_after}."
    assert contract.errors == ("INSUFFICIENT_FUNDS", "INVALID_ARGUMENT")
    assert not contract.idempotent
    assert script.flags == frozenset({"no-writes", "allow-oom"})
    assert script.read_only and script.numkeys == 2


def test_variadic_contract() -> None:
    """KEYS[i..n] declares a variable tail: at least i-1 fixed keys, any number after."""
    src = "--[[\n  Delete keys.\n\n  KEYS[1..n]  keys\n\n  Returns  the count.\n]]\nreturn 1"
    script = Script.from_source("batch_del", src)
    assert script.numkeys is None
    Call(script, ("{a}1", "{a}2", "{a}3"))
    with pytest.raises(ContractError, match="1 or more keys"):
        Call(script, ())


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("return 1", "no contract header"),
        ("--[[\n  KEYS[1] k\n  Returns x\n]]\nreturn 1", "purpose"),
        ("--[[\n  Do it.\n  KEYS[1] k\n]]\nreturn 1", "Returns"),
        ("--[[\n  Do it.\n  KEYS[2] k\n  Returns x\n]]\nreturn 1", "numbered"),
        ("--[[\n  Do it.\n  Returns x\nreturn 1", "not closed"),
    ],
)
def test_bad_headers_are_refused(source: str, message: str) -> None:
    """A shipped script's header must be complete; each gap has its own message."""
    with pytest.raises(ContractError, match=message):
        Script.from_source("s", source, require_contract=True)


def test_bad_shebang_is_refused() -> None:
    """A shebang naming another engine is refused when the script is made."""
    with pytest.raises(ContractError, match="script s"):
        Script.from_source("s", "#!python\nreturn 1")


def test_legacy_source_blanks_the_shebang_and_keeps_lines() -> None:
    """For Redis 6 the shebang line is blanked, so line numbers stay the same."""
    script = Script.from_source("s", FULL)
    assert script.legacy_source.split("\n")[0] == ""
    assert script.legacy_source.count("\n") == FULL.count("\n")
    assert script.legacy_sha != script.sha


def test_script_names_and_sources_are_checked() -> None:
    """Names are words; sources are non-empty text."""
    with pytest.raises(ValueError, match="script name"):
        Script("has space", "return 1")
    with pytest.raises(ValueError, match="empty"):
        Script("s", "  ")
    with pytest.raises(TypeError):
        Script("s", b"return 1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "kind", "code", "line", "category"),
    [
        (
            "ERR Error compiling script (new function): user_script:3: unexpected symbol near '<eof>'",
            "compile", "ERR", 3, "syntax",
        ),
        (
            f"ERR user_script:7: attempt to perform arithmetic on a nil value script: {SHA}, on @user_script:7.",
            "runtime", "ERR", 7, "arithmetic",
        ),
        (
            f"WRONGTYPE Operation against a key holding the wrong kind of value script: {SHA}, on @user_script:2.",
            "command", "WRONGTYPE", 2, None,
        ),
        (
            f"ERR Error running script (call to f_{SHA}): @user_script:4: WRONGTYPE Operation against a key",
            "command", "WRONGTYPE", 4, None,
        ),
        (
            f"ERR Script killed by user with SCRIPT KILL... script: {SHA}, on @user_script:1.",
            "killed", "ERR", 1, None,
        ),
        (
            f"ERR Error running script (call to f_{SHA}): @user_script:9: Script killed by user with SCRIPT KILL...",
            "killed", "ERR", 9, None,
        ),
        ("INVALID_ARGUMENT amount must be positive", "reply", "INVALID_ARGUMENT", None, None),
        ("BUSY Valkey is busy running a script.", "server", "BUSY", None, None),
    ],
)  # fmt: skip
def test_parse_lua_error(
    reply: str, kind: str, code: str, line: int | None, category: str | None
) -> None:
    """Error replies of Redis 6.2, 7.x and Valkey are taken apart by their first word."""
    info = parse_lua_error(reply)
    assert (info.kind, info.code, info.line, info.category) == (kind, code, line, category)
    assert "script:" not in info.message


def test_from_reply_picks_the_class() -> None:
    """from_reply maps each kind of reply to its exception class, with the source line."""
    source = "local a = 1\nreturn a + nil"
    error = from_reply(
        f"ERR user_script:2: attempt to perform arithmetic on a nil value script: {SHA}, on @user_script:2.",
        script="s",
        source=source,
    )
    assert type(error) is ScriptError
    assert (error.line, error.source_line) == (2, "return a + nil")
    assert "line 2" in str(error) and "return a + nil" in str(error)
    assert isinstance(
        from_reply("ERR Error compiling script (new function): user_script:1: x"),
        ScriptCompileError,
    )
    assert isinstance(
        from_reply(
            f"ERR Script killed by user with SCRIPT KILL. script: {SHA}, on @user_script:1."
        ),
        ScriptKilledError,
    )
    assert isinstance(from_reply("BUSY Redis is busy"), ServerBusyError)
    assert type(from_reply("NOREPLICAS Not enough good replicas to write.")) is ServerError
    invalid = from_reply("INVALID_ARGUMENT bad amount", script="t")
    assert isinstance(invalid, InvalidArgumentError) and isinstance(invalid, ValueError)
    assert (invalid.code, invalid.detail, invalid.script) == ("INVALID_ARGUMENT", "bad amount", "t")


def test_register_error_code() -> None:
    """Users map their own codes; server codes and bad names are refused."""

    class OutOfStockError(ScriptReplyError):
        """Test class."""

    register_error_code("TEST_OUT_OF_STOCK", OutOfStockError)
    assert isinstance(from_reply("TEST_OUT_OF_STOCK sku 1"), OutOfStockError)
    with pytest.raises(ValueError, match="server error code"):
        register_error_code("NOSCRIPT", OutOfStockError)
    with pytest.raises(ValueError, match="UPPER_SNAKE"):
        register_error_code("lower", OutOfStockError)


def test_histogram_percentiles_are_within_a_bucket() -> None:
    """Percentiles from the bounded histogram are within 10 % of the exact ones."""
    hist = Histogram()
    samples = [i / 10_000 for i in range(1, 1001)]  # 0.1 ms .. 100 ms
    for s in samples:
        hist.add(s)
    for q, exact in ((50, samples[499]), (95, samples[949]), (99, samples[989])):
        got = hist.percentile(q)
        assert got is not None and abs(got - exact) / exact < 0.1
    assert Histogram().percentile(50) is None
    small = Histogram()
    for s in (0.001, 0.002, 0.003):
        small.add(s)
    assert small.percentile(99) == pytest.approx(0.003, rel=0.1)  # never past the end


def test_stats_snapshot_and_reset() -> None:
    """Stats count per script and forget everything on reset."""
    stats = Stats()
    stats.record("a", 0.001)
    stats.record("a", 0.002, error=True)
    stats.count("a", "reloads")
    snap = stats.snapshot()["a"]
    assert (snap.calls, snap.errors, snap.reloads) == (2, 1, 1)
    assert snap.mean == pytest.approx(0.0015)
    stats.reset()
    assert stats.snapshot() == {}


def test_retry_policy_budget() -> None:
    """A budget gives jittered waits within the deadline and bounded reloads."""
    budget = RetryPolicy(deadline=0.05, base=0.001, cap=0.01, reloads=2).begin()
    waits = [budget.wait() for _ in range(5)]
    assert all(w is not None and 0 <= w <= 0.01 for w in waits)
    assert [budget.reload() for _ in range(3)] == [True, True, False]
    expired = RetryPolicy(deadline=0).begin()
    assert expired.wait() is None
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=-1)
