"""The scripts shipped in ``redlua/lua/`` and a registry that users can extend.

Shipped scripts are package data, read once through ``importlib.resources`` so
they are found in an installed wheel as in a checkout; each must carry a
contract header (see `Script`). Code they share lives in ``lua/lib/`` and is
spliced in by ``--!include NAME`` lines (see `redlua._include`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path

from ._include import expand_includes
from ._script import Script
from .errors import UnknownScriptError


@cache
def shipped_scripts() -> Mapping[str, Script]:
    """Return every script shipped in ``redlua/lua/``, by name, parsed and checked."""
    folder = resources.files(__package__).joinpath("lua")
    found: dict[str, Script] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".lua"):
            name = entry.name[: -len(".lua")]
            source = expand_includes(name, entry.read_text(encoding="utf-8"), shipped_library)
            found[name] = Script.from_source(name, source, require_contract=True)
    return found


@cache
def shipped_library(name: str) -> str | None:
    """Return the text of the Lua library ``redlua/lua/lib/<name>.lua``, or None."""
    entry = resources.files(__package__).joinpath("lua").joinpath("lib").joinpath(f"{name}.lua")
    return entry.read_text(encoding="utf-8") if entry.is_file() else None


def load_script(name: str) -> Script:
    """Return the shipped script *name* (``locks_acquire`` for ``lua/locks_acquire.lua``)."""
    try:
        return shipped_scripts()[name]
    except KeyError:
        raise UnknownScriptError(f"no shipped script named {name!r}") from None


class Registry:
    """Scripts known to one engine: the shipped ones plus those registered on it."""

    def __init__(self) -> None:
        self._own: dict[str, Script] = {}
        self._lock = threading.Lock()

    def register(self, name: str, source: str | Script | Path) -> Script:
        """Add a script under *name* from source text, a file path or a `Script`.

        A name may be registered again with the same source (a no-op); another
        source under a taken name raises `ValueError`, so two modules cannot
        silently replace each other's script.
        """
        if isinstance(source, Script):
            script = source if source.name == name else Script(name, source.source, source.contract)
        elif isinstance(source, Path):
            script = Script.from_file(source, name=name)
        elif isinstance(source, str):
            script = Script.from_source(name, source)
        else:
            raise TypeError("source must be str, pathlib.Path or Script")
        with self._lock:
            known = self._own.get(name) or shipped_scripts().get(name)
            if known is not None and known.sha != script.sha:
                raise ValueError(f"a different script is already registered as {name!r}")
            self._own[name] = script
        return script

    def get(self, name: str) -> Script:
        """Return the script registered or shipped under *name*."""
        script = self._own.get(name) or shipped_scripts().get(name)
        if script is None:
            raise UnknownScriptError(f"no script named {name!r} is registered or shipped")
        return script

    def __iter__(self) -> Iterator[Script]:
        merged = {**shipped_scripts(), **self._own}
        return iter(merged[n] for n in sorted(merged))

    def __contains__(self, name: object) -> bool:
        return name in self._own or name in shipped_scripts()
