"""``redlua inspect KIND ...``: one object of a recipe as the server holds it, read-only.

``lock``, ``semaphore``, ``limiter``, ``counter``, ``record``, ``product``,
``reservation`` and ``account`` read their keys with the recipe's own read-only
scripts and plain reads (several keys of one object in one MULTI/EXEC, so they
agree); ``link`` and ``pods`` are ``redlua links get`` and ``redlua pods list``
under the same roof. Nothing is written: the limiter is read by a peek, which
consumes nothing; due holds and expired reservations are shown as such, not
reaped. Names are checked before connecting (a bad one exits 2); an object that
must exist and does not (a product, a reservation, an account) exits 1; empty
states (a free lock, a counter at 0, a full limiter) are answers and exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from redis.cluster import RedisCluster

from ._checks import text
from ._cli_base import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CliError,
    at_least,
    connected,
    positive_seconds,
    table,
)
from ._cli_ops import duration, emit_json, fields, print_lines, utc
from ._cli_stateful import DEFAULT_EXPIRE, cmd_get, cmd_pods, keyspace
from .counters import CounterOps
from .counters._ops import DEFAULT_PREFIX as COUNTER_PREFIX
from .engine import Engine
from .errors import ContractError, CorruptDataError, CrossSlotError, InvalidArgumentError
from .inventory import InventoryOps, ProductInfo, ReservationInfo, Status
from .inventory._ops import DEFAULT_PREFIX as INVENTORY_PREFIX
from .ledger import AccountInfo, Entry, LedgerOps, to_decimal
from .ledger._results import hold_from_record, info_reply
from .locks import LockOps
from .locks._ops import DEFAULT_PREFIX as LOCK_PREFIX
from .locks._ops import Grant, grant
from .locks.semaphore import SemaphoreCore
from .ratelimit import ALGORITHMS, DEFAULT_PREFIX, Decision, Limit, RateLimitOps
from .txn import VersionedOps
from .txn._ops import DEFAULT_PREFIX as RECORD_PREFIX

DUE_SCAN = 1000
"""The most due holds (or expired reservations) one inspect looks at."""
VALUE_SHOWN = 200
"""Characters of a record's value shown in text (JSON has all of it)."""


# -- parsers ---------------------------------------------------------------------------------


