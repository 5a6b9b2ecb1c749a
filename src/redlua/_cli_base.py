"""What every ``redlua`` command shares: exit codes, `CliError`, connecting, argument types.

`connected` picks the server (``--url``, else ``REDIS_URL``, else a private
embedded server stopped when the command ends) and turns an unreachable server
into a `CliError` naming the URL, password masked.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._checks import finite
from .errors import ConnectionFailedError
from .server import EmbeddedServer

EXIT_FAILURE = 1
EXIT_USAGE = 2
CONNECT_TIMEOUT = 5.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionFailedError)


class CliError(Exception):
    """A user-facing failure: *message* goes to stderr and *code* becomes the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def note(message: str) -> None:
    """Print ``redlua: message`` on stderr at once."""
    print(f"redlua: {message}", file=sys.stderr, flush=True)


# -- argument types --------------------------------------------------------------------------


def integer(text: str) -> int:
    """Parse an int for argparse, with a readable error."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type accepting ints >= *minimum*."""

    def parse(text: str) -> int:
        value = integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


# -- connecting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A connected server: its URL, a client (closed by `connected`) and who started it."""

    url: str
    client: Any
    private: bool

    @property
    def shown(self) -> str:
        """Return the URL with its password masked."""
        return masked(self.url)


@contextlib.contextmanager
def connected(url: str | None, *, announce: bool = True) -> Iterator[Target]:
    """Connect to *url*, else ``$REDIS_URL``, else a private server stopped on exit.

    Connection failures inside the block become a `CliError` naming the URL.
    """
    url = url or os.environ.get("REDIS_URL") or None
    with contextlib.ExitStack() as stack:
        private = url is None
        if url is None:
            url = _start_private(stack, announce)
        try:
            client = stack.enter_context(contextlib.closing(open_client(url)))
            yield Target(url, client, private)
        except UNREACHABLE as exc:
            raise CliError(f"cannot reach {masked(url)}: {exc}") from None


def _start_private(stack: contextlib.ExitStack, announce: bool) -> str:
    server = stack.enter_context(EmbeddedServer())
    if announce:
        what = f"{server.server_name} {server.version}"
        note(f"no --url or REDIS_URL: using a temporary {what} server at {server.url}")
    return server.url


def open_client(url: str) -> Any:
    """Return a client for *url*: a `RedisCluster` when the server runs in cluster mode."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
    except ValueError as exc:
        raise CliError(f"invalid URL {masked(url)}: {exc}", EXIT_USAGE) from None
    try:
        cluster = _cluster_enabled(client)
    except BaseException:
        client.close()
        raise
    if not cluster:
        return client
    client.close()
    return RedisCluster.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)


def _cluster_enabled(client: redis.Redis) -> bool:
    """Ask the server whether it runs in cluster mode (connecting raises if it is down).

    A refusal (BUSY while a script runs, NOPERM for INFO) means a standalone server
    is there: ``scripts kill`` must still get through.
    """
    try:
        return bool(client.info("cluster").get("cluster_enabled"))
    except ResponseError:
        return False


def masked(url: str) -> str:
    """Return *url* with its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Collection[int] = ()
) -> list[str]:
    """Return *rows* under *header* as columns two spaces apart, trailing blanks dropped.

    Cells are shown with ``str`` (None as ``-``); the columns whose index is in
    *right* (numbers) are aligned right, header included.
    """
    cells = [list(header)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def positive_seconds(text: str) -> float:
    """Parse a finite number of seconds > 0 for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (finite("seconds", value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value
