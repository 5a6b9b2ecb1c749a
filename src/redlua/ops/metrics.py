"""Prometheus export: redlua's figures through ``prometheus_client`` (the ``prometheus`` extra).

`RedluaCollector` is a custom collector: nothing is counted twice, each scrape
reads the figures the engines and monitors already keep. Install it with
`register` (or ``registry.register(collector)``)::

    from redlua.ops.metrics import register
    collector = register(engines={"main": engine}, monitors={"orders": monitor})

Per script (labels ``engine``, ``script``): ``redlua_script_calls_total``,
``..._errors_total``, ``..._reloads_total`` (NOSCRIPT reloads),
``..._retries_total``, ``..._outcome_unknown_total``, the summary
``redlua_script_latency_seconds`` (count and sum) and the gauge
``redlua_script_latency_quantile_seconds`` (label ``quantile``: 0.5, 0.95, 0.99).
Per recipe event (labels ``engine``, ``event``): ``redlua_recipe_events_total``
(``lock.acquired``, ``lock.waited``, ``lock.timed_out``, ``lock.handed_over``,
``lock.lost``, ``ratelimit.allowed``, ``ratelimit.denied``, ...) and the summary
``redlua_recipe_seconds`` (label ``timing``: ``lock.wait``, ``lock.held``).
Per monitored function (labels ``monitor``, ``function``):
``redlua_transaction_calls_total`` (label ``outcome``: ok, error),
``redlua_transaction_errors_total`` (label ``error_type``),
``redlua_transaction_conflicts_total`` (WATCH conflicts) and the histogram
``redlua_transaction_duration_seconds``.

Only this module imports ``prometheus_client``; ``import redlua`` and
``import redlua.ops`` work without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import CollectorRegistry

from redlua._engine_core import EngineCore
from redlua._recipe_stats import recipe_stats
from redlua.ops.monitor import DURATION_BOUNDS, TransactionMonitor

_SCRIPT_COUNTERS = (
    ("calls", "Script calls run by the engine."),
    ("errors", "Script calls that ended in an error."),
    ("reloads", "NOSCRIPT replies healed by SCRIPT LOAD and a re-send."),
    ("retries", "Re-sends after replies that proved the script did not run."),
    ("outcome_unknown", "Calls sent without a reply: the script may or may not have run."),
)
_QUANTILES = (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"))


def _check_names(what: str, items: Mapping[str, Any] | None, kind: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, item in (items or {}).items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} must be keyed by non-empty str names")
        if not isinstance(item, kind):
            raise TypeError(
                f"{what}[{name!r}] must be a {kind.__name__}, not {type(item).__name__}"
            )
        found[name] = item
    return found


class RedluaCollector:
    """Expose the figures of engines and transaction monitors, each under a name."""

    def __init__(
        self,
        engines: Mapping[str, Any] | None = None,
        monitors: Mapping[str, TransactionMonitor] | None = None,
    ) -> None:
        self._engines: dict[str, EngineCore] = _check_names("engines", engines, EngineCore)
        self._monitors = _check_names("monitors", monitors, TransactionMonitor)
        self._lock = threading.Lock()

    def add_engine(self, name: str, engine: Any) -> None:
        """Export *engine*'s script figures with label ``engine=name``."""
        with self._lock:
            self._engines.update(_check_names("engines", {name: engine}, EngineCore))

    def add_monitor(self, name: str, monitor: TransactionMonitor) -> None:
        """Export *monitor*'s figures with label ``monitor=name``."""
        with self._lock:
            self._monitors.update(_check_names("monitors", {name: monitor}, TransactionMonitor))

    def describe(self) -> list[Metric]:
        """Return nothing: the metric names depend on what has run (the registry then collects)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield one metric family per figure, read now from every engine and monitor."""
        with self._lock:
            engines, monitors = dict(self._engines), dict(self._monitors)
        yield from _script_families(engines)
        yield from _recipe_families(engines)
        yield from _monitor_families(monitors)


