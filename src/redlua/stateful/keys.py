"""Key layouts of the stateful-link keyspace shared with the Java and Go services.

Two schemas (``shared/spec/stateful-links.md`` §2):

``sf`` (default, cluster-safe): every key of one UID shares the hash tag
``{<ns>:lk:<uid>}``, and every key of one service's pods shares ``{<ns>:state:<svc>}``::

    sf:{<ns>:lk:<uid>}               hash: service -> pod, persistent links only
    sf:{<ns>:lk:<uid>}<svc>          string: the pod; no TTL = persistent link
    sf:{<ns>:lk:<uid>}<svc>#v        string: fencing version (redlua only)
    sf:{<ns>:state:<svc>}            hash: pod -> "<load>-<epochMillis>"
    sf:{<ns>:state:<svc>}meta        hash: pod -> metadata (redlua only)
    sf:{<ns>:state:<svc>}links       hash: pod -> links handed out (redlua only)
    sf:{<ns>:workload:<svc>}         string: workload readiness

``slug`` (the older Java layout of ``HZ00M/homo``): the two per-UID keys have
different hash tags, so its calls work on a standalone server only; engines on a
cluster refuse them with `CrossSlotError`.

Names are checked before any I/O: a ``{`` or ``}`` in a namespace, UID or service
name would make two different users share keys (§2.1), control characters have no
place in keys, and ``#`` is reserved in service names for the version key.
"""

from __future__ import annotations

from dataclasses import dataclass

from redlua._checks import check_name as _check_name


def check_name(what: str, value: object, *, reserved: str = "") -> str:
    """Return *value* as a key part, or raise `TypeError`/`ValueError` naming *what*.

    A UID may also be an int (it is spelled in decimal).
    """
    if what == "uid" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return _check_name(what, value, reserved=reserved)


def check_pod(pod: object, what: str = "pod") -> int:
    """Return *pod* as a canonical pod id (an int >= 0) or raise naming *what*."""
    if isinstance(pod, bool) or not isinstance(pod, int):
        raise TypeError(
            f"{what} must be an int >= 0 (a StatefulSet ordinal), not {type(pod).__name__}"
        )
    if pod < 0:
        raise ValueError(f"{what} must be >= 0, got {pod}")
    return pod


@dataclass(frozen=True)
class KeySchema:
    """How stateful-link keys are spelled; build one with `sf` or `slug`."""

    kind: str
    namespace: str

    @classmethod
    def sf(cls, namespace: str) -> KeySchema:
        """The ``sf:{<ns>:...}`` layout of the TPF Java and Go services (cluster-safe)."""
        return cls("sf", check_name("namespace", namespace))

    @classmethod
    def slug(cls, app_id: str, region_id: str) -> KeySchema:
        """The ``slug-lk:{<app>:<region>:state:...}`` layout of the older Java framework."""
        app = check_name("app_id", app_id, reserved=":")
        region = check_name("region_id", region_id, reserved=":")
        return cls("slug", f"{app}:{region}")

    @property
    def cluster_safe(self) -> bool:
        """True when the keys of one UID share a hash slot."""
        return self.kind == "sf"

    def uid_key(self, uid: str) -> str:
        """The hash of a UID's persistent links (service -> pod)."""
        if self.kind == "sf":
            return f"sf:{{{self.namespace}:lk:{uid}}}"
        return f"slug-lk:{{{self.namespace}:state:{uid}}}"

    def link_key(self, uid: str, service: str) -> str:
        """The string holding the pod a UID is linked to for one service."""
        if self.kind == "sf":
            return f"sf:{{{self.namespace}:lk:{uid}}}{service}"
        return f"slug-lk:{{{self.namespace}:state:{uid}:{service}}}"

    def version_key(self, uid: str, service: str) -> str:
        """The fencing version of one link, in the link's slot (redlua only)."""
        return self.link_key(uid, service) + "#v"

    def state_key(self, service: str) -> str:
        """The hash of a service's pod states (pod -> ``"<load>-<epochMillis>"``)."""
        if self.kind == "sf":
            return f"sf:{{{self.namespace}:state:{service}}}"
        return f"slug-state:{{{self.namespace}:state:{service}}}"

    def meta_key(self, service: str) -> str:
        """The hash of a service's pod metadata, in the state hash's slot (redlua only)."""
        return self.state_key(service) + "meta"

    def load_key(self, service: str) -> str:
        """The hash of links handed out per pod since its last heartbeat (redlua only)."""
        return self.state_key(service) + "links"

    def workload_key(self, service: str) -> str:
        """The string holding a service's workload readiness."""
        if self.kind == "sf":
            return f"sf:{{{self.namespace}:workload:{service}}}"
        return f"slug-workload:{{{self.namespace}:state:{service}}}"
