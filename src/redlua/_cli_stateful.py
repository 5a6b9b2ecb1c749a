"""``redlua links`` and ``redlua pods``: read and change stateful links from a shell.

Every command takes the keyspace options: ``--schema sf`` (default) with
``--namespace NS`` (default ``default``), or ``--schema slug`` with ``--app`` and
``--region``. Names are checked and every call is built before connecting, so a
bad name (a brace, a control character, ``#`` in a service) exits 2 without
touching a server. Data on the server that no redlua, Java or Go writer produces
(a link holding ``abc``) exits 1 with what was found.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ._cli_base import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CliError,
    at_least,
    connected,
    positive_seconds,
    table,
)
from ._core import Call
from .engine import Engine
from .errors import CorruptDataError, CrossSlotError, InvalidArgumentError
from .stateful.keys import KeySchema
from .stateful.links import LinkOps
from .stateful.registry import PodState, PodView, pods

T = TypeVar("T")

DEFAULT_NAMESPACE = "default"
DEFAULT_EXPIRE = 60.0  # seconds: the Java framework's default state expiry


# -- parsers ---------------------------------------------------------------------------------


def keyspace() -> argparse.ArgumentParser:
    """Return the options every links/pods command shares (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("keyspace")
    group.add_argument(
        "--schema",
        choices=("sf", "slug"),
        default="sf",
        help="key layout: sf (default, cluster-safe) or slug (the older Java layout)",
    )
    group.add_argument(
        "--namespace", metavar="NS", help=f"sf namespace (default: {DEFAULT_NAMESPACE!r})"
    )
    group.add_argument("--app", metavar="APP", help="slug schema: the app id")
    group.add_argument("--region", metavar="REGION", help="slug schema: the region id")
    parent.add_argument("--json", action="store_true", help="print JSON")
    return parent


def add_links(commands: Any, url: argparse.ArgumentParser) -> None:
    """Add ``redlua links get|set|remove|services``."""
    parents = [url, keyspace()]
    links = commands.add_parser("links", help="read and change the pod a UID is linked to")
    actions = links.add_subparsers(dest="action", required=True, metavar="ACTION")

    get = actions.add_parser("get", help="the pod UID is linked to for SERVICE", parents=parents)
    _uid_service(get)
    get.set_defaults(handler=cmd_get)

    put = actions.add_parser(
        "set", help="link UID to POD for SERVICE (overwrites any link)", parents=parents
    )
    _uid_service(put)
    put.add_argument("pod", metavar="POD", type=at_least(0), help="pod id (StatefulSet ordinal)")
    put.add_argument(
        "--ttl",
        type=at_least(1),
        metavar="SECONDS",
        help="a temporary link expiring after SECONDS (default: persistent)",
    )
    put.set_defaults(handler=_cmd_set)

    remove = actions.add_parser("remove", help="remove UID's link for SERVICE", parents=parents)
    _uid_service(remove)
    remove.add_argument(
        "--keep",
        type=at_least(0),
        metavar="SECONDS",
        help="leave a temporary link for SECONDS before it goes (default: 0, now)",
    )
    remove.add_argument(
        "--pod",
        type=at_least(0),
        metavar="POD",
        help="remove only while the link still holds POD",
    )
    remove.set_defaults(handler=_cmd_remove)

    services = actions.add_parser(
        "services", help="every service where UID holds a persistent link", parents=parents
    )
    services.add_argument("uid", metavar="UID")
    services.set_defaults(handler=_cmd_services)


def add_pods(commands: Any, url: argparse.ArgumentParser) -> None:
    """Add ``redlua pods list``."""
    cmd = commands.add_parser("pods", help="the pods of a stateful service")
    actions = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="each pod's load, heartbeat age, routing state and address",
        parents=[url, keyspace()],
    )
    listing.add_argument("service", metavar="SERVICE")
    listing.add_argument(
        "--expire",
        type=positive_seconds,
        default=DEFAULT_EXPIRE,
        metavar="SECONDS",
        help=f"a pod is dead after SECONDS without a heartbeat (default: {DEFAULT_EXPIRE:g})",
    )
    listing.set_defaults(handler=cmd_pods)


