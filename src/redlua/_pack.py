"""Packing commands for the wire: hiredis's C packer whenever it packs as redis-py would.

redis-py's sync connections already pack with hiredis when it is installed (the
``fast`` extra); its asyncio connections always pack in Python, one ``join`` per
argument. `pack` uses ``hiredis.pack_command`` for both when the connection encodes
text as UTF-8 with strict errors, which is what hiredis does; anything hiredis
refuses (a ``bytearray``, a ``bool``) goes to the connection's own packer, which
converts it or raises redis-py's `DataError` as before. Sync redis-py connections send
each chunk of a list with its own ``sendall``: `coalesce` joins the small ones first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def _hiredis_packer() -> Callable[[Any], bytes] | None:
    try:
        module = importlib.import_module("hiredis")
    except ImportError:  # the fast extra is not installed
        return None
    packer: Callable[[Any], bytes] | None = getattr(module, "pack_command", None)
    return packer


_hiredis_pack = _hiredis_packer()
_UTF8 = frozenset({"utf-8", "utf8", "UTF-8", "UTF8"})


def pack(conn: Any, command: tuple[Any, ...]) -> list[bytes]:
    """Return *command* packed for *conn*, as chunks for ``send_packed_command``."""
    if _hiredis_pack is not None:
        encoder = conn.encoder
        if encoder.encoding in _UTF8 and encoder.encoding_errors == "strict":
            try:
                return [_hiredis_pack(command)]
            except TypeError:
                pass  # redis-py's packer converts it, or raises its DataError
    packed: list[bytes] = conn.pack_command(*command)
    return packed


BIG = 65536
"""A chunk at least this long is sent as it is; shorter ones are joined into one send."""


def coalesce(chunks: list[Any]) -> list[Any]:
    """Join runs of small chunks, so a batch of small calls costs one ``sendall``."""
    out: list[Any] = []
    run: list[Any] = []
    for chunk in chunks:
        if len(chunk) < BIG:
            run.append(chunk)
            continue
        if run:
            out.append(b"".join(run))
            run = []
        out.append(chunk)
    if run:
        out.append(b"".join(run))
    return out
