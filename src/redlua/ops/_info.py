"""Reading INFO, CLUSTER INFO and SLOWLOG replies: pure functions over raw text.

The operations module talks to servers on raw connections (no redis-py response
callbacks), so it reads the replies itself. Keys are kept as the server sends
them: Redis and Valkey differ by which keys exist (``server_name`` and
``valkey_version`` only on Valkey), and the callers look for keys, not versions.
"""

from __future__ import annotations

from typing import Any


def text(reply: Any) -> str:
    """Return a reply (bytes or str) as text."""
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def parse_info(reply: Any) -> dict[str, str]:
    """Return the ``key:value`` lines of an INFO (or CLUSTER INFO) reply, values as text.

    Section headers (``# Memory``) and blank lines are skipped; every key INFO
    sends is unique across its sections.
    """
    found: dict[str, str] = {}
    for raw in text(reply).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if sep:
            found[key] = value
    return found


def parse_fields(value: str) -> dict[str, str]:
    """Split an INFO value such as ``calls=3,usec=40,usec_per_call=13.33`` into a dict."""
    fields: dict[str, str] = {}
    for part in value.split(","):
        key, sep, item = part.partition("=")
        if sep:
            fields[key] = item
    return fields


def as_int(value: str | None) -> int | None:
    """Return *value* as an int, or None when it is missing or not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return None


def as_float(value: str | None) -> float | None:
    """Return *value* as a float, or None when it is missing or not a number."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def more_count(arg: str) -> int | None:
    """Return N from SLOWLOG's last argument ``... (N more arguments)``, else None."""
    if arg.startswith("... (") and arg.endswith(" more arguments)"):
        return as_int(arg[len("... (") : -len(" more arguments)")])
    return None
