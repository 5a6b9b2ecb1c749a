"""The ``redlua`` command: a private server, the shipped scripts, validation, the demo,
(in `redlua._cli_stateful`) stateful links and pods, (in `redlua._cli_ops`) health,
stats, profile and bench, and (in `redlua._cli_inspect`) ``inspect`` of each recipe.

Every command that talks to a server takes ``--url``; without it the URL comes
from ``REDIS_URL``, else a private embedded server is started for the command
and stopped when it ends. User errors print one line on stderr, never a
traceback: exit 2 for bad usage or input, 1 for failures at run time.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from redis.exceptions import RedisError

from . import __version__
from ._cli_base import (
    CONNECT_TIMEOUT,
    EXIT_FAILURE,
    EXIT_USAGE,
    CliError,
    Target,
    at_least,
    connected,
    integer,
    masked,
    note,
    open_client,
)
from ._cli_inspect import add_inspect
from ._cli_ops import add_ops
from ._cli_stateful import add_links, add_pods
from ._core import Call
from ._demo import run_demo
from ._registry import shipped_scripts
from ._script import Contract, Script
from .engine import Engine
from .errors import (
    ContractError,
    CrossSlotError,
    RedluaError,
    UnknownScriptError,
)
from .server import EmbeddedCluster, EmbeddedServer, ServerNotFoundError, ServerStartError

__all__ = [
    "CONNECT_TIMEOUT",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "CliError",
    "Target",
    "arities",
    "connected",
    "main",
    "masked",
    "open_client",
    "reply_lines",
    "to_json",
]

Handler = Callable[[argparse.Namespace], int]

_INPUT_ERRORS = (UnknownScriptError, ContractError, CrossSlotError)


# -- entry point ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``redlua`` command with *argv* (default ``sys.argv[1:]``); return its exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as exc:
        return _fail(str(exc), exc.code)
    except _INPUT_ERRORS as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (RedluaError, RedisError, ServerNotFoundError, ServerStartError) as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # e.g. `redlua scripts list | head -1`
        _silence_stdout()
        return EXIT_FAILURE
    except OSError as exc:  # e.g. no room for a temporary server's directory
        return _fail(str(exc), EXIT_FAILURE)


def _fail(message: str, code: int) -> int:
    print(f"redlua: {message}", file=sys.stderr)
    return code


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# -- argument parsing ----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redlua", description="Atomic Redis/Valkey operations with Lua scripts."
    )
    parser.add_argument("--version", action="version", version=f"redlua {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument(
        "--url",
        help="server URL (default: $REDIS_URL, else a temporary embedded server)",
    )
    _add_server(commands)
    _add_scripts(commands, url)
    _add_run(commands, url)
    _add_validate(commands, url)
    _add_demo(commands, url)
    add_links(commands, url)
    add_pods(commands, url)
    add_ops(commands, url)
    add_inspect(commands, url)
    return parser


def _add_server(commands: Any) -> None:
    cmd = commands.add_parser("server", help="run an embedded server until Ctrl+C")
    cmd.add_argument("--port", type=_port, help="TCP port (default: a free one)")
    cmd.add_argument("--cluster", action="store_true", help="run a local Redis Cluster")
    cmd.add_argument("--masters", type=at_least(1), help="cluster masters (default: 3)")
    cmd.add_argument("--replicas", type=at_least(0), help="cluster replicas (default: 0)")
    cmd.set_defaults(handler=_cmd_server)


def _add_scripts(commands: Any, url: argparse.ArgumentParser) -> None:
    scripts = commands.add_parser("scripts", help="list, show and manage the shipped scripts")
    actions = scripts.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list the shipped scripts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_cmd_list)
    show = actions.add_parser("show", help="show a script's contract and source")
    show.add_argument("name", metavar="NAME", help="a shipped script's name")
    show.set_defaults(handler=_cmd_show)
    admin = (
        ("load", "SCRIPT LOAD every shipped script", _cmd_load),
        ("exists", "say which shipped scripts the server has loaded", _cmd_exists),
        ("flush", "SCRIPT FLUSH: empty the server's script cache", _cmd_flush),
        ("kill", "SCRIPT KILL: stop a script that runs too long", _cmd_kill),
    )
    for name, text, handler in admin:
        actions.add_parser(name, help=text, parents=[url]).set_defaults(handler=handler)


def _add_run(commands: Any, url: argparse.ArgumentParser) -> None:
    run = commands.add_parser("run", help="run a shipped script", parents=[url])
    run.add_argument("name", metavar="NAME", help="a shipped script (see: redlua scripts list)")
    run.add_argument("--key", action="append", default=[], metavar="K", help="a key (repeat)")
    run.add_argument("--arg", action="append", default=[], metavar="A", help="an arg (repeat)")
    run.add_argument("--json", action="store_true", help="print the reply as JSON")
    run.set_defaults(handler=_cmd_run)


def _add_validate(commands: Any, url: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser("validate", help="compile a Lua file on the server", parents=[url])
    cmd.add_argument("file", metavar="FILE", help="a .lua file, or - for stdin")
    cmd.set_defaults(handler=_cmd_validate)


def _add_demo(commands: Any, url: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser("demo", help="show what redlua does, step by step", parents=[url])
    cmd.set_defaults(handler=_cmd_demo)


def _port(text: str) -> int:
    value = integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {value}")
    return value


# -- redlua server -------------------------------------------------------------------------


def _cmd_server(args: argparse.Namespace) -> int:
    if not args.cluster and (args.masters is not None or args.replicas is not None):
        raise CliError("--masters and --replicas need --cluster", EXIT_USAGE)
    if args.cluster and args.port is not None:
        raise CliError("--port cannot be used with --cluster (each node picks a port)", EXIT_USAGE)
    with _stop_signals() as stop:
        if args.cluster:
            masters = 3 if args.masters is None else args.masters
            cluster = EmbeddedCluster(masters=masters, replicas=args.replicas or 0)
            with cluster:
                _announce_cluster(cluster)
                return _serve(stop, cluster.nodes)
        with EmbeddedServer(port=args.port) as server:
            _announce_server(server)
            return _serve(stop, [server])


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """Turn SIGINT and SIGTERM into setting the yielded event, for the block's duration."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _announce_server(server: EmbeddedServer) -> None:
    print(server.url)
    if server.unix_url:
        print(server.unix_url)
    sys.stdout.flush()
    note(f"{server.server_name} {server.version} running (pid {server.pid}); Ctrl+C stops it")


