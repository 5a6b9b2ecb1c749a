"""`LinkOps`: pure builders of the stateful-link calls (no I/O; run them on any engine).

Each method checks its arguments, spells the keys with a `KeySchema` and returns a
`Call` whose decoder turns the script's reply into Python values: pod ids are ints,
``"-1"`` ("no link") is ``None``, replies may be ``str`` or ``bytes``.

The compat scripts (``stateful_set_link`` ... ``stateful_compute_link_if_absent``) take
the KEYS, ARGV and reply shapes of the Java and Go services (``stateful-links.md`` §3);
with ``fencing=True`` (the default) they also get the link's version key as ``KEYS[3]``
and bump it on every write. ``claim``, ``release``, ``replace_link_if`` and ``version``
are redlua's own, always fenced.

TTL arguments: ``None`` or ``-1`` is a persistent link, an int > 0 a temporary link of
that many seconds; 0 and other values raise before any I/O (a TTL of 0 would write the
link and delete it at once). Keep and grace periods: ``None``, ``-1`` or ``0`` remove
now, an int > 0 leaves a temporary link for at most that many seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, NamedTuple, TypeVar

from redlua._checks import corrupt
from redlua._checks import text as _text
from redlua._core import Call
from redlua._registry import load_script
from redlua._slots import key_slot
from redlua.stateful.keys import KeySchema, check_name, check_pod

T = TypeVar("T")

MAX_SECONDS = 10**15 - 1
"""The longest TTL, keep or grace period the scripts take (about 31 million years)."""

RemoveMode = Literal["grace", "exact"]


class TryResult(NamedTuple):
    """What `LinkOps.try_set_link` did.

    ``ok``: the pod now holds the link; ``owner``: the pod holding it (the caller's pod,
    or the persistent owner that refused it); ``previous``: the link it replaced, if any.
    """

    ok: bool
    owner: int
    previous: int | None


class Claim(NamedTuple):
    """What `LinkOps.claim` did: `TryResult` plus the link's fencing ``token``.

    When claimed, ``token`` is the version after this claim's write, larger than any
    token handed out before; when refused it is the current version.
    """

    ok: bool
    owner: int
    previous: int | None
    token: int


# -- argument checks ---------------------------------------------------------------------------


def _seconds(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be None or an int of seconds, not {type(value).__name__}")
    if value > MAX_SECONDS:
        raise ValueError(f"{what} must be at most {MAX_SECONDS} seconds, got {value}")
    return value


def ttl_arg(ttl: object) -> str:
    """Return *ttl* as the scripts' ARGV: ``"-1"`` (persistent) or positive seconds."""
    if ttl is None:
        return "-1"
    seconds = _seconds(ttl, "ttl")
    if seconds == -1:
        return "-1"
    if seconds <= 0:
        raise ValueError(
            f"ttl must be None or -1 (persistent) or an int > 0 (seconds), got {seconds}: "
            "a TTL of 0 or below would delete the link as soon as it is written"
        )
    return str(seconds)


def keep_arg(keep: object, what: str = "keep") -> str:
    """Return a keep/grace period as ARGV: ``"-1"`` (now) or positive seconds."""
    if keep is None:
        return "-1"
    seconds = _seconds(keep, what)
    if seconds < -1:
        raise ValueError(f"{what} must be None, -1 or 0 (now) or an int > 0, got {seconds}")
    return str(seconds) if seconds > 0 else "-1"


# -- reply decoding ----------------------------------------------------------------------------


@corrupt("a link")
def _pod(value: Any) -> int | None:
    text = _text(value)
    return None if text == "-1" else int(text)


@corrupt("a link")
def _owner(value: Any) -> int:
    pod = _pod(value)
    if pod is None:
        raise ValueError("the script named no pod where one was expected")
    return pod


def _first_pod(reply: Any) -> int | None:
    return _pod(reply[0])


def _first_owner(reply: Any) -> int:
    return _owner(reply[0])


def _flag(reply: Any) -> bool:
    return int(reply[0]) > 0


@corrupt("a UID hash")
def _services(reply: Any) -> dict[str, int]:
    items = (
        list(reply.items())
        if isinstance(reply, dict)
        else list(zip(reply[::2], reply[1::2], strict=True))
    )
    return {_text(svc): _owner(pod) for svc, pod in items}


@corrupt("a link's version key")
def _token(value: Any) -> int:
    return int(_text(value))


def _version(reply: Any) -> int:
    return _token(reply[0])


