"""Lua includes: ``--!include LIB`` lines spliced from ``lua/lib`` when scripts are read."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from redlua import ContractError
from redlua._include import expand_includes
from redlua._registry import shipped_library, shipped_scripts

LIBS = {
    "a": "local function a() return 1 end",
    "b": "--!include a\nlocal function b() return a() + 1 end",
    "loop1": "--!include loop2",
    "loop2": "--!include loop1",
    "bad": "--!include a -- and more",
}


def test_a_directive_line_is_replaced_by_the_library() -> None:
    """The directive's line becomes the library's text; the other lines stay as they were."""
    out = expand_includes("s", "local x = 1\n--!include a\nreturn a()\n", LIBS.get)
    assert out == "local x = 1\nlocal function a() return 1 end\nreturn a()\n"


def test_libraries_nest_and_go_in_once() -> None:
    """A library may include another; a second include of the same library adds nothing."""
    out = expand_includes("s", "--!include b\n--!include a\nreturn b()", LIBS.get)
    assert out.count("local function a()") == 1
    assert out.index("local function a()") < out.index("local function b()")
    assert "-- a: included above" in out


def test_a_script_without_directives_is_left_alone() -> None:
    """Sources without a directive come back as the same object (no copy, same SHA)."""
    source = "return 1 -- mentions --!include only inside a line"
    assert expand_includes("s", source, LIBS.get) is source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("--!include missing", "no Lua library named 'missing'"),
        ("--!include loop1", "include cycle loop1 -> loop2 -> loop1"),
        ("--!include a; return 1", "'--!include LIB' must stand alone on its line (in the script)"),
        ("--!include bad", "'--!include LIB' must stand alone on its line (in library bad)"),
    ],
)
def test_bad_includes_fail_when_the_script_is_read(source: str, message: str) -> None:
    """Unknown libraries, cycles and malformed directives raise ContractError naming the script."""
    with pytest.raises(ContractError, match=re.escape(f"script s: {message}")):
        expand_includes("s", source, LIBS.get)


def test_every_library_is_used_and_says_what_it_expects() -> None:
    """Each file in lua/lib opens with a comment and is included by a script or a library."""
    folder = resources.files("redlua").joinpath("lua")
    texts = [e.read_text() for e in folder.iterdir() if e.name.endswith(".lua")]
    lib = folder.joinpath("lib")
    names = sorted(e.name[:-4] for e in lib.iterdir() if e.name.endswith(".lua"))
    texts += [lib.joinpath(f"{name}.lua").read_text() for name in names]
    assert names, "no Lua libraries found"
    for name in names:
        text = shipped_library(name)
        assert text is not None and text.startswith("-- ")
        directive = re.compile(rf"^--!include {name}$", re.M)
        assert any(directive.search(t) for t in texts), f"library {name} is included nowhere"
    assert shipped_library("no_such_library") is None


def test_shipped_scripts_hold_no_directive_after_loading() -> None:
    """Every shipped script is fully expanded: no directive line reaches the server."""
    for script in shipped_scripts().values():
        assert not re.search(r"^[ \t]*--!include", script.source, re.M), script.name
