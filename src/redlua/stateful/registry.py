"""The pod registry's pure half: the state-value codec, pod views and call builders.

Every period each pod of a stateful service writes its state into the service's
state hash (``shared/spec/stateful-links.md`` §2.3, §4.2, §9.2 L1)::

    sf:{<ns>:state:<svc>}        pod -> "<load>-<epochMillis>"   read by Java and Go
    sf:{<ns>:state:<svc>}meta    pod -> JSON metadata            redlua only
    sf:{<ns>:state:<svc>}links   pod -> links reserved since     redlua only
                                        the pod's last heartbeat

The three keys share one hash tag, so a heartbeat and a view are one script each,
on one slot of a cluster. Times come from the server's clock (``TIME``), so pods
with skewed clocks still agree on who is alive (§6.8). Seconds are floats here and
milliseconds in Lua: the builders convert once.

A pod is *alive* while its state value is at most *expire* old; *routable* when
alive and not ``SHUTDOWN``; *available* when alive and ``READY`` (the three TPF
notions). The metadata counts only when it was written by the same heartbeat as
the state value (its ``at`` and ``load`` match the value's): a value rewritten
since by Java, Go or host code is read as that writer meant it. The codec reads
homo's ``"<load>-<epochMillis>-<state>"`` too (state 0: shut down) and treats any
other format as not alive, never as an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

from redlua._checks import text as _text
from redlua._checks import to_millis
from redlua._core import Call
from redlua._registry import load_script
from redlua.stateful.keys import KeySchema, check_name, check_pod

MAX_NUMBER = 10**15 - 1  # the scripts take at most 15 digits: exact in a Lua double
MAX_ADDRESS = 512

_LOAD = r"([0-9]{1,15}(?:\.[0-9]{1,9})?)"
_COMPAT = re.compile(_LOAD + r"-([0-9]{1,15})")
_HOMO = re.compile(_LOAD + r"-([0-9]{1,15})-([01])")
_POD_FIELD = re.compile(r"0|[1-9][0-9]{0,14}")
_INCARNATION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Routing(str, Enum):
    """What a pod accepts: everything, only UIDs it already hosts, or nothing."""

    READY = "READY"
    DENY_NEW = "DENY_NEW"
    SHUTDOWN = "SHUTDOWN"


# -- the state value codec -------------------------------------------------------------------


@dataclass(frozen=True)
class StateValue:
    """A state value taken apart; ``available`` is homo's flag (None in the 2-part value)."""

    load: int
    ms: int
    available: bool | None = None


def encode_state(load: int, ms: int) -> str:
    """Return the compat state value ``"<load>-<epochMillis>"``."""
    return f"{_count('load', load)}-{_count('ms', ms)}"


def parse_state(value: str | bytes) -> StateValue | None:
    """Read a state value (TPF 2-part or homo 3-part); None for any other format."""
    text = _text(value)
    if match := _COMPAT.fullmatch(text):
        return StateValue(round(float(match[1])), int(match[2]))
    if match := _HOMO.fullmatch(text):
        return StateValue(round(float(match[1])), int(match[2]), match[3] == "1")
    return None


# -- views -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodState:
    """One pod as a view saw it; ``raw`` is the state value as stored.

    ``heartbeat_ms`` and ``age_ms`` are None when the value could not be read
    (the pod is then not alive); ``capacity``, ``address`` and ``incarnation``
    are None unless a redlua heartbeat wrote the current value.
    """

    pod: int
    load: int
    reserved: int
    heartbeat_ms: int | None
    age_ms: int | None
    routing: Routing
    capacity: int | None
    address: str | None
    incarnation: str | None
    alive: bool
    raw: str

    @property
    def routable(self) -> bool:
        """Alive and not shut down: existing links may still be sent here."""
        return self.alive and self.routing is not Routing.SHUTDOWN

    @property
    def available(self) -> bool:
        """Alive and ready: new UIDs may be placed here."""
        return self.alive and self.routing is Routing.READY

    @property
    def effective_load(self) -> int:
        """The load of the last heartbeat plus the links reserved since."""
        return self.load + self.reserved


