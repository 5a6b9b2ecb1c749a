"""`AsyncEngine`: runs `Call`s and `Flow`s on an asyncio redis-py client.

The twin of ``engine.py``: the same lines with ``async``/``await`` (a test
checks that nothing else differs). Every decision lives in `EngineCore`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from redis.exceptions import BusyLoadingError, ResponseError

from ._atransport import Node, transport_for
from ._autopipe import AutoPipeline
from ._core import Call, Flow, Sleep, Wait
from ._engine_core import (
    ACQUIRE_ERRORS,
    CONNECTION_ERRORS,
    Act,
    EngineCore,
    Outcome,
    Step,
    reply_text,
)
from ._flight import AsyncSingleFlight
from ._pack import coalesce, pack
from ._policy import Budget, RetryPolicy
from ._report import Profile, Validation, check_iterations, profile_result, validation
from ._script import Script

T = TypeVar("T")


class AsyncEngine(EngineCore):
    """Run scripts atomically on a `redis.asyncio.Redis` or its `RedisCluster`.

    Each call is one EVALSHA on one connection taken from the client's pool.
    NOSCRIPT is healed by SCRIPT LOAD and a re-send; replies that prove the
    script did not run are retried within *retry*; a call whose outcome is
    unknown raises `OutcomeUnknownError` instead of running twice.

    With ``mode="functions"`` the shipped scripts run by FCALL from a function
    library, which the server keeps across restarts and failovers; ``Function
    not found`` is healed like NOSCRIPT, and a server without FCALL (or a user
    the ACL denies it) gets EVALSHA instead (`fallback` says why). The default
    mode is ``REDLUA_MODE`` from the environment, else ``"scripts"``.

    With *pipelining* (the default), the calls that concurrent tasks make in one
    event-loop tick go out in one write on one connection (per node on a cluster)
    and each task gets its own reply; errors, NOSCRIPT reloads and retries stay per
    call, and cancelling a waiting task does not disturb the batch. A task awaiting
    one call at a time pays one loop tick for it. ``pipelining=False`` sends each
    call by itself.
    """

    def __init__(
        self,
        client: Any,
        *,
        retry: RetryPolicy | None = None,
        mode: str | None = None,
        pipelining: bool = True,
    ) -> None:
        super().__init__(retry=retry, mode=mode)
        self._t = transport_for(client)
        self.cluster = self._t.cluster
        self.client = client
        self._pipe = AutoPipeline(self._t) if pipelining else None
        self._flights = AsyncSingleFlight()  # one SCRIPT LOAD per script for a burst of NOSCRIPT

    @property
    def pipelining(self) -> bool:
        """Whether calls of concurrent tasks share writes (see the class docstring)."""
        return self._pipe is not None

    async def aclose(self) -> None:
        """Wait for the batches in flight, then give kept connections back to the pool.

        The client stays open; the engine may still be used (it takes connections again).
        """
        if self._pipe is not None:
            await self._pipe.close()
        await self._t.close()

    # -- single calls ----------------------------------------------------------------------

    async def run(self, call: Call[T]) -> T:
        """Run *call* with EVALSHA (or FCALL) and return its decoded reply."""
        return call.decode(await self._run(call))

    async def run_script(
        self, name: str, keys: Iterable[Any] = (), args: Iterable[Any] = ()
    ) -> Any:
        """Run the script registered or shipped under *name* and return its raw reply."""
        return await self.run(self.call(name, keys, args))

    async def _run(self, call: Call[Any]) -> Any:
        await self._t.ready()
        started = time.perf_counter()
        node = self._t.node_for(call.slot)
        mark = self.load_mark
        out = await self._attempt(node, call, False)
        if out.error is None:
            self._stats.record(call.script.name, time.perf_counter() - started)
            return out.reply
        return await self._recover(node, call, out, started, mark)

    async def _recover(
        self, node: Node, call: Call[Any], out: Outcome, started: float, mark: int
    ) -> Any:
        budget = self.retry.begin()
        failed = True
        scripts = False  # True once OOM refused the FCALL: EVALSHA from then on
        try:
            while True:
                step = self.plan(call, out, budget)
                asking = False
                scripts = scripts or step.scripts
                if step.act is Act.DONE:
                    failed = False
                    return step.reply
                if step.act is Act.RAISE:
                    raise cast("BaseException", step.error)
                if step.act is Act.RELOAD:
                    failure = await self._reload(node, call, step.library, budget, mark)
                    if failure is not None:  # the reload was not done: plan from its error
                        out = failure
                        continue
                elif step.act is Act.ASK:
                    node, asking = self._t.node_at(*cast("tuple[str, int]", step.node_addr)), True
                if step.delay:
                    await asyncio.sleep(step.delay)
                if step.refresh:
                    await self._t.refresh()
                    node = self._t.node_for(call.slot)
                mark = self.load_mark
                out = await self._attempt(node, call, asking, scripts)
        finally:
            self._stats.record(call.script.name, time.perf_counter() - started, error=failed)

    async def _attempt(
        self, node: Node, call: Call[Any], asking: bool, scripts: bool = False
    ) -> Outcome:
        command = self.command(call, scripts=scripts)
        if self._pipe is not None and not asking:
            return cast("Outcome", await self._pipe.submit(node, command))
        return await self._send(node, command, asking)

    async def _send(self, node: Node, command: tuple[Any, ...], asking: bool = False) -> Outcome:
        """Send *command* alone on a connection of its own and read its reply."""
        try:
            conn = await self._t.acquire(node)
        except ACQUIRE_ERRORS as exc:
            return Outcome(error=exc, sent=False)
        try:
            if asking:
                await conn.send_packed_command(conn.pack_commands([("ASKING",), command]))
                await conn.read_response()
            else:
                await conn.send_packed_command(pack(conn, command))
            return Outcome(await conn.read_response())
        except (ResponseError, BusyLoadingError) as exc:
            return Outcome(error=exc)
        except BaseException as exc:
            await conn.disconnect()
            if isinstance(exc, CONNECTION_ERRORS):
                return Outcome(error=exc)
            raise
        finally:
            await self._t.release(node, conn)

    async def _reload(
        self, node: Node, call: Call[Any], library: bool, budget: Budget, mark: int
    ) -> Outcome | None:
        """Load what NOSCRIPT (or a missing function) asked for; the failure, when it fails.

        A reload that cannot reach the server, or that the server refuses (BUSY,
        LOADING, OOM), is a call that was not sent: the retry rules decide what next.
        A call sent before another call loaded its script (or library) on that node, a
        call of the same burst of NOSCRIPT, is only sent again.
        """
        where = self._t.describe(node)
        if self.loaded_since(where, None if library else call.script, mark):
            return None
        try:
            if library:
                replace = self.replace_library([budget])
                await self._flights.run(where, lambda: self._load_library(node, replace=replace))
            else:
                await self._flights.run(
                    (where, call.script.sha), lambda: self._load(node, call.script)
                )
        except ACQUIRE_ERRORS as exc:
            return Outcome(error=exc, sent=False)
        return None

    async def _load(self, node: Node, script: Script) -> None:
        while True:
            body = self.body(script)
            try:
                await self._t.execute(node, "SCRIPT", "LOAD", body)
                self.note_loaded(self._t.describe(node), script)
                return
            except ResponseError as exc:
                if not self.on_load_error(script, exc, body):
                    raise

    async def _load_library(self, node: Node, *, replace: bool = False) -> None:
        try:
            await self._t.execute(node, *self.library_load(replace=replace))
        except ResponseError as exc:
            self.on_library_error(exc)  # raises, or falls back to EVALSHA
        else:
            self.note_library(self._t.describe(node))

    # -- batches ---------------------------------------------------------------------------

    async def run_many(
        self, calls: Iterable[Call[Any]], *, atomic: bool = False, return_exceptions: bool = False
    ) -> list[Any]:
        """Run *calls* in one round trip per node and return their replies in order.

        Without *atomic* the calls are pipelined (not MULTI) and each call's error
        is its own. Scripts this engine has not loaded on a node travel in the same
        write (SCRIPT LOAD ahead of the calls); if the server lost one anyway (a
        flush, a failover), only the calls that got NOSCRIPT are re-sent, after the
        others ran: use *atomic* when calls on one key must keep their order. With
        *atomic* the calls must share one slot and run in MULTI/EXEC, their scripts
        loaded inside the transaction. The first error is raised after every call
        is done, unless *return_exceptions*.
        """
        batch = list(calls)
        if not batch:
            return []
        await self._t.ready()
        if atomic:
            replies = await self._run_atomic(batch)
        else:
            replies = [None] * len(batch)
            groups: dict[int, tuple[Node, list[int]]] = {}
            for i, call in enumerate(batch):
                node = self._t.node_for(call.slot)
                groups.setdefault(id(node), (node, []))[1].append(i)
            for node, indexes in groups.values():
                await self._run_group(node, batch, indexes, replies)
        return self.decode_all(batch, replies, return_exceptions)

    async def _run_group(
        self, node: Node, batch: list[Call[Any]], todo: list[int], out: list[Any]
    ) -> None:
        where = self._t.describe(node)
        budgets: dict[int, Budget] = {}
        while todo:
            loads = [(s, self.body(s)) for s in self.missing(where, (batch[i] for i in todo))]
            commands = [("SCRIPT", "LOAD", body) for _, body in loads]
            commands += [self.command(batch[i]) for i in todo]
            started = time.perf_counter()
            outcomes = await self._attempt_many(node, commands)
            elapsed = time.perf_counter() - started
            failed = self.note_loads(where, loads, outcomes[: len(loads)])
            again: list[int] = []
            waiting: list[int] = []  # calls that found no function: the library goes first
            done: dict[str, int] = {}
            delay = 0.0
            for i, outcome in zip(todo, outcomes[len(loads) :], strict=True):
                call = batch[i]
                if outcome.error is None:  # the common case: no budget, no plan
                    out[i] = outcome.reply
                    done[call.script.name] = done.get(call.script.name, 0) + 1
                    continue
                budget = budgets.get(i) or budgets.setdefault(i, self.retry.begin())
                step = self.plan(call, outcome, budget)
                if step.act is Act.RELOAD and call.script.sha in failed:
                    step = Step(Act.RAISE, error=failed[call.script.sha])
                if step.act is Act.RELOAD or (
                    step.act is Act.RETRY and not step.refresh and not step.scripts
                ):
                    self.forget(where, call.script)
                    again.append(i)  # re-sent in the next pipelined write, in order
                    if step.library:
                        waiting.append(i)
                    delay = max(delay, step.delay)
                    continue
                if step.act in (Act.DONE, Act.RAISE):
                    out[i] = step.reply if step.act is Act.DONE else step.error
                    self._stats.record(call.script.name, elapsed, error=step.act is Act.RAISE)
                else:  # a redirect, or OOM for an FCALL: alone, on the full path
                    out[i] = await self._run_alone(call)
            self._stats.record_many(done, elapsed)
            if waiting:
                try:
                    replace = self.replace_library(budgets[i] for i in waiting)
                    await self._load_library(node, replace=replace)
                except Exception as exc:  # noqa: BLE001 - the calls that waited for it get it
                    again = self.drop_waiting(batch, again, waiting, exc, out=out, elapsed=elapsed)
            if delay:
                await asyncio.sleep(delay)
            todo = again

    async def _run_alone(self, call: Call[Any]) -> Any:
        try:
            return await self._run(call)
        except Exception as exc:  # noqa: BLE001 - a batch keeps each call's own error
            return exc

    async def _attempt_many(self, node: Node, commands: list[tuple[Any, ...]]) -> list[Outcome]:
        try:
            conn = await self._t.acquire(node)
        except ACQUIRE_ERRORS as exc:
            return [Outcome(error=exc, sent=False)] * len(commands)
        outcomes: list[Outcome] = []
        try:
            await conn.send_packed_command(
                coalesce([chunk for c in commands for chunk in pack(conn, c)])
            )
            for _ in commands:
                try:
                    outcomes.append(Outcome(reply=await conn.read_response()))
                except ResponseError as exc:
                    outcomes.append(Outcome(error=exc))
        except BaseException as exc:
            await conn.disconnect()
            if not isinstance(exc, CONNECTION_ERRORS):
                raise
            outcomes += [Outcome(error=exc)] * (len(commands) - len(outcomes))
        finally:
            await self._t.release(node, conn)
        return outcomes

    async def _run_atomic(self, batch: list[Call[Any]]) -> list[Any]:
        slot = self.batch_slot(batch)
        budget = self.retry.begin()
        started = time.perf_counter()
        while True:
            node = self._t.node_for(slot)
            for script in self.shebang_unknown(batch):  # Redis 6 refuses shebangs: learn it first
                await self._load(node, script)
            outcomes = await self._attempt_many(node, self.atomic_commands(batch))
            step = self.plan_atomic(batch, outcomes, budget)
            if step.act is Act.DONE:
                self.record_batch(batch, step.reply, time.perf_counter() - started)
                return cast("list[Any]", step.reply)
            if step.act is Act.RAISE:
                raise cast("BaseException", step.error)
            if step.act is Act.RELOAD:
                await self._load_library(node, replace=self.replace_library([budget]))
            if step.delay:
                await asyncio.sleep(step.delay)
            if step.refresh:
                await self._t.refresh()

    # -- flows -----------------------------------------------------------------------------

    async def drive(self, flow: Flow[T]) -> T:
        """Run a generator of `Call`, `Sleep` and `Wait` steps and return its final value.

        Each call's decoded reply is sent back into the flow; an error is thrown
        into it, so a flow may catch what it expects.
        """
        reply: Any = None
        error: BaseException | None = None
        try:
            while True:
                step = flow.send(reply) if error is None else flow.throw(error)
                reply, error = None, None
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    continue
                if isinstance(step, Wait):
                    reply = await self._wait(step)
                    continue
                try:
                    reply = await self.run(step)
                except Exception as exc:  # noqa: BLE001 - thrown into the flow
                    error = exc
        except StopIteration as done:
            return cast("T", done.value)

    async def _wait(self, step: Wait) -> Any:
        node = self._t.node_for(step.slot)
        try:
            conn = await self._t.acquire(node)
        except ACQUIRE_ERRORS:
            await asyncio.sleep(
                min(step.seconds, 0.05)
            )  # the server is away: a short pause, no wake-up
            return None
        try:
            await conn.send_command("BLPOP", *step.keys, self.wait_timeout(step, conn))
            return await conn.read_response()
        except BaseException as exc:
            await conn.disconnect()
            if isinstance(exc, CONNECTION_ERRORS):
                return None  # a wake-up is a hint: the flow tries again anyway
            raise
        finally:
            await self._t.release(node, conn)

    # -- script management -----------------------------------------------------------------

    async def preload(self, scripts: Iterable[Script] | None = None) -> int:
        """SCRIPT LOAD every known script (or *scripts*) on every primary; return the count.

        In functions mode the library goes to every primary instead, for the scripts
        it holds: FUNCTION LOAD only where FUNCTION LIST does not show it already,
        byte for byte (so a restart of many clients writes nothing).
        """
        await self._t.ready()
        chosen = list(self.registry if scripts is None else scripts)
        for node in self._t.primaries():
            if any(self.function_of(s) for s in chosen):
                await self._install_library(node)
            for script in chosen:
                if self.function_of(script) is None:
                    await self._load(node, script)
        return len(chosen)

    async def _install_library(self, node: Node) -> None:
        try:
            listed = await self._t.execute(node, *self.library_list())
        except ResponseError as exc:
            self.on_library_error(exc)
            return
        if not self.library_installed(listed):
            await self._load_library(node, replace=True)  # absent, or not byte for byte ours

    async def _library_on(self, node: Node) -> bool | None:
        """Whether the library is on *node*; None when FUNCTION is refused (fallen back)."""
        try:
            return self.library_installed(await self._t.execute(node, *self.library_list()))
        except ResponseError as exc:
            self.on_library_error(exc)  # falls back to EVALSHA, or raises
            return None

    async def exists(self, scripts: Iterable[Script] | None = None) -> dict[str, bool]:
        """Return, by name, whether each script is loaded on every primary.

        A function of the library in use counts as loaded where the library is.
        """
        await self._t.ready()
        chosen = list(self.registry if scripts is None else scripts)
        found = dict.fromkeys((s.name for s in chosen), True)
        for node in self._t.primaries():
            functions = [s for s in chosen if self.function_of(s)]
            if functions and await self._library_on(node) is False:
                found.update(dict.fromkeys((s.name for s in functions), False))
            plain = [s for s in chosen if not self.function_of(s)]
            shas = [sha for s in plain for sha in (s.sha, s.legacy_sha)]
            flags = await self._t.execute(node, "SCRIPT", "EXISTS", *shas) if shas else []
            for script, pair in zip(plain, zip(flags[::2], flags[1::2], strict=True), strict=True):
                found[script.name] = found[script.name] and any(pair)
        return found

    async def delete_old_libraries(self) -> list[str]:
        """FUNCTION DELETE every other release's redlua library on every primary.

        Libraries named ``redlua_v…`` other than this release's go; return their
        names. Do it once no client of an older release is left: one that is would
        find its functions gone and load its library again.
        """
        await self._t.ready()
        deleted: set[str] = set()
        for node in self._t.primaries():
            listed = await self._t.execute(node, "FUNCTION", "LIST", "LIBRARYNAME", "redlua_v*")
            for name in self.old_libraries(listed):
                await self._t.execute(node, "FUNCTION", "DELETE", name)
                deleted.add(name)
        return sorted(deleted)

    async def flush(self) -> None:
        """SCRIPT FLUSH on every primary (every client's scripts go, not only ours).

        In functions mode this engine's library goes too (FUNCTION DELETE); other
        libraries stay (`delete_old_libraries` removes redlua's older ones).
        """
        await self._t.ready()
        for node in self._t.primaries():
            await self._t.execute(node, "SCRIPT", "FLUSH")
            if self.library is not None:
                try:
                    await self._t.execute(node, "FUNCTION", "DELETE", self.library.name)
                except ResponseError as exc:
                    self.library_gone(exc)

    async def kill(self) -> bool:
        """SCRIPT KILL (FUNCTION KILL for a function) on every primary; True if one stopped.

        Uses a fresh db-0 connection, which a BUSY server still accepts. A script
        that has written cannot be killed: `ServerError` with code UNKILLABLE.
        """
        await self._t.ready()
        killed = False
        for node in self._t.primaries():
            conn = self._t.fresh_connection(node)
            try:
                for command in (("SCRIPT", "KILL"), ("FUNCTION", "KILL")):
                    await conn.send_command(*command)
                    try:
                        await conn.read_response()
                    except ResponseError as exc:
                        if self.kill_refused(exc):
                            break  # NOTBUSY: nothing runs
                    else:
                        killed = True
                        break
            finally:
                await conn.disconnect()
        return killed

    async def validate(self, source: str) -> Validation:
        """Compile *source* on the server (SCRIPT LOAD) and report where it fails."""
        await self._t.ready()
        try:
            sha = await self._t.execute(self._t.node_for(None), "SCRIPT", "LOAD", source)
        except ResponseError as exc:
            return validation(source, None, reply_text(exc))
        return validation(source, sha, None)

    async def profile(self, call: Call[Any], iterations: int = 100) -> Profile:
        """Run *call* *iterations* times in a row and return latency percentiles and ops/s."""
        check_iterations(iterations)
        samples: list[float] = []
        errors = 0
        wall = time.perf_counter()
        for _ in range(iterations):
            started = time.perf_counter()
            try:
                await self.run(call)
            except Exception:  # noqa: BLE001 - counted; the profile goes on
                errors += 1
            else:
                samples.append(time.perf_counter() - started)
        return profile_result(call.script.name, samples, errors, time.perf_counter() - wall)
