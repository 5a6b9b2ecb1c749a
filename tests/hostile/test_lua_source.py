"""No Lua source is ever built from data: user data travels in KEYS and ARGV only.

``tests/test_package.py::test_no_lua_source_is_built_from_data`` checks that no module sends
EVAL with a body. That misses a script *built* with an f-string and then loaded (``SCRIPT
LOAD`` of ``f"return redis.call('GET', '{key}')"`` is just as injectable), ``str.format``,
``%`` and ``+`` on Lua text, ``Script(...)``/``Script.from_source(...)``/``register(...)`` of a
built text, and redis-py's own ``eval``/``script_load``/``register_script``. This module reads
the package's syntax trees for all of them. The few places that do assemble Lua (the Functions
library generator, the debugger's wrapper) are listed in `ASSEMBLERS`, each with why no data
reaches it; a new one fails until it is reviewed and listed.

A second check runs the other way: every builder, given names written to break out of a Lua
string, still returns a call of a shipped script, unchanged.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from redlua import Script, shipped_scripts
from redlua.counters import CounterOps
from redlua.inventory import InventoryOps
from redlua.ledger import LedgerOps
from redlua.locks import LockOps, fenced_set
from redlua.locks.semaphore import SemaphoreCore
from redlua.ratelimit import Limit, RateLimitOps
from redlua.stateful import KeySchema, LinkOps
from redlua.txn import VersionedOps

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "redlua"

LUA_TEXT = re.compile(
    r"redis\.p?call\s*\(|redis\.register_function|redis\.error_reply|redis\.status_reply"
    r"|\bKEYS\s*\[|\bARGV\s*\[|cjson\.|\bthen\b.*\bend\b|^\s*local\s+\w|\breturn\s+redis\b",
    re.M,
)
"""Text that reads as Lua code (not prose that mentions Lua)."""

ASSEMBLERS = {
    ("_functions.py", "build_library"): (
        "generates the Functions library from shipped scripts only: names checked against"
        " [A-Za-z0-9_]+, flags from the scripts' own shebangs, the purpose quoted as a Lua long"
        " string whose level is chosen so the text cannot close it"
    ),
    ("ops/debugger.py", "debug_source"): (
        "wraps a script's own text in a constant prologue and epilogue; no argument enters it"
    ),
    ("ops/debugger.py", "<module>"): (
        "the debug prologue and epilogue: constant text given two module constants"
        " (MAX_LOG_LINES, MAX_LOG_CHARS) by str.replace at import"
    ),
}
"""(module, function) pairs allowed to assemble Lua text, and why no data reaches them."""

SENDERS = {"eval", "eval_ro", "script_load", "register_script"}
"""redis-py methods that would take a script body (or run one) outside the engine."""


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield str(path.relative_to(PACKAGE)), ast.parse(path.read_text(), str(path))


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Yield (enclosing function name or '<module>', node) for every node of *tree*."""
    stack: list[tuple[str, ast.AST]] = [("<module>", tree)]
    while stack:
        owner, node = stack.pop()
        for child in ast.iter_child_nodes(node):
            name = (
                child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else owner
            )
            yield name, child
            stack.append((name, child))