class LinkOps:
    """Build the `Call`s of the link scripts for one key schema.

    *remove_mode* picks what ``remove_link``/``remove_link_if`` do with a keep period:
    ``"grace"`` (default) leaves a temporary link that long, ``"exact"`` deletes at once
    as the TPF Java service does. With ``fencing=False`` the compat calls send the two
    keys the Java and Go services send and leave the version alone.

    UIDs, services and pods are checked before any I/O (`check_name`, `check_pod`);
    service names may not contain ``#`` (the version key appends ``#v``). With the
    ``slug`` schema, whose per-UID keys are in different hash slots, UIDs and services
    may not contain ``:`` either, and calls touching both keys are marked cross-slot
    (standalone servers only).
    """

    def __init__(
        self, schema: KeySchema, *, remove_mode: RemoveMode = "grace", fencing: bool = True
    ) -> None:
        if not isinstance(schema, KeySchema):
            raise TypeError(f"schema must be a KeySchema, not {type(schema).__name__}")
        if remove_mode not in ("grace", "exact"):
            raise ValueError(f"remove_mode must be 'grace' or 'exact', got {remove_mode!r}")
        if not isinstance(fencing, bool):
            raise TypeError("fencing must be a bool")
        self.schema = schema
        self.remove_mode: RemoveMode = remove_mode
        self.fencing = fencing
        self._reserved = "" if schema.cluster_safe else ":"

    def __repr__(self) -> str:
        return f"LinkOps({self.schema!r}, remove_mode={self.remove_mode!r}, fencing={self.fencing})"

    # -- keys --------------------------------------------------------------------------------

    def _uid(self, uid: object) -> str:
        return check_name("uid", uid, reserved=self._reserved)

    def _service(self, service: object) -> str:
        return check_name("service", service, reserved="#" + self._reserved)

    def _link_keys(self, uid: object, service: object, *, fenced: bool) -> tuple[str, ...]:
        u, s = self._uid(uid), self._service(service)
        keys = (self.schema.link_key(u, s), self.schema.uid_key(u))
        return (*keys, self.schema.version_key(u, s)) if fenced else keys

    def _call(
        self, name: str, keys: tuple[str, ...], args: tuple[str, ...], decode: Callable[[Any], T]
    ) -> Call[T]:
        spans_uid = len(keys) > 1  # link (+ version) and UID hash: two slots in slug
        cross = spans_uid and not self.schema.cluster_safe
        # The names were checked and every key carries the UID's tag (sf) or is the
        # link key (slug): the call needs no second check, only the first key's slot.
        return Call.trusted(
            load_script(name), keys, args, decode, key_slot(keys[0]), cross_slot=cross
        )

    def _remove_mode_args(self) -> tuple[str, ...]:
        return () if self.remove_mode == "grace" else ("exact",)

    # -- the compat scripts ------------------------------------------------------------------

    def set_link(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> Call[int | None]:
        """Link *uid* to *pod* unconditionally; the call returns the previous pod or None."""
        keys = self._link_keys(uid, service, fenced=self.fencing)
        args = (self._service(service), str(check_pod(pod)), ttl_arg(ttl))
        return self._call("stateful_set_link", keys, args, _first_pod)

    def try_set_link(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> Call[TryResult]:
        """Link *uid* to *pod* unless another pod holds a persistent link: a `TryResult`."""
        keys = self._link_keys(uid, service, fenced=self.fencing)
        mine = check_pod(pod)
        args = (self._service(service), str(mine), ttl_arg(ttl))

        def decode(reply: Any) -> TryResult:
            owner = _owner(reply[0])
            previous = _pod(reply[1]) if len(reply) > 1 else None
            return TryResult(owner == mine, owner, previous)

        return self._call("stateful_try_set_link", keys, args, decode)

    def set_link_if_absent(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> Call[int]:
        """Link *uid* to *pod* if it has no link; the call returns the pod actually linked."""
        keys = self._link_keys(uid, service, fenced=self.fencing)
        args = (self._service(service), str(check_pod(pod)), ttl_arg(ttl))
        return self._call("stateful_set_link_if_absent", keys, args, _first_owner)

    def remove_link(self, uid: str | int, service: str, keep: int | None = None) -> Call[bool]:
        """Remove the link (after *keep* seconds in grace mode); True if there was one."""
        keys = self._link_keys(uid, service, fenced=self.fencing)
        args = (self._service(service), keep_arg(keep), *self._remove_mode_args())
        return self._call("stateful_remove_link", keys, args, _flag)

    def remove_link_if(
        self, uid: str | int, service: str, pod: int, keep: int | None = None
    ) -> Call[bool]:
        """Remove the link only while it holds *pod*; True if it did and was removed."""
        keys = self._link_keys(uid, service, fenced=self.fencing)
        args = (
            self._service(service),
            keep_arg(keep),
            str(check_pod(pod)),
            *self._remove_mode_args(),
        )
        return self._call("stateful_remove_link_with_id", keys, args, _flag)

    def get_link(self, uid: str | int, service: str) -> Call[int | None]:
        """Read the pod *uid* is linked to (temporary or persistent), or None."""
        key = self.schema.link_key(self._uid(uid), self._service(service))
        return self._call("stateful_get_link", (key,), (), _first_pod)

    def get_link_if_persist(self, uid: str | int, service: str) -> Call[int | None]:
        """Read the pod *uid* is linked to if the link is persistent, else None."""
        key = self.schema.link_key(self._uid(uid), self._service(service))
        return self._call("stateful_get_link_if_persist", (key,), (), _first_pod)

    def linked_services(self, uid: str | int) -> Call[dict[str, int]]:
        """Read every service where *uid* holds a persistent link: ``{service: pod}``."""
        key = self.schema.uid_key(self._uid(uid))
        return self._call("stateful_get_link_service", (key,), (), _services)

    def compute_link_if_absent_legacy(
        self, uid: str | int, service: str, min_timestamp_ms: int
    ) -> Call[int | None]:
        """The legacy in-Redis placement: the UID hash's link, or the least-loaded pod.

        Pods whose heartbeat is older than *min_timestamp_ms* are skipped; the chosen
        pod is written to the UID hash only (no link string, see §6.6 of the spec), so
        the call is cross-slot even in the ``sf`` schema: standalone servers only.
        """
        if isinstance(min_timestamp_ms, bool) or not isinstance(min_timestamp_ms, int):
            raise TypeError(
                f"min_timestamp_ms must be an int, not {type(min_timestamp_ms).__name__}"
            )
        svc = self._service(service)
        keys = (self.schema.uid_key(self._uid(uid)), self.schema.state_key(svc))
        script = load_script("stateful_compute_link_if_absent")
        return Call(script, keys, (svc, str(min_timestamp_ms)), _first_pod, cross_slot=True)

    # -- redlua's fenced scripts -------------------------------------------------------------

    def claim(
        self,
        uid: str | int,
        service: str,
        pod: int,
        ttl: int | None = None,
        *,
        downgrade: bool = False,
    ) -> Call[Claim]:
        """Claim the link for *pod* (TrySetLink semantics) and get a fencing token.

        Unless *downgrade*, a pod re-claiming its own persistent link with a TTL keeps
        the link persistent.
        """
        if not isinstance(downgrade, bool):
            raise TypeError("downgrade must be a bool")
        keys = self._link_keys(uid, service, fenced=True)
        mine = check_pod(pod)
        args = (self._service(service), str(mine), ttl_arg(ttl), "0" if downgrade else "1")

        def decode(reply: Any) -> Claim:
            owner = _owner(reply[0])
            return Claim(owner == mine, owner, _pod(reply[1]), _token(reply[2]))

        return self._call("stateful_claim", keys, args, decode)

    def release(
        self, uid: str | int, service: str, pod: int, grace: int | None = None
    ) -> Call[tuple[bool, int]]:
        """Release the link if *pod* holds it (after *grace* seconds): (released, version)."""
        keys = self._link_keys(uid, service, fenced=True)
        args = (self._service(service), str(check_pod(pod)), keep_arg(grace, "grace"))

        def decode(reply: Any) -> tuple[bool, int]:
            return int(reply[0]) > 0, _token(reply[1])

        return self._call("stateful_release", keys, args, decode)

    def replace_link_if(
        self,
        uid: str | int,
        service: str,
        expected: int | None,
        new: int,
        ttl: int | None = None,
    ) -> Call[tuple[bool, int | None]]:
        """Write *new* only if the link holds *expected* (None: no link now).

        The call returns (replaced, the link after the call).
        """
        keys = self._link_keys(uid, service, fenced=True)
        want = "-1" if expected is None else str(check_pod(expected, "expected"))
        args = (self._service(service), want, str(check_pod(new, "new")), ttl_arg(ttl))

        def decode(reply: Any) -> tuple[bool, int | None]:
            return int(reply[0]) > 0, _pod(reply[1])

        return self._call("stateful_replace_link_if", keys, args, decode)

    def version(self, uid: str | int, service: str) -> Call[int]:
        """Read the link's fencing version (0 when it was never written by redlua)."""
        key = self.schema.version_key(self._uid(uid), self._service(service))
        return self._call("stateful_get_version", (key,), (), _version)

    def batch_get(self, uids: Iterable[str | int], service: str) -> list[Call[int | None]]:
        """One `get_link` call per UID; run them with ``engine.run_many`` (grouped per node)."""
        if isinstance(uids, (str, bytes)):
            raise TypeError("uids must be an iterable of UIDs, not a single string")
        return [self.get_link(uid, service) for uid in uids]
