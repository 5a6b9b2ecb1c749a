"""debug_script: results, error lines and source lines, syntax errors, debug logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from redlua import Script, ScriptCompileError, ScriptError, UnknownScriptError, load_script
from redlua.errors import ContractError, InvalidArgumentError
from redlua.ops import async_debug_script, debug_script, debug_source
from tests.ops import both

RUNTIME = """\
local a = tonumber(ARGV[1])
local missing = nil
redis.log(redis.LOG_NOTICE, 'a is', a)
redis.log(redis.LOG_WARNING, 'about to fail')
return a + missing
"""

SYNTAX = """\
local a = 1
local b = = 2
return a
"""

COMMAND = """\
redis.call('SET', KEYS[1], 'text')
redis.log(redis.LOG_NOTICE, 'set', KEYS[1])
return redis.call('INCR', KEYS[1])
"""


def run(engine: Any, *args: Any, **kwargs: Any) -> Any:
    return both(engine, debug_script, async_debug_script, *args, **kwargs)


@pytest.mark.parametrize("debug", [False, True])
def test_a_runtime_error_names_its_line_and_source(engine: Any, debug: bool) -> None:
    """A Lua runtime error on line 5 reports ScriptError, line 5 and that line's text."""
    result = run(engine, RUNTIME, (), ("1",), debug=debug)
    assert not result.ok and result.error_type == "ScriptError" and result.code == "ERR"
    assert result.line == 5 and result.source_line == "return a + missing"
    assert "arithmetic" in (result.message or "") and result.duration is not None
    assert isinstance(result.error, ScriptError)
    with pytest.raises(ScriptError):
        result.raise_for_error()
    json.dumps(result.to_dict())


@pytest.mark.parametrize("debug", [False, True])
def test_a_syntax_error_names_its_line(engine: Any, debug: bool) -> None:
    """A script that does not compile reports ScriptCompileError at line 2 with its text."""
    result = run(engine, SYNTAX, debug=debug)
    assert not result.ok and result.error_type == "ScriptCompileError"
    assert result.line == 2 and result.source_line == "local b = = 2"
    assert isinstance(result.error, ScriptCompileError)


def test_debug_mode_returns_the_log_lines_with_a_failure(engine: Any) -> None:
    """log() and redis.log lines come back to the caller, even when the script then fails."""
    result = run(engine, RUNTIME, (), ("7",), debug=True)
    assert result.logs == ("[notice] a is 7", "[warning] about to fail")
    assert result.logs_dropped == 0 and result.line == 5
    mixed = run(
        engine, "log('plain', 1)\nredis.log(redis.LOG_DEBUG, 'x')\nerror('stop')", debug=True
    )
    assert mixed.logs == ("plain 1", "[debug] x") and mixed.line == 3


def test_debug_mode_returns_the_log_lines_with_a_result(engine: Any) -> None:
    """A succeeding script returns its reply unchanged beside its log lines (nil included)."""
    result = run(engine, "log('one', 1, true)\nlog(nil)\nreturn {1, 'two', {3}}", debug=True)
    assert result.ok and result.result == [1, "two", [3]]
    assert result.logs == ("one 1 true", "nil")
    empty = run(engine, "log('x')\nreturn nil", debug=True)
    assert empty.ok and empty.result is None and empty.logs == ("x",)


def test_a_failing_redis_call_keeps_its_line_in_debug_mode(engine: Any) -> None:
    """A redis.call error (a tail call too) reports the same line with and without the wrapper."""
    plain = run(engine, COMMAND, ("{ops}k",))
    wrapped = run(engine, COMMAND, ("{ops}k",), debug=True)
    for result in (plain, wrapped):
        assert not result.ok and result.error_type == "ScriptError"
        assert result.line == 3 and result.source_line == "return redis.call('INCR', KEYS[1])"
        assert "not an integer" in (result.message or "")
    assert wrapped.logs == ("[notice] set {ops}k",)


def test_log_lines_are_capped(engine: Any) -> None:
    """More than MAX_LOG_LINES lines come back capped, with the number dropped."""
    result = run(engine, "for i = 1, 1005 do log(i) end\nreturn 1", debug=True)
    assert len(result.logs) == 1000 and result.logs_dropped == 5 and result.logs[-1] == "1000"


def test_a_shipped_script_runs_by_name(engine: Any) -> None:
    """A shipped script named by its name runs, in debug mode too (shebang kept first)."""
    plain = run(engine, "core_ping", (), ("hello",))
    assert plain.ok and plain.script == "core_ping" and plain.result[3] == "hello"
    wrapped = run(engine, "core_ping", (), ("hello",), debug=True)
    assert wrapped.ok and wrapped.result[3] == "hello"


def test_a_returned_error_reply_maps_to_its_exception(engine: Any) -> None:
    """redis.error_reply('INVALID_ARGUMENT ...') is reported as InvalidArgumentError."""
    for debug in (False, True):
        result = run(engine, "return redis.error_reply('INVALID_ARGUMENT bad n')", debug=debug)
        assert not result.ok and result.error_type == "InvalidArgumentError"
        assert result.code == "INVALID_ARGUMENT" and result.message == "bad n"
        assert isinstance(result.error, InvalidArgumentError)


def test_a_raised_error_table_keeps_its_line(engine: Any) -> None:
    """error({err=...}) on line 2 reports line 2 in both modes."""
    source = "local x = 1\nerror({err = 'MY_FAILURE went wrong'})\n"
    for debug in (False, True):
        result = run(engine, source, debug=debug)
        assert not result.ok and result.line == 2 and result.code == "MY_FAILURE"


def test_line_numbers_survive_the_wrapper() -> None:
    """The wrapper adds no line before the user's code, with or without a shebang."""
    for source in (RUNTIME, "#!lua flags=no-writes\nreturn 1\n", "#!lua"):
        wrapped = debug_source(source)
        lines, out = source.splitlines(), wrapped.splitlines()
        for i, line in enumerate(lines):
            assert out[i].endswith(line), (i, line)
        closing = [i for i, line in enumerate(out) if line.startswith("end, __rl_fail)")]
        assert closing and closing[0] >= len(lines)


def test_bad_input_raises_before_any_io(engine: Any, r: redis.Redis) -> None:
    """An unknown name, broken arity or a bad flag raises; nothing reaches the server."""
    with pytest.raises(UnknownScriptError):
        run(engine, "no_such_script")
    with pytest.raises(ContractError):
        run(engine, load_script("core_ping"), ("extra-key",), ("x",))
    with pytest.raises(TypeError, match="debug"):
        run(engine, "return 1", debug="yes")
    with pytest.raises(TypeError, match="script"):
        run(engine, 42)
    assert r.dbsize() == 0


def test_a_script_object_keeps_its_name(engine: Any) -> None:
    """A Script passed in runs under its own name, and the engine counts it."""
    script = Script("ops_named", "return ARGV[1]")
    result = run(engine, script, (), ("v",))
    assert result.ok and result.result == "v" and result.script == "ops_named"
    assert engine.stats()["ops_named"].calls == 1