def _announce_cluster(cluster: EmbeddedCluster) -> None:
    print(cluster.url, flush=True)
    ports = ", ".join(str(node.port) for node in cluster.nodes)
    what = f"{cluster.masters} masters and {cluster.replicas} replicas"
    note(f"cluster of {what} running on ports {ports}; Ctrl+C stops it")


def _serve(stop: threading.Event, nodes: list[EmbeddedServer]) -> int:
    """Wait for *stop*; return 0, or 1 if a node exits on its own first."""
    while not stop.wait(0.2):
        dead = next((node for node in nodes if not node.is_running()), None)
        if dead is not None:
            tail = dead.log_tail()
            return _fail(f"the server on port {dead.port} exited; its last log lines:\n{tail}", 1)
    note("stopping")
    return 0


# -- redlua scripts ------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    scripts = list(shipped_scripts().values())
    if args.json:
        print(json.dumps([_script_json(s) for s in scripts], indent=2))
        return 0
    rows = [("NAME", "SHA", "FLAGS", "KEYS", "ARGV", "PURPOSE")]
    rows += [_script_row(s) for s in scripts]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0


def _script_row(script: Script) -> tuple[str, str, str, str, str, str]:
    contract = script.contract
    keys, argv = arities(contract)
    purpose = contract.purpose if contract else ""
    return (
        script.name,
        script.sha[:12],
        ",".join(sorted(script.flags)) or "-",
        keys,
        argv,
        purpose,
    )


def arities(contract: Contract | None) -> tuple[str, str]:
    """Return how many KEYS and ARGV a contract takes: ``"2"``, ``"0-1"``, ``"2+"``."""
    if contract is None:
        return "?", "?"
    nkeys = len(contract.keys)
    keys = f"{nkeys}+" if contract.keys_variadic else str(nkeys)
    low, high = contract.argv_required, len(contract.argv)
    if contract.argv_variadic:
        return keys, f"{low}+"
    return keys, str(high) if low == high else f"{low}-{high}"


def _script_json(script: Script) -> dict[str, Any]:
    contract = script.contract
    keys, argv = arities(contract)
    return {
        "name": script.name,
        "sha": script.sha,
        "flags": sorted(script.flags),
        "keys": keys,
        "argv": argv,
        "purpose": contract.purpose if contract else None,
        "idempotent": script.idempotent,
    }


def _cmd_show(args: argparse.Namespace) -> int:
    script = _shipped(args.name)
    print(script.name)
    for label, value in _contract_lines(script):
        print(f"  {label:<11} {value}")
    print(f"\n-- source: lua/{script.name}.lua " + "-" * 40)
    print(script.source.rstrip("\n"))
    return 0