def add_inspect(commands: Any, url: argparse.ArgumentParser) -> None:
    """Add ``redlua inspect KIND``: one read-only command per recipe (see the module doc)."""
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print one JSON document")
    parents = [url, out]
    cmd = commands.add_parser("inspect", help="read one object of a recipe (never writes)")
    kinds = cmd.add_subparsers(dest="kind", required=True, metavar="KIND")

    lock = kinds.add_parser(
        "lock", help="holder, time left, fence, queued waiters", parents=parents
    )
    lock.add_argument("name", metavar="NAME")
    _prefix(lock, LOCK_PREFIX)
    lock.set_defaults(handler=_cmd_lock)

    sem = kinds.add_parser("semaphore", help="permits held and their time left", parents=parents)
    sem.add_argument("name", metavar="NAME")
    sem.add_argument(
        "--limit", type=at_least(1), metavar="N", help="its limit, to show what is free"
    )
    sem.set_defaults(handler=_cmd_semaphore)

    limiter = kinds.add_parser(
        "limiter",
        help="what a hit would get now (a peek: nothing is consumed)",
        parents=parents,
        description="Peek at one limit of IDENTITY: give the limit as the application"
        " declares it (its numbers spell its key unless it has a --name).",
    )
    limiter.add_argument("identity", metavar="IDENTITY")
    limiter.add_argument(
        "--limit", type=at_least(1), required=True, metavar="N", help="units per period"
    )
    limiter.add_argument(
        "--period",
        type=positive_seconds,
        required=True,
        metavar="SECONDS",
        help="the period's length",
    )
    limiter.add_argument("--algorithm", choices=ALGORITHMS, default="gcra", help="(default: gcra)")
    limiter.add_argument(
        "--burst", type=at_least(1), metavar="N", help="units at once (token_bucket, gcra)"
    )
    limiter.add_argument(
        "--name", dest="limit_name", metavar="NAME", help="the limit's own name, if it has one"
    )
    limiter.add_argument("--scope", choices=("identity", "tag"), default="identity")
    limiter.add_argument("--tag", metavar="TAG", help="the tag (tenant) the identity is under")
    limiter.add_argument(
        "--cost", type=at_least(1), default=1, metavar="N", help="units to ask for (default: 1)"
    )
    _prefix(limiter, DEFAULT_PREFIX)
    limiter.set_defaults(handler=_cmd_limiter)

    counter = kinds.add_parser(
        "counter", help="value, time to live, notifications", parents=parents
    )
    counter.add_argument("name", metavar="NAME")
    counter.add_argument("--group", metavar="GROUP", help="the counter's group (one hash slot)")
    _prefix(counter, COUNTER_PREFIX)
    counter.set_defaults(handler=_cmd_counter)

    record = kinds.add_parser(
        "record", help="a versioned record: value and version", parents=parents
    )
    record.add_argument("name", metavar="NAME")
    _prefix(record, RECORD_PREFIX)
    record.set_defaults(handler=_cmd_record)

    product = kinds.add_parser(
        "product", help="stock, reserved, sold and price of a product", parents=parents
    )
    product.add_argument("inventory", metavar="INVENTORY")
    product.add_argument("product", metavar="PRODUCT")
    _prefix(product, INVENTORY_PREFIX)
    product.set_defaults(handler=_cmd_product)

    reservation = kinds.add_parser(
        "reservation", help="status, customer, items and deadline", parents=parents
    )
    reservation.add_argument("inventory", metavar="INVENTORY")
    reservation.add_argument("reservation", metavar="RID")
    _prefix(reservation, INVENTORY_PREFIX)
    reservation.set_defaults(handler=_cmd_reservation)

    account = kinds.add_parser(
        "account", help="balance, held, available and recent history", parents=parents
    )
    account.add_argument("ledger", metavar="LEDGER")
    account.add_argument("account", metavar="ACCOUNT")
    account.add_argument(
        "--history", type=at_least(0), default=0, metavar="N", help="the N latest entries too"
    )
    account.set_defaults(handler=_cmd_account)

    parents = [url, keyspace()]
    link = kinds.add_parser("link", help="the same as: redlua links get", parents=parents)
    link.add_argument("uid", metavar="UID")
    link.add_argument("--service", required=True, metavar="SERVICE")
    link.set_defaults(handler=cmd_get)

    pods = kinds.add_parser("pods", help="the same as: redlua pods list", parents=parents)
    pods.add_argument("--service", required=True, metavar="SERVICE")
    pods.add_argument(
        "--expire",
        type=positive_seconds,
        default=DEFAULT_EXPIRE,
        metavar="SECONDS",
        help=f"a pod is dead after SECONDS without a heartbeat (default: {DEFAULT_EXPIRE:g})",
    )
    pods.set_defaults(handler=cmd_pods)


def _prefix(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--prefix", default=default, metavar="P", help=f"key prefix (default: {default!r})"
    )


# -- shared ----------------------------------------------------------------------------------


@contextlib.contextmanager
def bad_input() -> Iterator[None]:
    """Turn the `ValueError`/`TypeError` of a builder (a bad name, a bad limit) into exit 2."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


@contextlib.contextmanager
def session(args: argparse.Namespace) -> Iterator[tuple[Engine, Any]]:
    """Yield an `Engine` and its client; data no writer produces exits 1 with what was found."""
    with connected(args.url) as target:
        try:
            yield Engine(target.client), target.client
        except (ContractError, CrossSlotError):
            raise  # usage errors (exit 2) in cli.main
        except InvalidArgumentError as exc:  # a value the scripts refuse
            raise CliError(str(exc), EXIT_USAGE) from None
        except (ValueError, CorruptDataError) as exc:  # raised by a decoder
            raise CliError(f"unexpected data on the server: {exc}", EXIT_FAILURE) from None


def snapshot(client: Any, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run read *commands* on keys of one hash slot in one MULTI/EXEC: one consistent view.

    A command the server refuses (WRONGTYPE: a key no redlua writer made) exits 1.
    """
    with client.pipeline(transaction=True) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = pipe.execute(raise_on_error=False)
    for command, reply in zip(commands, replies, strict=True):
        if isinstance(reply, Exception):
            raise CliError(f"unexpected data on the server: {command[0]} {command[1]}: {reply}")
    return replies


