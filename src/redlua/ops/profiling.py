"""`profile`: run one script many times in a row and report latency and throughput.

The measuring is the engine's own ``engine.profile(call, iterations)``
(`redlua.Profile`): percentiles by the nearest-rank rule, whose rank
``ceil(q/100 * n)`` never runs past the end (p99 of 10 samples is the largest),
and ops/s as runs (failed ones included) over the wall time of the whole loop.
This module adds what a command line needs on top: the script by name or source,
keys and arguments as given, and a JSON-safe `ProfileReport`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from redlua._core import Call
from redlua._report import Profile
from redlua._script import Script
from redlua.ops._resolve import DEFAULT_NAME, resolve_script

DEFAULT_ITERATIONS = 100


@dataclass(frozen=True)
class ProfileReport(Profile):
    """A `redlua.Profile` (seconds, ops/s) that also renders as JSON."""

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-safe values."""
        return asdict(self)


def _report(profile: Profile) -> ProfileReport:
    return ProfileReport(**asdict(profile))


def profile_call(
    engine: Any, script: Script | str, keys: Iterable[Any] = (), args: Iterable[Any] = (),
    name: str = DEFAULT_NAME,
) -> Call[Any]:  # fmt: skip
    """Return the call `profile` runs: *script* (name, source or `Script`) on *keys*, *args*."""
    return Call(resolve_script(engine, script, name), tuple(keys), tuple(args))


def profile(
    engine: Any,
    script: Script | str,
    keys: Iterable[Any] = (),
    args: Iterable[Any] = (),
    *,
    iterations: int = DEFAULT_ITERATIONS,
    name: str = DEFAULT_NAME,
) -> ProfileReport:
    """Run *script* *iterations* times on an `Engine`; return percentiles and ops/s."""
    return _report(engine.profile(profile_call(engine, script, keys, args, name), iterations))


async def async_profile(
    engine: Any,
    script: Script | str,
    keys: Iterable[Any] = (),
    args: Iterable[Any] = (),
    *,
    iterations: int = DEFAULT_ITERATIONS,
    name: str = DEFAULT_NAME,
) -> ProfileReport:
    """Run *script* *iterations* times on an `AsyncEngine`; return percentiles and ops/s."""
    call = profile_call(engine, script, keys, args, name)
    return _report(await engine.profile(call, iterations))
