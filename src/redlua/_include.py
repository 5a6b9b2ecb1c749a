"""Lua includes: shared code for shipped scripts, spliced in when a script is loaded.

A Lua script sent by EVALSHA is one chunk: it cannot ``require`` another. Shipped
scripts that need the same function (a reaper, a validation helper) keep it once in
``redlua/lua/lib/<name>.lua`` and name it on a line of its own::

    --!include ledger_reaper

The line is replaced by the library's text when the script is read (so the source,
its SHA1 and the server's line numbers all refer to the expanded text, which
``redlua scripts show NAME`` prints). A library may include others; each library
goes in at most once per script, and a cycle or an unknown name is an error when
the script is loaded, never at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import ContractError

_DIRECTIVE = re.compile(r"^--!include[ \t]+([a-z][a-z0-9_]*)[ \t]*$", re.M)
_ANY_DIRECTIVE = re.compile(r"^[ \t]*--!include\b", re.M)


def expand_includes(name: str, source: str, read: Callable[[str], str | None]) -> str:
    """Return *source* with every ``--!include LIB`` line replaced by ``read(LIB)``.

    *read* returns a library's text, or None when there is no such library. A
    directive must stand alone on its line: a line that starts with ``--!include``
    and says more is refused, as are unknown libraries and cycles (`ContractError`
    naming *name*).
    """
    if "--!include" not in source:
        return source
    done: set[str] = set()

    def expand(text: str, chain: tuple[str, ...]) -> str:
        if len(_DIRECTIVE.findall(text)) != len(_ANY_DIRECTIVE.findall(text)):
            where = f"library {chain[-1]}" if chain else "the script"
            raise ContractError(
                f"script {name}: '--!include LIB' must stand alone on its line (in {where})"
            )

        def splice(match: re.Match[str]) -> str:
            lib = match.group(1)
            if lib in chain:
                raise ContractError(f"script {name}: include cycle {' -> '.join((*chain, lib))}")
            if lib in done:
                return f"-- {lib}: included above"
            body = read(lib)
            if body is None:
                raise ContractError(f"script {name}: no Lua library named {lib!r}")
            done.add(lib)
            return expand(body.rstrip("\n"), (*chain, lib))

        return _DIRECTIVE.sub(splice, text)

    return expand(source, ())