def _uid_service(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("uid", metavar="UID")
    parser.add_argument("service", metavar="SERVICE")


# -- building and running --------------------------------------------------------------------


def schema_of(args: argparse.Namespace) -> KeySchema:
    """Return the `KeySchema` the options name; `CliError` (exit 2) for a bad combination."""
    if args.schema == "slug":
        if args.namespace is not None:
            raise CliError(
                "--namespace is for --schema sf; slug takes --app and --region", EXIT_USAGE
            )
        if args.app is None or args.region is None:
            raise CliError("--schema slug needs --app and --region", EXIT_USAGE)
        return _checked(lambda: KeySchema.slug(args.app, args.region))
    if args.app is not None or args.region is not None:
        raise CliError("--app and --region need --schema slug", EXIT_USAGE)
    namespace = DEFAULT_NAMESPACE if args.namespace is None else args.namespace
    return _checked(lambda: KeySchema.sf(namespace))


def _checked(build: Callable[[], T]) -> T:
    """Run *build*; its `ValueError` or `TypeError` (a bad name) becomes a usage error."""
    try:
        return build()
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


@contextlib.contextmanager
def _engine(args: argparse.Namespace) -> Iterator[Engine]:
    """Yield an `Engine` on the server; a reply no writer produces (``abc`` for a pod) exits 1."""
    with connected(args.url) as target:
        try:
            yield Engine(target.client)
        except CrossSlotError:
            raise  # the slug layout on a cluster: a usage error (exit 2) in cli.main
        except InvalidArgumentError as exc:  # a value the scripts refuse, e.g. a 16-digit pod
            raise CliError(str(exc), EXIT_USAGE) from None
        except (ValueError, CorruptDataError) as exc:  # raised by a decoder
            raise CliError(f"unexpected data on the server: {exc}", EXIT_FAILURE) from None


def _run(args: argparse.Namespace, call: Call[T]) -> T:
    """Run one *call* and return its decoded reply."""
    with _engine(args) as engine:
        return engine.run(call)


def _emit(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> int:
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        for line in lines:
            print(line)
    return 0


def _pod_text(pod: int | None) -> str:
    return "no link" if pod is None else f"pod {pod}"


# -- redlua links ----------------------------------------------------------------------------


def _ops(args: argparse.Namespace) -> LinkOps:
    return LinkOps(schema_of(args))


def cmd_get(args: argparse.Namespace) -> int:
    ops = _ops(args)
    calls: list[Call[Any]] = _checked(
        lambda: [
            ops.get_link(args.uid, args.service),
            ops.get_link_if_persist(args.uid, args.service),
            ops.version(args.uid, args.service),
        ]
    )
    key = ops.schema.link_key(args.uid, args.service)  # checked by the builders above
    with _engine(args) as engine:
        pod, persistent, version = engine.run_many(calls, atomic=True)  # one snapshot
        temporary = pod is not None and persistent is None
        ttl = int(engine.client.ttl(key)) if temporary else -1
    data = {
        "uid": args.uid,
        "service": args.service,
        "key": key,
        "pod": pod,
        "persistent": persistent is not None,
        "ttl": ttl if ttl >= 0 else None,
        "version": version,
    }
    if pod is None:
        what = "no link"
    elif not temporary:
        what = f"pod {pod} (persistent, fencing version {version})"
    else:
        expires = f", expires in {ttl} s" if ttl >= 0 else ""
        what = f"pod {pod} (temporary{expires}, fencing version {version})"
    return _emit(args, data, [f"{args.uid} {args.service} -> {what}", f"key {key}"])


def _cmd_set(args: argparse.Namespace) -> int:
    ops = _ops(args)
    call = _checked(lambda: ops.set_link(args.uid, args.service, args.pod, args.ttl))
    previous = _run(args, call)
    data = {
        "uid": args.uid,
        "service": args.service,
        "pod": args.pod,
        "ttl": args.ttl,
        "previous": previous,
    }
    kind = "persistent" if args.ttl is None else f"temporary, {args.ttl} s"
    line = f"{args.uid} {args.service} -> pod {args.pod} ({kind}); was {_pod_text(previous)}"
    return _emit(args, data, [line])


def _cmd_remove(args: argparse.Namespace) -> int:
    ops = _ops(args)
    keep = args.keep or None
    if args.pod is None:
        call = _checked(lambda: ops.remove_link(args.uid, args.service, keep))
    else:
        call = _checked(lambda: ops.remove_link_if(args.uid, args.service, args.pod, keep))
    removed = _run(args, call)
    data = {
        "uid": args.uid,
        "service": args.service,
        "removed": removed,
        "keep": keep,
        "pod": args.pod,
    }
    subject = f"{args.uid} {args.service}"
    if removed:
        line = f"{subject}: link removed" + (
            "" if keep is None else f"; it stays as a temporary link for {keep} s"
        )
    elif args.pod is None:
        line = f"{subject}: no link to remove"
    else:
        line = f"{subject}: not removed, the link does not hold pod {args.pod}"
    return _emit(args, data, [line])


def _cmd_services(args: argparse.Namespace) -> int:
    ops = _ops(args)
    call = _checked(lambda: ops.linked_services(args.uid))
    services = _run(args, call)
    data = {"uid": args.uid, "services": services}
    if not services:
        return _emit(args, data, [f"{args.uid} has no persistent link"])
    rows = [("SERVICE", "POD")] + [(name, str(pod)) for name, pod in sorted(services.items())]
    return _emit(args, data, table(rows[0], rows[1:]))


# -- redlua pods -----------------------------------------------------------------------------


def cmd_pods(args: argparse.Namespace) -> int:
    schema = schema_of(args)
    call = _checked(lambda: pods(schema, args.service, expire=args.expire))
    view = _run(args, call)
    data = view_json(view, args.expire)
    state_key = schema.state_key(view.service)
    if not view.pods:
        return _emit(args, data, [f"no pod of {view.service!r} has a state in {state_key}"])
    return _emit(args, data, view_lines(view, args.expire, state_key))


def pod_json(state: PodState) -> dict[str, Any]:
    """Return one pod of a view as JSON-ready values."""
    return {
        "pod": state.pod,
        "load": state.load,
        "reserved": state.reserved,
        "effective_load": state.effective_load,
        "capacity": state.capacity,
        "heartbeat_ms": state.heartbeat_ms,
        "age_ms": state.age_ms,
        "routing": state.routing.value,
        "alive": state.alive,
        "routable": state.routable,
        "available": state.available,
        "address": state.address,
        "incarnation": state.incarnation,
        "raw": state.raw,
    }


def view_json(view: PodView, expire: float) -> dict[str, Any]:
    """Return a `PodView` as JSON-ready values."""
    return {
        "service": view.service,
        "now_ms": view.now_ms,
        "expire": expire,
        "pods": [pod_json(p) for p in view.pods],
    }


def age(ms: int | None) -> str:
    """Format a heartbeat age: ``1.2 s``, ``5 min``, ``3.0 h``, ``12 d``; ``?`` when unknown."""
    if ms is None:
        return "?"
    if abs(ms) < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms // 60_000} min"
    if ms < 86_400_000:
        return f"{ms / 3_600_000:.1f} h"
    return f"{ms // 86_400_000} d"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def view_lines(view: PodView, expire: float, state_key: str) -> list[str]:
    """Return the ``pods list`` table, its notes and a summary line."""
    header = ("POD", "LOAD", "CAP", "AGE", "ROUTING", "ALIVE", "ROUTABLE", "AVAILABLE", "ADDRESS")
    rows = [header]
    notes = []
    for p in view.pods:
        unreadable = p.heartbeat_ms is None
        load = "?" if unreadable else str(p.load) + (f"+{p.reserved}" if p.reserved else "")
        rows.append(
            (
                str(p.pod),
                load,
                "-" if p.capacity is None else str(p.capacity),
                age(p.age_ms),
                p.routing.value,
                _yes(p.alive),
                _yes(p.routable),
                _yes(p.available),
                p.address or "-",
            )
        )
        if unreadable:
            notes.append(f"pod {p.pod}: state {p.raw!r} is not <load>-<epochMillis>")
    summary = [
        f"{len(view.pods)} pods in {state_key}: {len(view.alive())} alive, "
        f"{len(view.routable())} routable, {len(view.available())} available",
        f"(dead after {expire:g} s without a heartbeat; LOAD is the last heartbeat's load"
        " + links reserved since)",
    ]
    return [*table(rows[0], rows[1:]), *notes, *summary]
