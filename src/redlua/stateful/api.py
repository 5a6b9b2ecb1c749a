"""`Links` and `AsyncLinks`: the link operations of `LinkOps`, run on an engine.

Both classes are thin: every method builds its call with ``self.ops`` and runs it, so
the two differ only by ``async``/``await`` (a test checks it). Arguments and results
are those of the `LinkOps` method of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from redlua.stateful.keys import KeySchema
from redlua.stateful.links import Claim, LinkOps, RemoveMode, TryResult

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine


class Links:
    """Stateful links on a synchronous `Engine`::

    links = Links(engine, KeySchema.sf("prod"))
    links.set_link("u42", "game", 3)              # -> previous pod or None
    links.claim("u42", "game", 3)                 # -> Claim(ok, owner, previous, token)
    """

    def __init__(
        self,
        engine: Engine,
        schema: KeySchema,
        *,
        remove_mode: RemoveMode = "grace",
        fencing: bool = True,
    ) -> None:
        self.engine = engine
        self.ops = LinkOps(schema, remove_mode=remove_mode, fencing=fencing)

    def set_link(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> int | None:
        """Link *uid* to *pod* unconditionally; return the previous pod or None."""
        return self.engine.run(self.ops.set_link(uid, service, pod, ttl))

    def try_set_link(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> TryResult:
        """Link *uid* to *pod* unless another pod holds a persistent link."""
        return self.engine.run(self.ops.try_set_link(uid, service, pod, ttl))

    def set_link_if_absent(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> int:
        """Link *uid* to *pod* if it has no link; return the pod actually linked."""
        return self.engine.run(self.ops.set_link_if_absent(uid, service, pod, ttl))

    def remove_link(self, uid: str | int, service: str, keep: int | None = None) -> bool:
        """Remove the link (after *keep* seconds in grace mode); True if there was one."""
        return self.engine.run(self.ops.remove_link(uid, service, keep))

    def remove_link_if(
        self, uid: str | int, service: str, pod: int, keep: int | None = None
    ) -> bool:
        """Remove the link only while it holds *pod*; True if it was removed."""
        return self.engine.run(self.ops.remove_link_if(uid, service, pod, keep))

    def get_link(self, uid: str | int, service: str) -> int | None:
        """Return the pod *uid* is linked to, or None."""
        return self.engine.run(self.ops.get_link(uid, service))

    def get_link_if_persist(self, uid: str | int, service: str) -> int | None:
        """Return the pod *uid* is linked to if the link is persistent, else None."""
        return self.engine.run(self.ops.get_link_if_persist(uid, service))

    def linked_services(self, uid: str | int) -> dict[str, int]:
        """Return every service where *uid* holds a persistent link: ``{service: pod}``."""
        return self.engine.run(self.ops.linked_services(uid))

    def compute_link_if_absent_legacy(
        self, uid: str | int, service: str, min_timestamp_ms: int
    ) -> int | None:
        """Legacy in-Redis placement (standalone servers only); the pod or None."""
        return self.engine.run(
            self.ops.compute_link_if_absent_legacy(uid, service, min_timestamp_ms)
        )

    def claim(
        self,
        uid: str | int,
        service: str,
        pod: int,
        ttl: int | None = None,
        *,
        downgrade: bool = False,
    ) -> Claim:
        """Claim the link for *pod* and return a `Claim` with its fencing token."""
        return self.engine.run(self.ops.claim(uid, service, pod, ttl, downgrade=downgrade))

    def release(
        self, uid: str | int, service: str, pod: int, grace: int | None = None
    ) -> tuple[bool, int]:
        """Release the link if *pod* holds it; return (released, version)."""
        return self.engine.run(self.ops.release(uid, service, pod, grace))

    def replace_link_if(
        self,
        uid: str | int,
        service: str,
        expected: int | None,
        new: int,
        ttl: int | None = None,
    ) -> tuple[bool, int | None]:
        """Write *new* only if the link holds *expected*; return (replaced, link now)."""
        return self.engine.run(self.ops.replace_link_if(uid, service, expected, new, ttl))

    def version(self, uid: str | int, service: str) -> int:
        """Return the link's fencing version (0 when never written by redlua)."""
        return self.engine.run(self.ops.version(uid, service))

    def batch_get(self, uids: Iterable[str | int], service: str) -> list[int | None]:
        """Return the pod of each UID (None for no link), in order, one round trip per node."""
        return self.engine.run_many(self.ops.batch_get(uids, service))


