"""profile / async_profile: percentiles and ops/s that hold for small samples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from redlua import Profile
from redlua.ops import ProfileReport, async_profile, profile
from tests.ops import both


@pytest.mark.parametrize("iterations", [1, 2, 10, 100])
def test_percentiles_stay_within_the_samples(engine: Any, iterations: int) -> None:
    """p50 <= p95 <= p99 <= max, p99 of few samples is the largest, ops/s positive."""
    report = both(engine, profile, async_profile, "core_ping", args=("x",), iterations=iterations)
    assert isinstance(report, ProfileReport) and isinstance(report, Profile)
    assert report.iterations == report.succeeded == iterations and report.errors == 0
    assert report.min is not None and report.p50 is not None and report.p95 is not None
    assert report.p99 is not None and report.max is not None
    assert report.min <= report.p50 <= report.p95 <= report.p99 <= report.max
    if iterations < 100:
        assert report.p99 == report.max  # nearest rank: ceil(0.99 * n) == n
    assert report.ops_per_sec > 0
    json.dumps(report.to_dict())


def test_failures_are_counted_not_raised(engine: Any) -> None:
    """A script that fails every time gives errors == iterations and no latencies."""
    report = both(engine, profile, async_profile, "return redis.call('NOPE')", iterations=3)
    assert report.errors == 3 and report.succeeded == 0 and report.p50 is None
    assert report.ops_per_sec > 0


def test_source_text_can_be_profiled(engine: Any) -> None:
    """Lua source is profiled under the given name."""
    report = both(engine, profile, async_profile, "return 1", iterations=5, name="ops_one")
    assert report.script == "ops_one" and report.succeeded == 5


def test_bad_iterations_raise(engine: Any) -> None:
    """iterations must be a positive int."""
    with pytest.raises(ValueError, match="iterations"):
        both(engine, profile, async_profile, "core_ping", args=("x",), iterations=0)
