"""The shipped scripts as one Redis Functions library, and the engine modes.

Functions are data on the server: persisted in RDB and AOF, replicated, kept
across restarts and failovers, so an engine in ``mode="functions"`` never
reloads anything after those (scripts live in a volatile cache; see
``research/scripting.md`` §3). The library is generated from the shipped
scripts, so each recipe's Lua is still written once::

    #!lua name=redlua_v1a2b3c4d5e6f
    redis.register_function{function_name='redlua_v1a2b3c4d5e6f_locks_acquire', flags={},
      description=[[Take a lock ...]], callback=function(KEYS, ARGV)
    <the script's text, shebang line blanked, unchanged otherwise>
    end}

Each script's body runs as the callback, with ``KEYS`` and ``ARGV`` as its
parameters instead of globals; its shebang flags become the function's flags.
A script without a shebang gets none: as a function it is refused before it runs
when memory is full, where EVALSHA would run it and check its commands up to its
first write; the engine then sends that one call by EVALSHA, so behaviour under
OOM stays that of scripts mode (a MULTI of functions keeps the refusal).

Function names are global across libraries, so they carry the library's
version: ``redlua_v<12 hex digits>``, the start of a SHA1 over the generator's
format and every script's name, flags and text. Any change to any shipped
script makes a new library that sits beside the old one (two releases can serve
one keyspace during a rolling deploy); `Engine.delete_old_libraries` removes the
others when asked.

Errors a function raises name ``user_function:<library line>``; `translate`
turns them back into the script's own line and SHA1, so the same error reads the
same in both modes.

An engine's mode is its ``mode=`` option, else the ``REDLUA_MODE`` environment
variable (``scripts`` or ``functions``), else ``scripts``: EVALSHA stays the
default because FCALL measured no faster (up to a few microseconds more per call on
the server, within noise end to end; ``bench/cases_engine.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final

from ._registry import shipped_scripts
from ._script import Script

__all__ = [
    "FunctionLibrary",
    "LibraryFunction",
    "MODES",
    "build_library",
    "function_library",
    "resolve_mode",
]

MODES: Final = ("scripts", "functions")
MODE_VARIABLE: Final = "REDLUA_MODE"
PREFIX: Final = "redlua_v"
_FORMAT: Final = 1  # bump when the generated text changes shape: it enters the name
_WORD = re.compile(r"[A-Za-z0-9_]+")
_SUFFIX = re.compile(r"script: (\w+), on @user_function:\d+")
_LINE = re.compile(r"user_function:(\d+)")
_COMPILE = re.compile(r"^ERR Error compiling function: user_function:(\d+): (.*)$", re.S)


def resolve_mode(mode: str | None) -> str:
    """Return the engine mode for *mode*, or from ``REDLUA_MODE`` when it is None.

    ``"scripts"`` (the default) runs every call with EVALSHA; ``"functions"``
    runs the shipped scripts with FCALL from the library and the others with
    EVALSHA. Raise ValueError for anything else.
    """
    if mode is None:
        mode = os.environ.get(MODE_VARIABLE, "").strip().lower() or "scripts"
        if mode not in MODES:
            raise ValueError(f"{MODE_VARIABLE} must be 'scripts' or 'functions', got {mode!r}")
        return mode
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, not {type(mode).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be 'scripts' or 'functions', got {mode!r}")
    return mode


@dataclass(frozen=True)
class LibraryFunction:
    """One script of the library: its function name and where its body starts.

    Line ``L`` of the script is line ``line + L`` of the library.
    """

    name: str
    script: Script
    line: int


@dataclass(frozen=True)
class FunctionLibrary:
    """A generated function library: its name, its source and its functions."""

    name: str
    source: str
    functions: Mapping[str, LibraryFunction]  # by function name
    by_sha: Mapping[str, str]  # script SHA1 -> function name

    def function_for(self, script: Script) -> str | None:
        """Return the function that runs *script*, or None when it is not in the library."""
        return self.by_sha.get(script.sha)

    def load_command(self, *, replace: bool = False) -> tuple[str, ...]:
        """Return FUNCTION LOAD of this library (with REPLACE to overwrite an altered copy).

        Without REPLACE a server that has the library answers "already exists" at
        once, without compiling it: many clients healing together cost one compile.
        """
        return ("FUNCTION", "LOAD", *(("REPLACE",) if replace else ()), self.source)

    def translate(self, text: str) -> str:
        """Return error reply *text* with a function's lines and name made the script's.

        ``ERR user_function:812: ... script: redlua_v…_counter_get, on
        @user_function:812.`` becomes ``ERR user_script:14: ... script: <sha1>, on
        @user_script:14.``, what EVALSHA of the same script would have said (Valkey's
        "killed by user with FUNCTION KILL" reads "SCRIPT KILL" as for a script). Texts
        that name no function of this library come back unchanged.
        """
        found = _SUFFIX.search(text)
        fn = self.functions.get(found.group(1)) if found else None
        if fn is None:
            return text
        text = _LINE.sub(lambda m: f"user_script:{int(m.group(1)) - fn.line}", text)
        text = text.replace("killed by user with FUNCTION KILL", "killed by user with SCRIPT KILL")
        return text.replace(f"script: {fn.name},", f"script: {fn.script.sha},")

    def compile_error(self, text: str) -> tuple[Script, str] | None:
        """Return the script and the EVALSHA-style text of a library compile error, if one."""
        found = _COMPILE.match(text)
        if not found:
            return None
        line = int(found.group(1))
        owner = max(
            (fn for fn in self.functions.values() if fn.line < line),
            key=lambda fn: fn.line,
            default=None,
        )
        if owner is None:
            return None
        return owner.script, (
            f"ERR Error compiling script (new function): user_script:{line - owner.line}: "
            f"{found.group(2)}"
        )


def _long_string(text: str) -> str:
    """Quote *text* as a Lua long string whose closing bracket it does not contain."""
    level = 0
    while f"]{'=' * level}]" in text or text.endswith("]" + "=" * level):
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def _version(scripts: list[Script]) -> str:
    digest = hashlib.sha1(f"redlua function library format {_FORMAT}\n".encode())
    for script in scripts:
        for part in (script.name, ",".join(sorted(script.flags)), script.legacy_source):
            digest.update(part.encode())
            digest.update(b"\0")
    return digest.hexdigest()[:12]


def build_library(scripts: Iterable[Script]) -> FunctionLibrary:
    """Generate the function library of *scripts*; its name changes with any of them.

    Raise ValueError for a script name that cannot be part of a function name
    (letters, digits and ``_`` only) or two scripts under one name.
    """
    chosen = sorted(scripts, key=lambda s: s.name)
    names = [s.name for s in chosen]
    if len(set(names)) != len(names):
        raise ValueError("two scripts share a name: a library holds each name once")
    for name in names:
        if not _WORD.fullmatch(name):
            raise ValueError(f"script {name!r}: a function name takes letters, digits and _ only")
    library = PREFIX + _version(chosen)
    parts = [
        f"#!lua name={library}\n",
        f"-- {len(chosen)} redlua scripts as functions, generated from redlua/lua/*.lua\n",
    ]
    line = 3  # the line the next part starts on
    functions: dict[str, LibraryFunction] = {}
    for script in chosen:
        fname = f"{library}_{script.name}"
        flags = ", ".join(f"'{flag}'" for flag in sorted(script.flags))
        purpose = script.contract.purpose if script.contract else script.name
        body = script.legacy_source
        if not body.endswith("\n"):
            body += "\n"
        opening = (
            f"redis.register_function{{function_name='{fname}', flags={{{flags}}}, "
            f"description={_long_string(purpose)}, callback=function(KEYS, ARGV)\n"
        )
        functions[fname] = LibraryFunction(fname, script, line + opening.count("\n") - 1)
        parts += [opening, body, "end}\n"]
        line += opening.count("\n") + body.count("\n") + 1
    return FunctionLibrary(
        name=library,
        source="".join(parts),
        functions=functions,
        by_sha={fn.script.sha: fn.name for fn in functions.values()},
    )


@cache
def function_library() -> FunctionLibrary:
    """Return the library of every shipped script (built once per process)."""
    return build_library(shipped_scripts().values())