def _constant_text(node: ast.AST) -> str:
    """Return every string constant inside *node*, joined."""
    return "\n".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def _built(node: ast.AST) -> bool:
    """True when *node* computes a string from parts: f-string, %, +, .format, .join, .replace."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join", "replace", "format_map")
    )


def test_no_lua_text_is_assembled_outside_the_reviewed_places() -> None:
    """No f-string, %, +, format, join or replace produces Lua code except in ASSEMBLERS."""
    found = []
    for module, tree in _modules():
        for owner, node in _functions(tree):
            lua = _built(node) and LUA_TEXT.search(_constant_text(node))
            if lua and (module, owner) not in ASSEMBLERS:
                found.append(f"{module}:{node.lineno} in {owner}: {ast.unparse(node)[:100]}")
    assert found == []


def test_every_reviewed_assembler_still_exists() -> None:
    """Each ASSEMBLERS entry names a function that exists (stale entries would hide nothing)."""
    defined = set()
    for module, tree in _modules():
        defined.add((module, "<module>"))
        defined.update(
            (module, node.name)
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        )
    assert [place for place in ASSEMBLERS if place not in defined] == []


def test_scripts_are_made_from_files_or_constants() -> None:
    """Script(), Script.from_source() and register() never get a source built from parts."""
    found = []
    for module, tree in _modules():
        for owner, node in _functions(tree):
            if not isinstance(node, ast.Call) or (module, owner) in ASSEMBLERS:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            made = name in ("Script", "from_source", "register") and len(node.args) >= 2
            if made and _built(node.args[1]):
                found.append(f"{module}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert found == []


def test_bodies_reach_the_server_only_through_the_engine() -> None:
    """No module calls redis-py's eval/script_load/register_script; SCRIPT LOAD sends a variable."""
    found = []
    for module, tree in _modules():
        for _, node in _functions(tree):
            method = (
                node.func.attr
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                else ""
            )
            if method in SENDERS:
                found.append(f"{module}:{node.lineno}: {ast.unparse(node)[:100]}")
            if isinstance(node, (ast.Tuple, ast.Call)):
                parts = node.elts if isinstance(node, ast.Tuple) else node.args
                words = [p.value for p in parts if isinstance(p, ast.Constant)]
                if words[:1] in (["EVAL"], ["EVAL_RO"]):
                    found.append(f"{module}:{node.lineno}: EVAL with a body")
                if "LOAD" in words and ("SCRIPT" in words or "FUNCTION" in words):
                    body = parts[-1]
                    if _built(body) or isinstance(body, ast.Constant):
                        found.append(f"{module}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert found == []


def test_the_check_catches_the_patterns_it_is_for() -> None:
    """The detectors flag an f-string, a format, a concatenation and a SCRIPT LOAD of them."""
    samples = [
        "def f(key):\n    return f\"return redis.call('GET', '{key}')\"\n",
        "def f(key):\n    return \"local v = redis.call('GET', '%s')\" % key\n",
        "def f(key):\n    return \"return redis.call('GET', '\" + key + \"')\"\n",
        "def f(key):\n    return \"redis.call('SET', KEYS[1], '{}')\".format(key)\n",
    ]
    for text in samples:
        tree = ast.parse(text)
        assert any(
            _built(node) and LUA_TEXT.search(_constant_text(node)) for _, node in _functions(tree)
        ), text
    assert not LUA_TEXT.search("Add ARGV-like prose: the script's return value, and so on")


# -- names that try to break out of a Lua string -------------------------------------------------

SHIPPED = {s.sha: s.source for s in shipped_scripts().values()}
INJECTIONS = st.sampled_from(
    [
        "'); redis.call('FLUSHALL'); --",
        "]] redis.call('FLUSHALL') --[[",
        '"..redis.call("FLUSHALL").."',
        "\\'); os.exit(); --",
        "%s%d%n",
        "return redis.call('CONFIG','SET','dir','/')",
        "KEYS[1]",
    ]
) | st.text(st.sampled_from("'\"[]=-;()%\\ redis.call FLUSHALL"), min_size=1, max_size=40)


def _safe(name: str) -> str:
    """Keep *name* a legal key part (the injections need no braces or control characters)."""
    return "".join(c for c in name if c not in "{}#:" and ord(c) >= 0x20 and c != "\x7f") or "x"


def _shipped(script: Script) -> bool:
    return SHIPPED.get(script.sha) == script.source


@settings(max_examples=100, deadline=None, database=None)
@given(INJECTIONS)
def test_injected_names_still_call_shipped_scripts(text: str) -> None:
    """Whatever a name holds, each builder returns a shipped script, unchanged, name in KEYS/ARGV."""
    name = _safe(text)
    schema = KeySchema.sf(name)
    calls = [
        LockOps().acquire(name, "tok", 1),
        SemaphoreCore(name, 1, 1).acquire_call("p"),
        fenced_set(name, name, 1),
        RateLimitOps(Limit(1, 1, name=name)).hit(name, tag=name),
        CounterOps(group=name).increment_with_limit(name, 1, 5),
        LedgerOps(name).transfer(name, name + "2", 1, memo=name, idempotency_key=name),
        InventoryOps(name).reserve(name, 1, name, 1),
        VersionedOps().set_if_version(name, name, 0),
        LinkOps(schema).set_link(name, name, 1),
    ]
    for call in calls:
        assert _shipped(call.script), call.script.name
        assert any(name in str(part) for part in (*call.keys, *call.args)), call.script.name
