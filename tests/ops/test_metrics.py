"""redlua.ops.metrics: the Prometheus collector's output, and redlua without prometheus_client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import WatchError

from redlua.ops import TransactionMonitor
from redlua.ops.metrics import RedluaCollector, register
from tests.ops import target

ROOT = Path(__file__).resolve().parents[2]


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_script_figures_are_exported(engine: Any) -> None:
    """Calls, errors, reloads and latency of each script appear with engine and script labels."""
    for i in range(4):
        engine.run_script("core_ping", args=(str(i),))
    engine.register("ops_metrics_fail", "return redis.call('NOPE')")
    with pytest.raises(Exception):  # noqa: B017, PT011 - any script error will do
        engine.run_script("ops_metrics_fail")
    registry = CollectorRegistry()
    register(engines={"main": target(engine)}, registry=registry)
    found = _samples(registry)
    ping = (("engine", "main"), ("script", "core_ping"))
    assert found[("redlua_script_calls_total", ping)] == 4
    assert found[("redlua_script_errors_total", ping)] == 0
    assert found[("redlua_script_reloads_total", ping)] >= 0
    assert found[("redlua_script_latency_seconds_count", ping)] == 4
    assert found[("redlua_script_latency_seconds_sum", ping)] > 0
    assert (
        found[
            ("redlua_script_latency_quantile_seconds", tuple(sorted((*ping, ("quantile", "0.99")))))
        ]
        > 0
    )
    failed = (("engine", "main"), ("script", "ops_metrics_fail"))
    assert found[("redlua_script_errors_total", failed)] == 1
    assert found[("redlua_script_outcome_unknown_total", failed)] == 0


def test_monitor_figures_are_exported() -> None:
    """Per-function runs by outcome, errors by type, conflicts and a duration histogram."""
    monitor = TransactionMonitor()
    monitor.record("transfer", 0.002)
    monitor.record("transfer", 0.2, error=WatchError("x"))
    monitor.conflict("transfer", 2)
    registry = CollectorRegistry()
    collector = RedluaCollector()
    collector.add_monitor("orders", monitor)
    registry.register(collector)
    found = _samples(registry)
    fn = (("function", "transfer"), ("monitor", "orders"))
    assert found[("redlua_transaction_calls_total", (*fn, ("outcome", "ok")))] == 1
    assert found[("redlua_transaction_calls_total", (*fn, ("outcome", "error")))] == 1
    assert found[("redlua_transaction_errors_total", (("error_type", "WatchError"), *fn))] == 1
    assert found[("redlua_transaction_conflicts_total", fn)] == 3
    assert found[("redlua_transaction_duration_seconds_count", fn)] == 2
    assert found[("redlua_transaction_duration_seconds_sum", fn)] == pytest.approx(0.202)
    le = dict(fn)
    bucket = {
        k[1]: v for k, v in found.items() if k[0] == "redlua_transaction_duration_seconds_bucket"
    }
    assert bucket[tuple(sorted({**le, "le": "0.0025"}.items()))] == 1
    assert bucket[tuple(sorted({**le, "le": "0.25"}.items()))] == 2
    assert bucket[tuple(sorted({**le, "le": "+Inf"}.items()))] == 2


def test_collector_checks_what_it_is_given() -> None:
    """Engines and monitors must be of the right type, keyed by names."""
    with pytest.raises(TypeError, match="engines"):
        RedluaCollector(engines={"x": object()})
    with pytest.raises(TypeError, match="monitors"):
        RedluaCollector(monitors={"": TransactionMonitor()})


def test_redlua_imports_without_prometheus_client() -> None:
    """import redlua and redlua.ops work when prometheus_client cannot be imported."""
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "import redlua, redlua.ops\n"
        "assert 'prometheus_client' not in {m for m in sys.modules if sys.modules[m]}\n"
        "try:\n    import redlua.ops.metrics\nexcept ImportError:\n    print('metrics-needs-extra')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.stdout.strip() == "metrics-needs-extra"
