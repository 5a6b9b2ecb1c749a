"""Redis Cluster hash slots: the cluster's own rule, computed before any I/O.

A key's slot is ``CRC16(key) mod 16384``, where CRC16 is the XMODEM variant
(``binascii.crc_hqx`` with seed 0) and only the part between the first ``{`` and
the next ``}`` is hashed when that part is non-empty (the *hash tag*). Keys that
must live together (every multi-key script) share a tag: ``acct:{7}:cash``,
``acct:{7}:escrow``.
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Iterable

from .errors import CrossSlotError

SLOTS = 16384


def _encode(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    raise TypeError(f"key must be str or bytes, not {type(key).__name__}")


def hash_tag(key: str | bytes) -> bytes:
    """Return the bytes of *key* that the cluster hashes (its tag, or all of it)."""
    if type(key) is str:  # braces are ASCII: cut the text, then encode only the tag
        start = key.find("{")
        if start != -1:
            end = key.find("}", start + 1)
            if end > start + 1:
                return key[start + 1 : end].encode()
        return key.encode()
    raw = _encode(key)
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            return raw[start + 1 : end]
    return raw


def key_slot(key: str | bytes) -> int:
    """Return the cluster hash slot (0..16383) of *key*, as ``CLUSTER KEYSLOT`` does."""
    return crc_hqx(hash_tag(key), 0) % SLOTS


def common_slot(keys: Iterable[str | bytes]) -> int | None:
    """Return the one slot all *keys* share, ``None`` for no keys.

    Raise `CrossSlotError` naming two keys that differ, before anything is sent,
    so behaviour does not change when a deployment moves to a cluster.
    """
    keys = tuple(keys)
    if not keys:
        return None
    shared = _shared_tag(keys)
    if shared is not None:
        return crc_hqx(shared, 0) % SLOTS
    slot = key_slot(keys[0])
    for key in keys[1:]:
        this = key_slot(key)
        if this != slot:
            raise CrossSlotError(
                f"keys {keys[0]!r} (slot {slot}) and {key!r} (slot {this}) are in different "
                "hash slots; give keys used together one {hash tag}"
            )
    return slot


def _shared_tag(keys: tuple[str | bytes, ...]) -> bytes | None:
    """Return the tag every key hashes by when they visibly share one, else None."""
    lead = keys[0]
    if type(lead) is str:  # fast path: keys that repeat the first key's "...{tag}" prefix
        start = lead.find("{")
        end = lead.find("}", start + 1) if start != -1 else -1
        if end > start + 1:
            prefix = lead[: end + 1]
            for key in keys:
                if type(key) is not str or not key.startswith(prefix):
                    break
            else:
                return lead[start + 1 : end].encode()
    tags = [hash_tag(key) for key in keys]
    return tags[0] if tags.count(tags[0]) == len(tags) else None