class AsyncLinks:
    """Stateful links on an `AsyncEngine`: `Links` with ``await``::

    links = AsyncLinks(engine, KeySchema.sf("prod"))
    await links.set_link("u42", "game", 3)
    """

    def __init__(
        self,
        engine: AsyncEngine,
        schema: KeySchema,
        *,
        remove_mode: RemoveMode = "grace",
        fencing: bool = True,
    ) -> None:
        self.engine = engine
        self.ops = LinkOps(schema, remove_mode=remove_mode, fencing=fencing)

    async def set_link(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> int | None:
        """Link *uid* to *pod* unconditionally; return the previous pod or None."""
        return await self.engine.run(self.ops.set_link(uid, service, pod, ttl))

    async def try_set_link(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> TryResult:
        """Link *uid* to *pod* unless another pod holds a persistent link."""
        return await self.engine.run(self.ops.try_set_link(uid, service, pod, ttl))

    async def set_link_if_absent(
        self, uid: str | int, service: str, pod: int, ttl: int | None = None
    ) -> int:
        """Link *uid* to *pod* if it has no link; return the pod actually linked."""
        return await self.engine.run(self.ops.set_link_if_absent(uid, service, pod, ttl))

    async def remove_link(self, uid: str | int, service: str, keep: int | None = None) -> bool:
        """Remove the link (after *keep* seconds in grace mode); True if there was one."""
        return await self.engine.run(self.ops.remove_link(uid, service, keep))

    async def remove_link_if(
        self, uid: str | int, service: str, pod: int, keep: int | None = None
    ) -> bool:
        """Remove the link only while it holds *pod*; True if it was removed."""
        return await self.engine.run(self.ops.remove_link_if(uid, service, pod, keep))

    async def get_link(self, uid: str | int, service: str) -> int | None:
        """Return the pod *uid* is linked to, or None."""
        return await self.engine.run(self.ops.get_link(uid, service))

    async def get_link_if_persist(self, uid: str | int, service: str) -> int | None:
        """Return the pod *uid* is linked to if the link is persistent, else None."""
        return await self.engine.run(self.ops.get_link_if_persist(uid, service))

    async def linked_services(self, uid: str | int) -> dict[str, int]:
        """Return every service where *uid* holds a persistent link: ``{service: pod}``."""
        return await self.engine.run(self.ops.linked_services(uid))

    async def compute_link_if_absent_legacy(
        self, uid: str | int, service: str, min_timestamp_ms: int
    ) -> int | None:
        """Legacy in-Redis placement (standalone servers only); the pod or None."""
        return await self.engine.run(
            self.ops.compute_link_if_absent_legacy(uid, service, min_timestamp_ms)
        )

    async def claim(
        self,
        uid: str | int,
        service: str,
        pod: int,
        ttl: int | None = None,
        *,
        downgrade: bool = False,
    ) -> Claim:
        """Claim the link for *pod* and return a `Claim` with its fencing token."""
        return await self.engine.run(self.ops.claim(uid, service, pod, ttl, downgrade=downgrade))

    async def release(
        self, uid: str | int, service: str, pod: int, grace: int | None = None
    ) -> tuple[bool, int]:
        """Release the link if *pod* holds it; return (released, version)."""
        return await self.engine.run(self.ops.release(uid, service, pod, grace))

    async def replace_link_if(
        self,
        uid: str | int,
        service: str,
        expected: int | None,
        new: int,
        ttl: int | None = None,
    ) -> tuple[bool, int | None]:
        """Write *new* only if the link holds *expected*; return (replaced, link now)."""
        return await self.engine.run(self.ops.replace_link_if(uid, service, expected, new, ttl))

    async def version(self, uid: str | int, service: str) -> int:
        """Return the link's fencing version (0 when never written by redlua)."""
        return await self.engine.run(self.ops.version(uid, service))

    async def batch_get(self, uids: Iterable[str | int], service: str) -> list[int | None]:
        """Return the pod of each UID (None for no link), in order, one round trip per node."""
        return await self.engine.run_many(self.ops.batch_get(uids, service))
