"""A TCP proxy for fault tests: it delays, cuts and resets connections in the middle of a call.

The proxy runs an asyncio loop in a daemon thread and forwards bytes between redis-py
and a real server. Faults are queued by the test and armed on the next request whose
bytes contain a marker (``EVALSHA`` or ``FCALL`` by default, so the handshake and
``SCRIPT LOAD`` pass untouched; ``add(..., marker=b"LOAD")`` aims at something else);
each fault applies to one request, in the order queued::

    with Proxy(server.host, server.port) as proxy:
        client = redis.Redis(port=proxy.port, socket_timeout=0.5)
        proxy.add(Fault.RESET_AFTER_REPLY)   # the server runs the script, the client
                                             # gets a TCP reset instead of the reply

The faults, by what the server and the client see:

=====================  ==========================  ====================================
fault                  the request                 the client
=====================  ==========================  ====================================
``CUT_BEFORE``         dropped (never ran)         EOF (FIN) right after sending
``CUT_AFTER_REPLY``    ran; its reply is dropped   EOF (FIN) instead of the reply
``RESET_AFTER_REPLY``  ran; its reply is dropped   TCP reset (RST) instead of the reply
``DELAY``              ran                         the reply ``delay`` seconds late
``BLACKHOLE``          dropped, and all after it   nothing ever (until the proxy stops)
=====================  ==========================  ====================================

``split(marker, hook, nth)`` holds the client's bytes just before the *nth* occurrence
of *marker* (e.g. the ``EXEC`` of a transaction, or the 10th ``EVALSHA`` of a pipelined
batch), runs *hook* in a worker thread (e.g. ``SCRIPT FLUSH`` on another connection),
then forwards the rest: a fault lands exactly between two commands of one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOOPBACK = "127.0.0.1"
CHUNK = 65536


class Fault(enum.Enum):
    """What happens to one request (see the module's table)."""

    CUT_BEFORE = "cut-before"
    CUT_AFTER_REPLY = "cut-after-reply"
    RESET_AFTER_REPLY = "reset-after-reply"
    DELAY = "delay"
    BLACKHOLE = "blackhole"


CALLS = (b"EVALSHA", b"FCALL")
"""What a script call carries: EVALSHA(_RO) in scripts mode, FCALL(_RO) in functions mode."""


@dataclass
class _Armed:
    fault: Fault
    delay: float
    markers: tuple[bytes, ...]

    def matches(self, data: bytes) -> bool:
        return any(marker in data for marker in self.markers)


@dataclass
class _Split:
    marker: bytes
    hook: Callable[[], Any]
    nth: int


class Proxy:
    """Forward 127.0.0.1:<port> to *host*:*port*, injecting queued faults."""

    def __init__(self, host: str, port: int, *, markers: tuple[bytes, ...] = CALLS) -> None:
        self.target = (host, port)
        self.markers = markers
        self.host = LOOPBACK
        self.port = 0
        self.requests = 0  # script calls seen, faulted or not
        self.injected: dict[Fault, int] = dict.fromkeys(Fault, 0)
        self._faults: deque[_Armed] = deque()
        self._chaos: tuple[float, list[Fault], float, random.Random] | None = None
        self._splits: deque[_Split] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- control (any thread) ----------------------------------------------------------------

    def start(self) -> Proxy:
        """Listen on a free loopback port and start forwarding; return self."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(5)
        return self

    def stop(self) -> None:
        """Close every connection and the listener, and stop the loop's thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, db: int = 0) -> str:
        """Return ``redis://127.0.0.1:<proxy port>/<db>``."""
        return f"redis://{self.host}:{self.port}/{db}"

    def add(
        self, fault: Fault, *, times: int = 1, delay: float = 0.0, marker: bytes | None = None
    ) -> None:
        """Queue *fault* for the next *times* requests carrying *marker* (default: a call)."""
        armed = _Armed(fault, delay, self.markers if marker is None else (marker,))
        with self._lock:
            self._faults.extend(armed for _ in range(times))

    def chaos(self, rate: float, faults: list[Fault], *, delay: float = 0.0, seed: int = 0) -> None:
        """Fault each script call with probability *rate*, by a fault drawn from *faults*."""
        with self._lock:
            self._chaos = (rate, list(faults), delay, random.Random(seed))

    def clear(self) -> None:
        """Drop every queued fault, split and chaos: forward untouched from now on."""
        with self._lock:
            self._faults.clear()
            self._splits.clear()
            self._chaos = None

    @property
    def pending(self) -> int:
        """Queued faults not armed yet."""
        with self._lock:
            return len(self._faults)

    def split(self, marker: bytes, hook: Callable[[], Any], *, nth: int = 1) -> None:
        """Run *hook* just before the *nth* occurrence of *marker* reaches the server."""
        with self._lock:
            self._splits.append(_Split(marker, hook, nth))

    def cut_all(self) -> None:
        """Reset every open connection at once (a network blip); new ones are accepted."""
        asyncio.run_coroutine_threadsafe(self._cut_all(), self._loop).result(5)

    # -- the loop's side ---------------------------------------------------------------------

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()  # every pump sees its connection end and returns
        if self._tasks:
            _done, late = await asyncio.wait(set(self._tasks), timeout=2)
            for task in late:
                task.cancel()

    async def _cut_all(self) -> None:
        for writer in list(self._writers):
            _reset(writer)

    def _next_fault(self, data: bytes) -> _Armed | None:
        with self._lock:
            if any(marker in data for marker in self.markers):
                self.requests += 1
            if self._faults and self._faults[0].matches(data):
                return self._faults.popleft()
            if self._chaos is not None and any(marker in data for marker in self.markers):
                rate, faults, delay, rng = self._chaos
                if rng.random() < rate:
                    return _Armed(rng.choice(faults), delay, self.markers)
            return None

    def _take_split(self, data: bytes) -> tuple[_Split, int] | None:
        """Return the split that falls inside *data* and where, counting occurrences."""
        with self._lock:
            if not self._splits:
                return None
            split = self._splits[0]
            at = -1
            for _ in range(split.nth):
                at = data.find(split.marker, at + 1)
                if at < 0:
                    split.nth -= data.count(split.marker)
                    return None
            self._splits.popleft()
            return split, at

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(cwriter)
        swriter: asyncio.StreamWriter | None = None
        try:
            sreader, swriter = await asyncio.open_connection(*self.target)
            self._writers.add(swriter)
            link = _Link(cwriter)
            down = asyncio.ensure_future(self._down(sreader, cwriter, link))
            self._tasks.add(down)
            try:
                await self._up(creader, swriter, cwriter, link)
            finally:
                down.cancel()
                with contextlib.suppress(BaseException):
                    await down
                self._tasks.discard(down)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a connection the test or the shutdown cut
        finally:
            for writer in (cwriter, swriter):
                if writer is not None:
                    self._writers.discard(writer)
                    _close(writer)
            self._tasks.discard(task)

    async def _up(
        self,
        creader: asyncio.StreamReader,
        swriter: asyncio.StreamWriter,
        cwriter: asyncio.StreamWriter,
        link: _Link,
    ) -> None:
        while True:
            data = await creader.read(CHUNK)
            if not data:
                return
            if link.blackhole:
                continue
            split = self._take_split(data)
            if split is not None:
                rule, at = split
                swriter.write(data[:at])
                await swriter.drain()
                await asyncio.sleep(0.05)  # let the server run what came before the split
                await asyncio.get_running_loop().run_in_executor(None, rule.hook)
                data = data[at:]
            armed = self._next_fault(data)
            if armed is not None:
                self.injected[armed.fault] += 1
                if armed.fault is Fault.CUT_BEFORE:
                    _close(cwriter)
                    return
                if armed.fault is Fault.BLACKHOLE:
                    link.blackhole = True
                    continue
                link.pending.append(armed)
            swriter.write(data)
            await swriter.drain()

    async def _down(
        self, sreader: asyncio.StreamReader, cwriter: asyncio.StreamWriter, link: _Link
    ) -> None:
        while True:
            data = await sreader.read(CHUNK)
            if not data:
                _close(cwriter)
                return
            if link.blackhole:
                continue
            armed = link.pending.popleft() if link.pending else None
            if armed is not None:
                if armed.fault is Fault.CUT_AFTER_REPLY:
                    _close(cwriter)
                    return
                if armed.fault is Fault.RESET_AFTER_REPLY:
                    _reset(cwriter)
                    return
                await asyncio.sleep(armed.delay)
            cwriter.write(data)
            await cwriter.drain()


class _Link:
    """The fault state of one client connection."""

    def __init__(self, cwriter: asyncio.StreamWriter) -> None:
        self.cwriter = cwriter
        self.pending: deque[_Armed] = deque()  # faults waiting for the server's reply
        self.blackhole = False


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset: SO_LINGER on, zero seconds."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _close(writer)