def server_millis(client: Any, key: str) -> int:
    """Return the clock of the server holding *key*, in milliseconds."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        seconds, micros = client.execute_command("TIME", target_nodes=node)  # type: ignore[no-untyped-call]
    else:
        seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def score_pairs(reply: Any) -> list[tuple[Any, Any]]:
    """Return a ``ZRANGE ... WITHSCORES`` reply as (member, score) pairs, flat or nested."""
    if reply and isinstance(reply[0], (list, tuple)):
        return [(member, score) for member, score in reply]
    return list(zip(reply[::2], reply[1::2], strict=True))


def _ttl(pttl: Any) -> float | None:
    """Seconds left from a PTTL reply; None when the key has no expiry or does not exist."""
    millis = int(pttl)
    return millis / 1000 if millis >= 0 else None


def _ttl_text(pttl: Any) -> str:
    millis = int(pttl)
    if millis == -2:
        return "no key"
    return "no expiry" if millis == -1 else duration(millis / 1000)


def _emit(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> int:
    if args.json:
        emit_json(data)
    else:
        print_lines(lines)
    return 0


# -- lock and semaphore ----------------------------------------------------------------------


def _cmd_lock(args: argparse.Namespace) -> int:
    with bad_input():
        keys = LockOps(args.prefix).keys(args.name)
    with session(args) as (_, client):
        holder, pttl, fence, flat, wake = snapshot(
            client,
            [
                ("GET", keys.lock),
                ("PTTL", keys.lock),
                ("GET", keys.fence),
                ("ZRANGE", keys.waiters, 0, -1, "WITHSCORES"),
                ("LRANGE", keys.wake, 0, -1),
            ],
        )
        now = server_millis(client, keys.lock)
    waiters = [_waiter(member, score, now) for member, score in score_pairs(flat)]
    try:
        grants = [grant(item) for item in wake]
    except ValueError:
        raise CliError(f"unexpected data on the server: {keys.wake} holds {wake!r}") from None
    data = {
        "name": args.name,
        "key": keys.lock,
        "slot": keys.slot,
        "locked": holder is not None,
        "holder": None if holder is None else text(holder),
        "ttl": _ttl(pttl),
        "fence": None if fence is None else int(fence),
        "waiters": waiters,
        "grants": [g._asdict() for g in grants],
        "server_time_ms": now,
    }
    return _emit(args, data, _lock_lines(args.name, data, grants))


def _waiter(member: Any, score: Any, now: int) -> dict[str, Any]:
    """Decode a waiter entry ``<ttl ms>:<f|->:<token>`` and its deadline."""
    entry = text(member)
    try:
        millis, mode, token = entry.split(":", 2)
        ttl = int(millis) / 1000
    except ValueError:
        raise CliError(f"unexpected data on the server: waiter entry {entry!r}") from None
    deadline = int(float(score))
    return {
        "token": token,
        "ttl": ttl,
        "fencing": mode == "f",
        "deadline_ms": deadline,
        "expires_in": (deadline - now) / 1000,
    }


def _lock_lines(name: str, data: dict[str, Any], grants: list[Grant]) -> list[str]:
    state = "held" if data["locked"] else "free"
    lines = [f"lock {name!r}: {state}"]
    ttl = data["ttl"]
    fence = data["fence"]
    pairs: list[tuple[str, object]] = [("key", f"{data['key']} (slot {data['slot']})")]
    if data["locked"]:
        pairs.append(("holder", data["holder"]))
        pairs.append(("ttl", "no expiry" if ttl is None else duration(ttl)))
    pairs.append(
        ("fence", "none (no fencing)" if fence is None else f"{fence} (the last handed out)")
    )
    lapsed = sum(1 for w in data["waiters"] if w["expires_in"] <= 0)
    queued = f"{len(data['waiters']) - lapsed} queued"
    pairs.append(("waiters", queued + (f", {lapsed} lapsed (gave up)" if lapsed else "")))
    if grants:
        taken = ", ".join(f"{g.token} (fence {g.fence}, ttl {duration(g.ttl)})" for g in grants)
        pairs.append(("grant", f"given by a release, not picked up yet: {taken}"))
    lines += fields(pairs)
    if data["waiters"]:
        rows = [
            (w["token"], duration(w["expires_in"]) if w["expires_in"] > 0 else "gone",
             duration(w["ttl"]), "yes" if w["fencing"] else "no")
            for w in data["waiters"]
        ]  # fmt: skip
        lines += table(("WAITER", "PLACE EXPIRES IN", "TTL ASKED", "FENCING"), rows, right={1, 2})
    return lines


def _cmd_semaphore(args: argparse.Namespace) -> int:
    with bad_input():  # the limit and ttl live in the clients, not on the server: only read here
        core = SemaphoreCore(args.name, args.limit or 1, 1.0)
    with session(args) as (engine, client):
        held = engine.run(core.holders_call())
        pttl = client.pttl(core.key)
    free = None if args.limit is None else max(args.limit - len(held), 0)
    data = {
        "name": args.name,
        "key": core.key,
        "slot": core.slot,
        "held": len(held),
        "limit": args.limit,
        "available": free,
        "permits": [{"permit": p, "expires_in": left} for p, left in held.items()],
        "key_ttl": _ttl(pttl),
    }
    of = "" if args.limit is None else f" of {args.limit}, {free} free"
    lines = [f"semaphore {args.name!r}: {len(held)} permits held{of}"]
    lines += fields([("key", f"{core.key} (slot {core.slot}, {_ttl_text(pttl)})")])
    if held:
        lines += table(
            ("PERMIT", "EXPIRES IN"), [(p, duration(s)) for p, s in held.items()], right={1}
        )
    return _emit(args, data, lines)


# -- limiter and counter ---------------------------------------------------------------------


def _cmd_limiter(args: argparse.Namespace) -> int:
    with bad_input():
        limit = Limit(
            args.limit, args.period, args.algorithm, burst=args.burst, name=args.limit_name,
            scope=args.scope,
        )  # fmt: skip
        limiter = RateLimitOps(limit, prefix=args.prefix)
        call = limiter.peek(args.identity, args.cost, tag=args.tag)
        (key,) = limiter.keys(args.identity, args.tag)
    with session(args) as (engine, client):
        decision: Decision = engine.run(call)
        pttl = client.pttl(key)
    spec = {
        "limit": limit.limit, "period": args.period, "algorithm": limit.algorithm,
        "burst": limit.capacity if limit.algorithm in ("token_bucket", "gcra") else None,
        "name": limit.key_name, "scope": limit.scope,
    }  # fmt: skip
    data = {
        "identity": args.identity,
        "tag": args.tag,
        "key": key,
        "state": int(pttl) != -2,
        "key_ttl": _ttl(pttl),
        "limit": spec,
        "cost": args.cost,
        "allowed": decision.allowed,
        "remaining": decision.remaining,
        "retry_after": decision.retry_after,
        "reset_after": decision.reset_after,
    }
    verdict = "allowed" if decision.allowed else "denied"
    burst = f", burst {spec['burst']}" if spec["burst"] is not None else ""
    lines = [f"limiter {limit.key_name!r} for {args.identity!r}: a hit of {args.cost} would be"
             f" {verdict} (peek: nothing consumed)"]  # fmt: skip
    state = _ttl_text(pttl) if int(pttl) != -2 else "no state: the limit is full"
    lines += fields(
        [
            ("key", f"{key} ({state})"),
            ("limit", f"{limit.limit} per {args.period:g} s ({limit.algorithm}{burst})"),
            ("remaining", decision.remaining),
            ("retry after", duration(decision.retry_after)),
            ("full again", duration(decision.reset_after)),
        ]
    )
    return _emit(args, data, lines)


def _cmd_counter(args: argparse.Namespace) -> int:
    with bad_input():
        counters = CounterOps(args.prefix, group=args.group)
        keys = counters.keys(args.name)
        call = counters.get(args.name)
    with session(args) as (engine, client):
        value = engine.run(call)
        pttl, events = snapshot(client, [("PTTL", keys.counter), ("XLEN", keys.events)])
    data = {
        "name": args.name,
        "group": args.group,
        "key": keys.counter,
        "slot": keys.slot,
        "value": value,
        "exists": int(pttl) != -2,
        "ttl": _ttl(pttl),
        "events_key": keys.events,
        "events": int(events),
    }
    lines = [f"counter {args.name!r}: {value}" + ("" if data["exists"] else " (no key: reads 0)")]
    lines += fields(
        [
            ("key", f"{keys.counter} (slot {keys.slot}, {_ttl_text(pttl)})"),
            ("events", f"{int(events)} threshold notifications in {keys.events}"),
        ]
    )
    return _emit(args, data, lines)


# -- versioned records -----------------------------------------------------------------------


def _cmd_record(args: argparse.Namespace) -> int:
    with bad_input():
        records = VersionedOps(args.prefix)
        key = records.key(args.name)
        call = records.get(args.name)
    with session(args) as (engine, client):
        found = engine.run(call)
        pttl = client.pttl(key)
    value = None if found.value is None else _value_text(found.value)
    if value is not None:
        state = "present"
    else:
        state = "deleted (a tombstone keeps its version)" if found.version else "absent"
    data = {
        "name": args.name,
        "key": key,
        "state": state.split(" ", 1)[0],
        "version": found.version,
        "value": value,
        "ttl": _ttl(pttl),
    }
    lines = [f"record {args.name!r}: {state}, version {found.version}"]
    pairs: list[tuple[str, object]] = [("key", f"{key} ({_ttl_text(pttl)})")]
    if value is not None:
        shown = value if len(value) <= VALUE_SHOWN else value[:VALUE_SHOWN] + "..."
        pairs.append(("value", f"{shown} ({len(found.value)} bytes)"))
    lines += fields(pairs)
    return _emit(args, data, lines)


def _value_text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


# -- inventory -------------------------------------------------------------------------------


def _due_items(client: Any, keys: Any, now: int) -> dict[str, dict[str, int]]:
    """Return the items of pending reservations past their deadline, not reaped yet, by id."""
    due = client.zrangebyscore(keys.deadlines, "-inf", now, start=0, num=DUE_SCAN)
    if not due:
        return {}
    found: dict[str, dict[str, int]] = {}
    for rid, raw in zip(due, client.hmget(keys.reservations, due), strict=True):
        if raw is None:
            continue
        try:
            record = json.loads(text(raw))
            flat = record["items"]
            if record["status"] != Status.RESERVED.value:
                continue
            found[text(rid)] = {text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        except (ValueError, KeyError, TypeError, IndexError):
            raise CliError(f"unexpected data on the server: reservation {text(rid)!r}") from None
    return found


def _cmd_product(args: argparse.Namespace) -> int:
    with bad_input():
        inventory = InventoryOps(args.inventory, prefix=args.prefix)
        call = inventory.product_info(args.product)
    keys = inventory.keys
    with session(args) as (engine, client):
        info: ProductInfo = engine.run(call)
        now = server_millis(client, keys.stock)
        due = _due_items(client, keys, now)
    expired = sum(items.get(args.product, 0) for items in due.values())
    data = {"inventory": args.inventory, **asdict(info), "total": info.total, "expired": expired}
    lines = [f"product {args.product!r} in inventory {args.inventory!r}"]
    pairs: list[tuple[str, object]] = [
        ("stock", info.stock),
        ("reserved", info.reserved),
        ("sold", info.sold),
        ("total", f"{info.total} (stock + reserved + sold: only a restock changes it)"),
        ("price", f"{info.price} (minor units)"),
    ]
    if expired:
        pairs.insert(2, ("expired", f"{expired} of the reserved units: back in stock at the"
                                    " next reserve or reap"))  # fmt: skip
    if info.name:
        pairs.append(("name", info.name))
    if info.description:
        pairs.append(("about", info.description))
    lines += fields(pairs)
    return _emit(args, data, lines)


def _cmd_reservation(args: argparse.Namespace) -> int:
    with bad_input():
        inventory = InventoryOps(args.inventory, prefix=args.prefix)
        call = inventory.reservation_info(args.reservation)
    with session(args) as (engine, client):
        info: ReservationInfo | None = engine.run(call)
        now = server_millis(client, inventory.keys.reservations)
    if info is None:
        raise CliError(
            f"no reservation {args.reservation!r} in inventory {args.inventory!r} (never made,"
            " or forgotten some time after it settled)"
        )
    left = info.expires_at - now / 1000
    data = {
        "inventory": args.inventory,
        **asdict(info),
        "status": info.status.value,
        "expires_in": left if info.status is Status.RESERVED else None,
    }
    lines = [f"reservation {info.reservation!r} in inventory {args.inventory!r}: "
             f"{info.status.value}"]  # fmt: skip
    pairs: list[tuple[str, object]] = [
        ("customer", info.customer),
        ("created", utc(info.created_at)),
    ]
    deadline = utc(info.expires_at)
    if info.status is Status.RESERVED:
        deadline += f" (in {duration(left)})"
    elif info.status is Status.EXPIRED and info.settled_at is None:
        deadline += " (passed; its stock returns at the next reserve or reap)"
    pairs.append(("deadline", deadline))
    if info.settled_at is not None:
        pairs.append(("settled", utc(info.settled_at)))
    lines += fields(pairs)
    lines += table(("PRODUCT", "QTY"), sorted(info.items.items()), right={1})
    return _emit(args, data, lines)


# -- ledger ----------------------------------------------------------------------------------


def _cmd_account(args: argparse.Namespace) -> int:
    with bad_input():
        ledger = LedgerOps(args.ledger)
        account = ledger.account_id(args.account)
        history = ledger.history(account, limit=args.history) if args.history else None
    k = ledger.keys
    with session(args) as (engine, client):
        now = server_millis(client, k.base)
        record, balance, held, due_ids = snapshot(
            client,
            [
                ("HGET", k.accounts, account),
                ("HGET", k.balances, account),
                ("HGET", k.held, account),
                ("ZRANGEBYSCORE", k.pending, "-inf", now, "LIMIT", 0, DUE_SCAN),
            ],
        )
        if record is None:
            raise CliError(f"no account {account!r} in ledger {args.ledger!r}")
        info = info_reply(account, [record, balance or 0, held or 0])
        due = _due_held(client, k.holds, due_ids, account, now)
        entries = engine.run(history).entries if history is not None else []
    available = info.balance - (info.held - due) + info.overdraft
    data = {
        "ledger": args.ledger,
        **asdict(info),
        "due": due,
        "available": available,
        "history": [e._asdict() for e in entries],
    }
    return _emit(args, data, _account_lines(args.ledger, info, due, available, entries))


def _due_held(client: Any, holds: str, ids: list[Any], account: str, now: int) -> int:
    """Return the minor units *account* has in holds past their deadline, not released yet."""
    if not ids:
        return 0
    total = 0
    for hold_id, raw in zip(ids, client.hmget(holds, ids), strict=True):
        if raw is None:
            continue
        try:
            hold = hold_from_record(int(hold_id), text(raw), now, False)
        except ValueError:
            raise CliError(f"unexpected data on the server: hold {text(hold_id)}") from None
        if hold.src == account and hold.state == "expired":
            total += hold.amount
    return total


def _money(minor: int, info: AccountInfo) -> str:
    amount: Decimal = to_decimal(minor, info.scale)
    return f"{amount} {info.currency}"


def _account_lines(
    ledger: str, info: AccountInfo, due: int, available: int, entries: list[Entry]
) -> list[str]:
    lines = [f"account {info.account!r} in ledger {ledger!r}: {info.status}, {info.currency}"]
    pairs: list[tuple[str, object]] = [
        ("balance", _money(info.balance, info)),
        ("held", _money(info.held, info)),
    ]
    if due:
        pairs.append(("due", f"{_money(due, info)} of it in holds past their deadline: the next"
                             " ledger call releases them"))  # fmt: skip
    pairs += [
        ("overdraft", _money(info.overdraft, info)),
        ("available", f"{_money(available, info)} (balance - pending holds + overdraft)"),
        ("created", utc(info.created)),
    ]
    lines += fields(pairs)
    if entries:
        lines.append(f"latest {len(entries)} entries:")
        header = ("WHEN", "TX", "KIND", "DELTA", "BALANCE", "PEER", "MEMO")
        lines += table(header, [_entry_row(e, info) for e in entries], right={1, 3, 4})
    return lines


def _entry_row(e: Entry, info: AccountInfo) -> tuple[object, ...]:
    delta, balance = _money(e.delta, info), _money(e.balance, info)
    return (utc(e.at), e.transfer, e.kind, delta, balance, e.peer or None, e.memo or None)