def _script_families(engines: dict[str, EngineCore]) -> Iterator[Metric]:
    labels = ["engine", "script"]
    counters = {
        what: CounterMetricFamily(f"redlua_script_{what}", doc, labels=labels)
        for what, doc in _SCRIPT_COUNTERS
    }
    latency = SummaryMetricFamily(
        "redlua_script_latency_seconds", "Round-trip time of script calls.", labels=labels
    )
    quantiles = GaugeMetricFamily(
        "redlua_script_latency_quantile_seconds",
        "Latency percentiles of script calls (from a histogram exact to 5 %).",
        labels=[*labels, "quantile"],
    )
    for engine_name, engine in sorted(engines.items()):
        for script, stats in engine.stats().items():
            values = [engine_name, script]
            for what, family in counters.items():
                family.add_metric(values, getattr(stats, what))
            total = (stats.mean or 0.0) * stats.calls
            latency.add_metric(values, count_value=stats.calls, sum_value=total)
            for quantile, field in _QUANTILES:
                value = getattr(stats, field)
                if value is not None:
                    quantiles.add_metric([*values, quantile], value)
    yield from counters.values()
    yield latency
    yield quantiles


def _recipe_families(engines: dict[str, EngineCore]) -> Iterator[Metric]:
    counts = CounterMetricFamily(
        "redlua_recipe_events",
        "Events recipes counted (lock.acquired, lock.lost, ratelimit.denied, ...).",
        labels=["engine", "event"],
    )
    timings = SummaryMetricFamily(
        "redlua_recipe_seconds",
        "Durations recipes recorded (lock.wait, lock.held).",
        labels=["engine", "timing"],
    )
    for engine_name, engine in sorted(engines.items()):
        snapshot = recipe_stats(engine).snapshot()
        for event, n in sorted(snapshot.counts.items()):
            counts.add_metric([engine_name, event], n)
        for timing, figures in sorted(snapshot.timings.items()):
            timings.add_metric(
                [engine_name, timing], count_value=figures.count, sum_value=figures.sum
            )
    yield counts
    yield timings


def _monitor_families(monitors: dict[str, TransactionMonitor]) -> Iterator[Metric]:
    labels = ["monitor", "function"]
    calls = CounterMetricFamily(
        "redlua_transaction_calls", "Monitored runs by outcome.", labels=[*labels, "outcome"]
    )
    errors = CounterMetricFamily(
        "redlua_transaction_errors", "Failed monitored runs by exception type.",
        labels=[*labels, "error_type"],
    )  # fmt: skip
    conflicts = CounterMetricFamily(
        "redlua_transaction_conflicts", "WATCH conflicts seen by monitored runs.", labels=labels
    )
    durations = HistogramMetricFamily(
        "redlua_transaction_duration_seconds", "Duration of monitored runs.", labels=labels
    )
    bounds = [_bound(b) for b in DURATION_BOUNDS]
    for monitor_name, monitor in sorted(monitors.items()):
        for function, totals in monitor.totals().items():
            values = [monitor_name, function]
            stats = totals.stats
            calls.add_metric([*values, "ok"], stats.succeeded)
            calls.add_metric([*values, "error"], stats.failed)
            for error_type, count in stats.errors.items():
                errors.add_metric([*values, error_type], count)
            conflicts.add_metric(values, stats.conflicts)
            buckets = [*zip(bounds, totals.buckets, strict=True), ("+Inf", stats.calls)]
            durations.add_metric(values, buckets=buckets, sum_value=totals.sum)
    yield from (calls, errors, conflicts, durations)


def _bound(seconds: float) -> str:
    return repr(float(seconds))


def register(
    engines: Mapping[str, Any] | None = None,
    monitors: Mapping[str, TransactionMonitor] | None = None,
    *,
    registry: CollectorRegistry = REGISTRY,
) -> RedluaCollector:
    """Make a `RedluaCollector` for *engines* and *monitors* and register it in *registry*."""
    collector = RedluaCollector(engines, monitors)
    registry.register(collector)
    return collector