def _shipped(name: str) -> Script:
    scripts = shipped_scripts()
    if name in scripts:
        return scripts[name]
    close = difflib.get_close_matches(name, list(scripts), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else " (see: redlua scripts list)"
    raise CliError(f"no shipped script named {name!r}{hint}", EXIT_USAGE)


def _contract_lines(script: Script) -> list[tuple[str, str]]:
    flags = ", ".join(sorted(script.flags)) or "none"
    lines = [("sha", script.sha), ("flags", flags + (" (read-only)" if script.read_only else ""))]
    contract = script.contract
    if contract is None:
        return [*lines, ("contract", "none")]
    lines.append(("purpose", contract.purpose))
    lines += _entries("KEYS", contract.keys, contract.keys_variadic)
    lines += _entries("ARGV", contract.argv, contract.argv_variadic)
    lines.append(("returns", contract.returns))
    lines.append(("errors", ", ".join(contract.errors) or "none"))
    lines.append(("idempotent", "yes" if contract.idempotent else "no"))
    return lines


def _entries(kind: str, items: tuple[str, ...], variadic: bool) -> list[tuple[str, str]]:
    if not items:
        return [(kind, "none")]
    last = len(items)
    return [
        (f"{kind}[{i}..n]" if variadic and i == last else f"{kind}[{i}]", text)
        for i, text in enumerate(items, 1)
    ]


def _cmd_load(args: argparse.Namespace) -> int:
    with connected(args.url) as target:
        engine = Engine(target.client)
        count = engine.preload()
        for script in engine.registry:
            print(f"{script.name}  {script.sha[:12]}")
    print(f"loaded {count} script{'s' * (count != 1)}")
    return 0


def _cmd_exists(args: argparse.Namespace) -> int:
    with connected(args.url) as target:
        found = Engine(target.client).exists()
    width = max(map(len, found), default=0)
    for name, loaded in found.items():
        print(f"{name:<{width}}  {'loaded' if loaded else 'not loaded'}")
    return 0


def _cmd_flush(args: argparse.Namespace) -> int:
    with connected(args.url) as target:
        Engine(target.client).flush()
    print("flushed the script cache")
    return 0


def _cmd_kill(args: argparse.Namespace) -> int:
    with connected(args.url) as target:
        killed = Engine(target.client).kill()
    print("killed" if killed else "no script running")
    return 0


# -- redlua run ----------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    call: Call[Any] = Call(_shipped(args.name), tuple(args.key), tuple(args.arg))
    with connected(args.url) as target:
        reply = Engine(target.client).run(call)
    if args.json:
        print(json.dumps(to_json(reply), ensure_ascii=False))
    else:
        for line in reply_lines(reply):
            print(line)
    return 0


def to_json(reply: Any) -> Any:
    """Return *reply* as JSON-ready values: bytes as text, errors as ``{"error": ...}``."""
    if isinstance(reply, bytes):
        return _text(reply)
    if isinstance(reply, (list, tuple)):
        return [to_json(item) for item in reply]
    if isinstance(reply, dict):
        return {str(to_json(k)): to_json(v) for k, v in reply.items()}
    if isinstance(reply, Exception):
        return {"error": str(reply)}
    return reply


def reply_lines(reply: Any, indent: str = "") -> Iterator[str]:
    """Yield *reply* as text lines: one per list item, nested lists indented."""
    if not isinstance(reply, (list, tuple)):
        yield indent + _scalar(reply)
        return
    if not reply:
        yield indent + "(empty list)"
    for item in reply:
        deeper = isinstance(item, (list, tuple))
        yield from reply_lines(item, indent + "  " if deeper else indent)


def _scalar(value: Any) -> str:
    if value is None:
        return "(nil)"
    if isinstance(value, Exception):
        return f"(error) {value}"
    return _text(value) if isinstance(value, bytes) else str(value)


def _text(raw: bytes) -> str:
    """Decode *raw* as UTF-8, escaping the bytes that are not (``\\xff``)."""
    return raw.decode("utf-8", "backslashreplace")


# -- redlua validate -----------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    source = _read_source(args.file)
    with connected(args.url) as target:
        result = Engine(target.client).validate(source)
    if result.valid:
        print(f"ok {result.sha}")
        return 0
    where = f"{args.file}:{result.line}" if result.line is not None else args.file
    message = result.error.message if result.error else result.message
    print(f"{where}: {message}")
    if result.source_line is not None:
        print(f"    {result.line} | {result.source_line.rstrip()}")
    return EXIT_FAILURE


def _read_source(file: str) -> str:
    try:
        if file == "-":
            return sys.stdin.read()
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read {file}: {reason}", EXIT_USAGE) from None


# -- redlua demo ---------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    with connected(args.url, announce=False) as target:
        failed = run_demo(
            Engine(target.client), sys.stdout, url=target.shown, private=target.private
        )
    return EXIT_FAILURE if failed else 0
