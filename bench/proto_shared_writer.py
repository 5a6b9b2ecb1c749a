"""Prototype, not part of redlua: would a shared writer speed up `Engine` under threads?

    python bench/proto_shared_writer.py [--threads 8] [--seconds 2] [--rounds 3]

Each round measures, from N threads at once on one embedded Valkey, the calls per
second of three ways to run the same one-line INCR script:

* ``engine``: `Engine.run` (each thread its own kept connection);
* ``group``: a leader/follower group commit. The first thread to arrive writes every
  call queued so far in one pipelined write on one connection, reads the replies in
  order and wakes their threads; threads that arrive meanwhile queue and wait;
* ``raw``: redis-py ``client.evalsha``.

It has none of the engine's recovery (NOSCRIPT, retries, errors): it only tells
whether building the real thing pays. On 2026-11-22 (2-core VM, 8 threads, 3 rounds of
2 s) ``group`` ran 1.25-1.56x ``engine`` and ``engine`` 1.92-1.95x ``raw``, at commit
04af461; before the engine's own trims of that day, ``group`` ran 1.73-1.97x ``engine``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import redis

from redlua import Call, Engine, Script
from redlua.server import EmbeddedServer

SCRIPT = Script.from_source("proto_incr", "return redis.call('INCR', KEYS[1])")


class GroupCommit:
    """Threads share writes: whoever finds no write in progress writes the queue."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.lock = threading.Lock()
        self.pending: list[tuple[tuple[Any, ...], list[Any]]] = []
        self.busy = False

    def run(self, command: tuple[Any, ...]) -> Any:
        """Queue *command*; lead the writes if nobody does; return its reply."""
        slot: list[Any] = [None, threading.Event()]
        with self.lock:
            self.pending.append((command, slot))
            leader = not self.busy
            self.busy = True
        if not leader:
            slot[1].wait()
            return slot[0]
        conn = self.pool.get_connection()
        try:
            while True:
                with self.lock:
                    batch, self.pending = self.pending, []
                    if not batch:
                        self.busy = False
                        break
                conn.send_packed_command(conn.pack_commands([c for c, _ in batch]))
                for _, waiting in batch:
                    waiting[0] = conn.read_response()
                    waiting[1].set()
        finally:
            self.pool.release(conn)
        return slot[0]


def rate(op: Callable[[], Any], threads: int, seconds: float) -> float:
    """Return the calls per second *threads* threads make running *op* for *seconds*."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            op()
            n += 1
        counts[i] = n

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / seconds


def main() -> None:
    """Measure the three ways, round after round, and print their rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with EmbeddedServer(unix_socket=False) as server:
        client = redis.Redis.from_url(server.url)
        engine = Engine(client)
        engine.preload([SCRIPT])
        call: Call[Any] = Call(SCRIPT, ("proto:engine",))
        group = GroupCommit(client.connection_pool)
        command = ("EVALSHA", SCRIPT.sha, 1, "proto:group")
        for _ in range(options.rounds):
            a = rate(lambda: engine.run(call), options.threads, options.seconds)
            b = rate(lambda: group.run(command), options.threads, options.seconds)
            c = rate(
                lambda: client.evalsha(SCRIPT.sha, 1, "proto:raw"), options.threads, options.seconds
            )
            print(
                f"engine {a:8.0f}/s  group {b:8.0f}/s  raw {c:8.0f}/s"
                f"  group/engine {b / a:.2f}  engine/raw {a / c:.2f}"
            )
        client.close()


if __name__ == "__main__":
    main()
