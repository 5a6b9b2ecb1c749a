"""Turn what a user names (a script name, Lua source, a `Script`) into a `Script`."""

from __future__ import annotations

from typing import Any

from redlua._script import Script
from redlua.errors import ContractError, UnknownScriptError

DEFAULT_NAME = "user_script"


def resolve_script(engine: Any, script: object, name: str = DEFAULT_NAME) -> Script:
    """Return the `Script` *script* stands for on *engine*.

    A `Script` is itself; a str is the name of a script registered on the engine
    or shipped with redlua when one has that name, else Lua source, named *name*
    (its contract header is used if it parses). A one-word str that names no
    script raises `UnknownScriptError` rather than being compiled as Lua.
    """
    if isinstance(script, Script):
        return script
    if not isinstance(script, str):
        raise TypeError(f"script must be a Script, a script name or Lua source, not "
                        f"{type(script).__name__}")  # fmt: skip
    if script in engine.registry:
        found: Script = engine.registry.get(script)
        return found
    if not script.strip():
        raise ValueError("script must not be empty")
    if len(script.split()) == 1:
        raise UnknownScriptError(
            f"no script named {script!r} is registered or shipped (pass Lua source or a Script)"
        )
    try:
        return Script.from_source(name, script)
    except ContractError:
        return Script(name, script)  # a broken header does not stop a debugging session
