"""Operations: what an operator needs to see what redlua is doing, and why.

* `health_check` / `async_health_check`: PING time, server and version, role,
  clients, memory, uptime, script cache, whether the shipped scripts are loaded;
  one row per node and the cluster state on a cluster. Never raises for a
  server problem: the report says ``healthy=False`` and why.
* `pool_stats`: each connection pool's limit and its connections made, in use
  and available (per node on a cluster).
* `script_report` / `async_script_report`: the engine's per-script figures
  (``engine.stats()``) beside the servers' INFO commandstats and the SLOWLOG
  entries that are the engine's scripts.
* `TransactionMonitor`: durations, outcomes and WATCH conflicts of wrapped code,
  with windowed statistics and recent failures, in bounded memory.
* `debug_script` / `async_debug_script`: one run of a script with its result,
  duration, error line and source line, and in debug mode its log lines.
* `profile` / `async_profile`: latency percentiles and ops/s of one script.
* ``redlua.ops.metrics`` (the ``prometheus`` extra): a Prometheus collector of
  all of the above; import it explicitly.

Every result has ``to_dict()`` with JSON-safe values. Log records go to the
``redlua.ops`` logger, which is quiet unless the application configures logging.
"""

from __future__ import annotations

from redlua._recipe_stats import RecipeSnapshot, RecipeStats, Timing, recipe_stats
from redlua.ops.debugger import DebugResult, async_debug_script, debug_script, debug_source
from redlua.ops.health import (
    ClusterState,
    HealthReport,
    NodeHealth,
    async_health_check,
    health_check,
)
from redlua.ops.monitor import (
    Durations,
    Failure,
    FunctionStats,
    MonitorStats,
    Tracking,
    TransactionMonitor,
)
from redlua.ops.pools import PoolStats, pool_stats
from redlua.ops.profiling import ProfileReport, async_profile, profile
from redlua.ops.scripts import (
    CommandStat,
    ScriptReport,
    SlowScript,
    async_script_report,
    script_report,
)

__all__ = [
    "async_debug_script",
    "async_health_check",
    "async_profile",
    "async_script_report",
    "ClusterState",
    "CommandStat",
    "debug_script",
    "debug_source",
    "DebugResult",
    "Durations",
    "Failure",
    "FunctionStats",
    "health_check",
    "HealthReport",
    "MonitorStats",
    "NodeHealth",
    "pool_stats",
    "PoolStats",
    "profile",
    "ProfileReport",
    "recipe_stats",
    "RecipeSnapshot",
    "RecipeStats",
    "script_report",
    "ScriptReport",
    "SlowScript",
    "Timing",
    "Tracking",
    "TransactionMonitor",
]
