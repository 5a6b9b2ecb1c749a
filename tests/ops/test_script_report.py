"""script_report: engine figures beside INFO commandstats and SLOWLOG entries of our scripts."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from redlua.ops import async_script_report, script_report
from tests.ops import both


def test_commandstats_count_the_engine_calls(engine: Any) -> None:
    """EVALSHA (or FCALL, in functions mode) calls in commandstats grow by the engine's calls."""
    engine.run_script("core_ping", args=("warm",))
    before = both(engine, script_report, async_script_report)
    for i in range(5):
        engine.run_script("core_ping", args=(str(i),))
    after = both(engine, script_report, async_script_report)
    ours = ("evalsha", "fcall")
    sent = sum(c.calls for n, c in after.commands.items() if n.startswith(ours))
    old = sum(c.calls for n, c in before.commands.items() if n.startswith(ours))
    assert sent - old >= 5
    assert after.scripts["core_ping"].calls - before.scripts["core_ping"].calls == 5
    assert after.errors == ()
    json.dumps(after.to_dict())


def test_reset_stats_clears_engine_figures_only(engine: Any) -> None:
    """engine.reset_stats() empties the engine's figures; the server's stay."""
    engine.run_script("core_ping", args=("x",))
    engine.reset_stats()
    report = both(engine, script_report, async_script_report)
    assert report.scripts == {} and report.commands


def test_bad_arguments_raise(engine: Any) -> None:
    """A negative slowlog count or a non-engine raises before any I/O."""
    with pytest.raises(ValueError, match="slowlog"):
        both(engine, script_report, async_script_report, slowlog=-1)
    with pytest.raises(TypeError, match="engine"):
        script_report(object())


def test_slowlog_names_our_slow_script(private_engine: Any, pr: redis.Redis) -> None:
    """With slowlog-log-slower-than 0 a script call shows in SLOWLOG with its name and arg count."""
    before = pr.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    pr.slowlog_reset()
    pr.config_set("slowlog-log-slower-than", 0)
    try:
        private_engine.run_script("core_ping", args=("a",))
        private_engine.register("ops_test_slow", "return #KEYS + #ARGV")
        private_engine.run_script("ops_test_slow", keys=("{t}k1", "{t}k2"), args=tuple("x" * 40))
    finally:
        pr.config_set("slowlog-log-slower-than", before)
    report = both(private_engine, script_report, async_script_report)
    ours = {s.script: s for s in report.slow if s.script}
    assert {"core_ping", "ops_test_slow"} <= set(ours)
    slow = ours["ops_test_slow"]
    assert slow.keys == 2 and slow.args == 40  # SLOWLOG kept 32 arguments and said how many more
    assert slow.duration >= 0 and slow.command in ("EVALSHA", "EVALSHA_RO")
    assert ours["core_ping"].keys == 0 and ours["core_ping"].args == 1
    json.dumps(report.to_dict())
