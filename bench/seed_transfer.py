"""The seed's bank transfer (004 §9.2.3) on raw redis-py WATCH/MULTI/EXEC: the ledger's baseline.

It behaves as the seed intends, with two repairs that only make it *more* correct
and never slower: the watched balances are read on the watched connection (the seed
reads them through the client, i.e. on another connection; WATCH still guards the
write, but the reads are not the watched ones), and transaction ids come from
`uuid4` (the seed's ``time.time() * 1e6`` collides under concurrency). Everything
else is the seed's: balances as `Decimal` strings rewritten with SET, an existence
check outside the transaction, a transaction hash per transfer, per-account history
lists trimmed to 1000, five attempts with ``0.01 * 2**attempt`` seconds of backoff
after a `WatchError`, and a failure dict (not an exception) after the last one.

`retries` counts the WatchErrors and `gave_up` the transfers that failed after five.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import redis

ATTEMPTS = 5


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SeedBank:
    """`BankTransferSystem` of the seed under *prefix*: create_account, get_balance, transfer."""

    def __init__(self, client: redis.Redis, prefix: str = "seedbank") -> None:
        self.client = client
        self.prefix = prefix
        self.retries = 0
        self.gave_up = 0

    def balance_key(self, account: str) -> str:
        """Return the key of *account*'s balance string."""
        return f"{self.prefix}:account:{account}:balance"

    def create_account(self, account: str, initial_balance: Decimal = Decimal("0")) -> None:
        """SET the balance and HSET the info hash, in one pipeline (as the seed does)."""
        pipe = self.client.pipeline()
        pipe.set(self.balance_key(account), str(initial_balance))
        pipe.hset(
            f"{self.prefix}:account:{account}:info",
            mapping={"created_at": time.time(), "status": "active", "currency": "USD"},
        )
        pipe.execute()

    def get_balance(self, account: str) -> Decimal | None:
        """Return *account*'s balance, or None when it does not exist."""
        value = self.client.get(self.balance_key(account))
        return None if value is None else Decimal(_text(value))

    def transfer(
        self, from_account: str, to_account: str, amount: Decimal, description: str = ""
    ) -> dict[str, Any]:
        """Move *amount* under WATCH, retrying a `WatchError` up to five times."""
        if amount <= 0:
            return {"success": False, "error": "Transfer amount must be positive"}
        from_key, to_key = self.balance_key(from_account), self.balance_key(to_account)
        transaction_id = f"tx:{uuid.uuid4().hex}"
        if not self.client.exists(from_key) or not self.client.exists(to_key):
            return {"success": False, "error": "One or both accounts do not exist"}
        for attempt in range(ATTEMPTS):
            try:
                with self.client.pipeline() as pipe:
                    pipe.watch(from_key, to_key)
                    from_balance = Decimal(_text(pipe.get(from_key) or "0"))
                    to_balance = Decimal(_text(pipe.get(to_key) or "0"))
                    if from_balance < amount:
                        pipe.unwatch()
                        return {"success": False, "error": "Insufficient balance"}
                    new_from, new_to = from_balance - amount, to_balance + amount
                    pipe.multi()
                    pipe.set(from_key, str(new_from))
                    pipe.set(to_key, str(new_to))
                    now = time.time()
                    pipe.hset(
                        f"{self.prefix}:transaction:{transaction_id}",
                        mapping={
                            "transaction_id": transaction_id,
                            "from_account": from_account,
                            "to_account": to_account,
                            "amount": str(amount),
                            "description": description,
                            "timestamp": now,
                            "status": "completed",
                        },
                    )
                    for account in (from_account, to_account):
                        history = f"{self.prefix}:account:{account}:transactions"
                        pipe.lpush(history, transaction_id)
                        pipe.ltrim(history, 0, 999)
                    pipe.execute()
                return {
                    "success": True,
                    "transaction_id": transaction_id,
                    "from_balance": new_from,
                    "to_balance": new_to,
                    "timestamp": now,
                }
            except redis.WatchError:
                self.retries += 1
                if attempt == ATTEMPTS - 1:
                    self.gave_up += 1
                    return {
                        "success": False,
                        "error": "Transfer failed due to concurrent operations",
                    }
                time.sleep(0.01 * (2**attempt))
        return {"success": False, "error": "Transfer failed after maximum retries"}