@dataclass(frozen=True)
class PodView:
    """A service's pods at one instant of the server's clock, ordered by pod id."""

    service: str
    pods: tuple[PodState, ...]
    now_ms: int
    _index: dict[int, PodState] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {p.pod: p for p in self.pods})

    def get(self, pod: int) -> PodState | None:
        """Return the state of *pod*, or None when the service has no such pod."""
        return self._index.get(pod)

    def alive(self) -> tuple[PodState, ...]:
        """Return the pods whose heartbeat is recent enough."""
        return tuple(p for p in self.pods if p.alive)

    def routable(self) -> tuple[PodState, ...]:
        """Return the alive pods that have not shut down."""
        return tuple(p for p in self.pods if p.routable)

    def available(self) -> tuple[PodState, ...]:
        """Return the alive pods that take new UIDs."""
        return tuple(p for p in self.pods if p.available)

    def effective_load(self, pod: int) -> int:
        """Return *pod*'s load plus its reservations; `KeyError` for an unknown pod."""
        state = self.get(pod)
        if state is None:
            raise KeyError(pod)
        return state.effective_load


def _pairs(flat: Any) -> dict[str, str]:
    if isinstance(flat, dict):
        return {_text(k): _text(v) for k, v in flat.items()}
    items = [_text(item) for item in flat or ()]
    return dict(zip(items[::2], items[1::2], strict=False))  # an odd tail is dropped


