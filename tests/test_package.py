"""The package as shipped: scripts, wheel contents, the twin engines, the public surface."""

from __future__ import annotations

import ast
import difflib
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import redis

import redlua
from redlua import Call, Script, minify, shipped_scripts

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "redlua"


def test_every_shipped_script_has_a_contract() -> None:
    """Every lua/*.lua file opens with a complete contract header."""
    files = sorted(p.stem for p in (PACKAGE / "lua").glob("*.lua"))
    scripts = shipped_scripts()
    assert sorted(scripts) == files
    for script in scripts.values():
        assert script.contract is not None, script.name
        assert script.contract.purpose and script.contract.returns


def test_shipped_script_names_follow_recipe_verb() -> None:
    """Shipped scripts are named <recipe>_<verb>."""
    for name in shipped_scripts():
        assert name.count("_") >= 1 and name == name.lower(), name


def test_every_shipped_script_compiles(engine: Any) -> None:
    """Every shipped script loads on the server."""
    for script in shipped_scripts().values():
        assert engine.validate(script.source).valid, script.name


def test_minified_shipped_scripts_behave_the_same(engine: Any, r: redis.Redis) -> None:
    """A minified shipped script gives the same reply as the original (keyless ones run here)."""
    for script in shipped_scripts().values():
        small = Script(script.name + ".min", minify(script.source), script.contract)
        assert small.flags == script.flags
        assert engine.validate(small.source).valid
        if script.name == "core_ping":
            full = engine.run(Call(script, (), ("payload -- [[x]]",)))
            mini = engine.run(Call(small, (), ("payload -- [[x]]",)))
            assert (full[0], full[1], full[3]) == (mini[0], mini[1], mini[3])


def test_no_lua_source_is_built_from_data() -> None:
    """The engine never sends EVAL with a body: scripts go by SCRIPT LOAD and EVALSHA."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert '"EVAL",' not in text and "'EVAL'," not in text, path


def _normalised(path: Path, names: dict[str, str]) -> str:
    tree = ast.parse(path.read_text())

    class Sync(ast.NodeTransformer):
        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> Any:
            self.generic_visit(node)
            sync = ast.FunctionDef(**{f: getattr(node, f) for f in node._fields})
            return ast.copy_location(sync, node)

        def visit_Await(self, node: ast.Await) -> Any:
            return self.visit(node.value)

        def visit_Expr(self, node: ast.Expr) -> Any:
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return None  # docstrings may differ
            return self.generic_visit(node)

    text = ast.unparse(Sync().visit(tree))
    for old, new in names.items():
        text = text.replace(old, new)
    lines = text.splitlines()
    imports = sorted(line for line in lines if line.startswith(("import ", "from ")))
    return "\n".join(
        imports + [line for line in lines if not line.startswith(("import ", "from "))]
    )


# Where the engines differ: each its own pipeline (threads share a SharedWriter, tasks an
# AutoPipeline), and ``aclose`` for ``close``.
ASYNC_ONLY = {
    "-from ._writer import SharedWriter",
    "+from ._autopipe import AutoPipeline",
    "-        self._pipe = SharedWriter(self._t, self._send) if pipelining else None",
    "+        self._pipe = AutoPipeline(self._t) if pipelining else None",
    "-    def close(self) -> None:",
    "+    def aclose(self) -> None:",
    "+        if self._pipe is not None:",
    "+            self._pipe.close()",
    "+",
    "-",
}


def test_engines_differ_only_by_async_await() -> None:
    """aio.py is engine.py with async/await, but for the listed pipeline lines."""
    sync = _normalised(PACKAGE / "engine.py", {})
    names = {
        "AsyncEngine": "Engine",
        "AsyncSingleFlight": "SingleFlight",
        "asyncio.sleep": "time.sleep",
        "._atransport": "._transport",
        "import asyncio\n": "",
    }
    twin = _normalised(PACKAGE / "aio.py", names)
    diff = difflib.unified_diff(sync.splitlines(), twin.splitlines(), lineterm="", n=0)
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert set(changed) <= ASYNC_ONLY, set(changed) - ASYNC_ONLY


def test_transports_differ_only_by_async_await() -> None:
    """_atransport.py mirrors _transport.py except where redis-py's asyncio cluster API differs."""
    sync = _normalised(PACKAGE / "_transport.py", {})
    twin = _normalised(PACKAGE / "_atransport.py", {"redis.asyncio": "redis"})
    common = set(sync.splitlines()) & set(twin.splitlines())
    assert len(common) / len(set(sync.splitlines())) > 0.7


def test_all_is_sorted_and_complete() -> None:
    """__all__ lists every public name, sorted case-insensitively."""
    public = {n for n in vars(redlua) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(redlua, n)).__name__ == "module"}
    assert sorted(redlua.__all__, key=str.casefold) == redlua.__all__
    assert set(redlua.__all__) == public - modules


@pytest.mark.slow
def test_installed_wheel_finds_every_script(tmp_path: Path) -> None:
    """A built wheel carries lua/*.lua and lua/lib/*.lua; an import finds every shipped script."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
    )  # fmt: skip
    wheel = next(tmp_path.glob("redlua-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    expected = sorted(p.name for p in (PACKAGE / "lua").glob("*.lua"))
    libs = sorted(p.name for p in (PACKAGE / "lua" / "lib").glob("*.lua"))
    assert sorted(n[len("redlua/lua/") :] for n in names if n.startswith("redlua/lua/")) == sorted(
        expected + [f"lib/{lib}" for lib in libs]
    )
    assert "redlua/py.typed" in names
    code = "import redlua, json; print(json.dumps(sorted(redlua.shipped_scripts())))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.stdout.strip() == str([p[:-4] for p in expected]).replace("'", '"')


def test_every_test_says_what_it_checks() -> None:
    """Every test function carries a docstring naming the behaviour it checks."""
    missing = []
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            is_test = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if is_test and node.name.startswith("test_") and not ast.get_docstring(node):
                missing.append(f"{path.relative_to(ROOT)}::{node.name}")
    assert missing == []


def test_every_script_key_comes_from_keys() -> None:
    """No shipped script builds a key name itself: every key a command touches is from KEYS."""
    import re

    calls = re.compile(r"redis\.p?call\(\s*'(\w+)'\s*,\s*([^,)]+)")
    binds = re.compile(r"local\s+([\w\s,]+?)\s*=\s*((?:KEYS\[\w+\]\s*,?\s*)+)")
    keyless = {"TIME", "PUBLISH", "SCRIPT", "INFO"}
    for script in shipped_scripts().values():
        from_keys = {"KEYS"}
        for names, _values in binds.findall(script.source):
            from_keys.update(n.strip() for n in names.split(","))
        for command, first in calls.findall(script.source):
            root = re.split(r"[\[\s]", first.strip(), maxsplit=1)[0]
            if command.upper() not in keyless:
                assert root in from_keys, (script.name, command, first)
