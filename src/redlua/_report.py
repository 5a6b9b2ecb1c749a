"""Results of `validate` and `profile`: pure values and the arithmetic behind them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import LuaErrorInfo, parse_lua_error


@dataclass(frozen=True)
class Validation:
    """Whether a script compiles on the server, and if not, where and why."""

    valid: bool
    sha: str | None
    error: LuaErrorInfo | None = None
    source_line: str | None = None

    @property
    def line(self) -> int | None:
        """The line the compiler complained about."""
        return self.error.line if self.error else None

    @property
    def message(self) -> str:
        """A one-line account: "ok" or the compiler's message with its line."""
        if self.error is None:
            return "ok"
        where = f"line {self.error.line}: " if self.error.line is not None else ""
        return f"{where}{self.error.message}"


def validation(source: str, sha: str | bytes | None, reply: str | None) -> Validation:
    """Build a `Validation` from SCRIPT LOAD's answer: a sha, or an error *reply*."""
    if reply is None:
        text = sha.decode() if isinstance(sha, bytes) else sha
        return Validation(valid=True, sha=text)
    info = parse_lua_error(reply)
    lines = source.splitlines()
    line = lines[info.line - 1] if info.line is not None and 0 < info.line <= len(lines) else None
    return Validation(valid=False, sha=None, error=info, source_line=line)


@dataclass(frozen=True)
class Profile:
    """Latency and throughput of one call run many times in a row (seconds, ops/s)."""

    script: str
    iterations: int
    succeeded: int
    errors: int
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    ops_per_sec: float


def nearest_rank(ordered: list[float], q: float) -> float:
    """Return the *q*-th percentile of sorted *ordered* by the nearest-rank rule.

    The rank is ``ceil(q/100 * n)``, which never runs past the end: p99 of 10
    samples is the largest one.
    """
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def profile_result(script: str, samples: list[float], errors: int, wall: float) -> Profile:
    """Summarise *samples* (seconds per successful call) into a `Profile`."""
    ordered = sorted(samples)
    n = len(ordered)

    def pick(q: float) -> float | None:
        return nearest_rank(ordered, q) if n else None

    return Profile(
        script=script,
        iterations=n + errors,
        succeeded=n,
        errors=errors,
        mean=sum(ordered) / n if n else None,
        min=ordered[0] if n else None,
        max=ordered[-1] if n else None,
        p50=pick(50),
        p95=pick(95),
        p99=pick(99),
        ops_per_sec=(n + errors) / wall if wall > 0 else 0.0,
    )


def check_iterations(iterations: int) -> None:
    """Raise unless *iterations* is a positive int."""
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(f"iterations must be an int, not {type(iterations).__name__}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