def _number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _meta(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _routing(meta: dict[str, Any], value: StateValue | None) -> Routing:
    name = meta.get("routing")
    if isinstance(name, str) and name in Routing.__members__:
        return Routing[name]
    if value is not None and value.available is False:
        return Routing.SHUTDOWN
    return Routing.READY


def _same_beat(meta: dict[str, Any], value: StateValue | None) -> bool:
    """Tell whether *meta* was written with *value* (not replaced since by another writer)."""
    if value is None:
        return False
    return _number(meta.get("at")) == value.ms and _number(meta.get("load")) == value.load


def _pod_state(
    pod: int, raw: str, meta_text: str | None, reserved: str | None, *, now: int, expire_ms: int
) -> PodState:
    value = parse_state(raw)
    meta = _meta(meta_text)
    if not _same_beat(meta, value):
        meta = {}
    address = meta.get("address")
    incarnation = meta.get("incarnation")
    return PodState(
        pod=pod,
        load=value.load if value else 0,
        reserved=max(0, _number(reserved) or 0),
        heartbeat_ms=value.ms if value else None,
        age_ms=now - value.ms if value else None,
        routing=_routing(meta, value),
        capacity=_number(meta.get("capacity")),
        address=address if isinstance(address, str) else None,
        incarnation=incarnation if isinstance(incarnation, str) else None,
        alive=value is not None and value.ms >= now - expire_ms,
        raw=raw,
    )


def decode_view(service: str, expire_ms: int, reply: Any) -> PodView:
    """Build a `PodView` from the reply of ``stateful_pods``."""
    now = int(reply[0])
    states, metas, reserved = (_pairs(part) for part in reply[1:4])
    pods = [
        _pod_state(
            int(field), raw, metas.get(field), reserved.get(field), now=now, expire_ms=expire_ms
        )
        for field, raw in states.items()
        if _POD_FIELD.fullmatch(field)  # a non-canonical id is no pod any script matches
    ]
    return PodView(service, tuple(sorted(pods, key=lambda p: p.pod)), now)


# -- argument checks -------------------------------------------------------------------------


def _count(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int >= 0, not {type(value).__name__}")
    if not 0 <= value <= MAX_NUMBER:
        raise ValueError(f"{what} must be an int from 0 to {MAX_NUMBER}, got {value}")
    return value


def _pod(pod: object) -> str:
    return str(_count("pod", check_pod(pod)))


def _service(schema: object, service: object) -> str:
    if not isinstance(schema, KeySchema):
        raise TypeError(f"schema must be a KeySchema, not {type(schema).__name__}")
    return check_name("service", service, reserved="#")


def _routing_arg(routing: object) -> Routing:
    if isinstance(routing, Routing):
        return routing
    if isinstance(routing, str) and routing in Routing.__members__:
        return Routing[routing]
    raise ValueError(f"routing must be READY, DENY_NEW or SHUTDOWN, got {routing!r}")


def _address(address: object) -> str:
    if address is None:
        return ""
    if not isinstance(address, str):
        raise TypeError(f"address must be a str, not {type(address).__name__}")
    if not address or len(address.encode()) > MAX_ADDRESS or _CONTROL.search(address):
        raise ValueError(f"address must be 1 to {MAX_ADDRESS} bytes of text, got {address!r}")
    return address


def _incarnation(incarnation: object) -> str:
    if not isinstance(incarnation, str):
        raise TypeError(f"incarnation must be a str, not {type(incarnation).__name__}")
    if not _INCARNATION.fullmatch(incarnation):
        raise ValueError(f"incarnation must be 1 to 64 of [A-Za-z0-9_-], got {incarnation!r}")
    return incarnation


def _state_keys(schema: KeySchema, service: str) -> tuple[str, str, str]:
    return schema.state_key(service), schema.meta_key(service), schema.load_key(service)


# -- builders --------------------------------------------------------------------------------


def heartbeat(
    schema: KeySchema,
    service: str,
    pod: int,
    load: int,
    *,
    routing: Routing | str = Routing.READY,
    capacity: int | None = None,
    address: str | None = None,
    incarnation: str,
    lease: float,
) -> Call[int]:
    """Write *pod*'s heartbeat; the call returns the server time written, in ms.

    *lease* (seconds) is how long this *incarnation* holds the pod: another
    incarnation is refused with `StaleIncarnationError` until then, unless this
    one shut down. Use the service's expiry.
    """
    svc = _service(schema, service)
    args = (
        _pod(pod),
        str(_count("load", load)),
        _routing_arg(routing).value,
        "" if capacity is None else str(_count("capacity", capacity)),
        _address(address),
        _incarnation(incarnation),
        to_millis("lease", lease),
    )
    return Call(load_script("stateful_heartbeat"), _state_keys(schema, svc), args, int)


def pods(schema: KeySchema, service: str, *, expire: float) -> Call[PodView]:
    """Read a `PodView` of *service*; pods whose heartbeat is older than *expire* s are dead."""
    svc = _service(schema, service)
    decode = partial(decode_view, svc, to_millis("expire", expire))
    return Call(load_script("stateful_pods"), _state_keys(schema, svc), (), decode)


def reserve(
    schema: KeySchema, service: str, pod: int, n: int = 1, *, ttl: float = 60.0
) -> Call[int]:
    """Count *n* links handed out to *pod* (negative: give back); returns the new count.

    The count lasts until the pod's next heartbeat; the whole hash expires *ttl*
    seconds after the last reservation of the service.
    """
    svc = _service(schema, service)
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, not {type(n).__name__}")
    if abs(n) > MAX_NUMBER:
        raise ValueError(f"n must be between -{MAX_NUMBER} and {MAX_NUMBER}, got {n}")
    args = (_pod(pod), n, to_millis("ttl", ttl))
    return Call(load_script("stateful_reserve"), (schema.load_key(svc),), args, int)


def set_state(schema: KeySchema, service: str, pod: int, value: str) -> Call[bool]:
    """Write *pod*'s raw state value as Java and Go host code do; True when it was new."""
    svc = _service(schema, service)
    if not isinstance(value, str):
        raise TypeError(f"value must be a str, not {type(value).__name__}")
    return Call(
        load_script("stateful_set_state"), (schema.state_key(svc),), (_pod(pod), value), bool
    )


def remove_pod(schema: KeySchema, service: str, pod: int) -> Call[bool]:
    """Forget *pod* (state, metadata, reservations); True when it had a state value."""
    svc = _service(schema, service)
    return Call(load_script("stateful_remove_pod"), _state_keys(schema, svc), (_pod(pod),), bool)


def _optional_text(reply: Any) -> str | None:
    return None if reply is None else _text(reply)


def workload(schema: KeySchema, service: str) -> Call[str | None]:
    """Read *service*'s workload state; None when there is none."""
    svc = _service(schema, service)
    return Call(
        load_script("stateful_get_workload"), (schema.workload_key(svc),), (), _optional_text
    )


def _nothing(reply: Any) -> None:
    return None


def set_workload(schema: KeySchema, service: str, value: str) -> Call[None]:
    """Write *service*'s workload state (no expiry)."""
    svc = _service(schema, service)
    if not isinstance(value, str):
        raise TypeError(f"value must be a str, not {type(value).__name__}")
    return Call(
        load_script("stateful_set_workload"), (schema.workload_key(svc),), (value,), _nothing
    )
