"""`RemoteJournal`: what `RemoteAlgoBackend` writes down about parents a venue executes (Quantum Execute).

Why: a parent is an order like any other — its intent is journaled before it is sent, so a create whose
answer was lost is resolved by its client order id, never sent twice, also across a restart; and
`algo.get` / `algos.list` can answer for parents QE no longer lists or while QE is unreachable.

Two ways in:
- awaited writes on the command path (`intent`, `answered`): the row is committed before the call goes on;
- `note` from the venue's pushes (a sync callback on the event loop): the newest record per parent is
  kept in a dict and one flusher task writes them in batches, so a burst of progress pushes costs one
  transaction and never blocks the stream.

Without a store (not attached) every method is a no-op: the backend then behaves as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.orders.algo.model import TERMINAL_ALGO_STATES
from gateway.persistence.remote_algos import SUBMITTING, RemoteAlgoRow, RemoteAlgoStore

__all__ = ["RemoteJournal", "algo_key"]

log = structlog.get_logger("gateway.algos.remote")

_RETRY_BASE_S = 0.05  # the first retry of a failed batch write; doubled per failure up to the cap
_RETRY_CAP_S = 5.0


def algo_key(client_order_id: str | None, algo_id: str) -> str:
    """A parent's journal key: its client order id, or ``#<algo_id>`` for one placed elsewhere without one."""
    return client_order_id or f"#{algo_id}"


class RemoteJournal:
    def __init__(self, clock: Clock):
        self._clock = clock
        self._store: RemoteAlgoStore | None = None
        self._pending: dict[tuple[str, str], RemoteAlgoRow] = {}
        self._answered: set[tuple[str, str]] = set()  # written by `answered` while a batch was in flight
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0  # failed batch writes (logged; the batch is kept and retried)

    @property
    def attached(self) -> bool:
        return self._store is not None

    def attach(self, store: RemoteAlgoStore) -> None:
        self._store = store

    # --- reads -----------------------------------------------------------------------------------------

    async def by_client_order_id(self, account: str, client_order_id: str) -> RemoteAlgoRow | None:
        if self._store is None:
            return None
        await self.flush()  # a queued push is merged into the row by the upsert, never read raw
        return await self._store.by_key(account, client_order_id)

    async def by_algo_id(self, account: str, algo_id: str) -> RemoteAlgoRow | None:
        if self._store is None:
            return None
        await self.flush()
        return await self._store.by_algo_id(account, algo_id)

    async def list(self, account: str, *, open_only: bool = False, limit: int = 500) -> list[RemoteAlgoRow]:
        if self._store is None:
            return []
        await self.flush()
        return await self._store.list(account, open_only=open_only, limit=limit)

    # --- writes ----------------------------------------------------------------------------------------

    async def intent(self, strategy: str | None, account: str, client_order_id: str, symbol: str,
                     request: Mapping[str, Any]) -> None:
        """Journal a parent about to be sent (committed before this returns)."""
        if self._store is None:
            return
        now = self._clock.now_ms()
        await self._store.write([RemoteAlgoRow(account, client_order_id, client_order_id, None, strategy, symbol,
                                               SUBMITTING, True, now, now, dict(request), None)])

    async def answered(self, account: str, public: Mapping[str, Any], *, request: Mapping[str, Any] | None = None,
                       strategy: str | None = None) -> None:
        """Journal the venue's view of a parent now (after a create, get or list answered)."""
        if self._store is not None:
            key = (account, algo_key(public.get("client_order_id"), str(public["algo_id"])))
            self._pending.pop(key, None)
            self._answered.add(key)  # a batch in flight that fails must not put an older push back over it
            await self._store.write([self._row(account, public, request, strategy)])

    async def forget_intent(self, account: str, client_order_id: str, reason: str) -> None:
        """The venue refused the create outright: the parent ended before it began (the key is free again)."""
        row = await self.by_client_order_id(account, client_order_id)
        if self._store is None or row is None or row.algo_id is not None:
            return
        record = {"client_order_id": client_order_id, "account": account, "state": "failed", "reason": reason}
        await self._store.write([RemoteAlgoRow(account, client_order_id, client_order_id, None, row.strategy,
                                               row.symbol, "failed", False, row.created_ts, self._clock.now_ms(),
                                               row.request, record)])

    def note(self, account: str, public: Mapping[str, Any]) -> None:
        """Queue the newest public view of a parent a push reported (written by the flusher)."""
        if self._store is None:
            return
        row = self._row(account, public, None, None)
        self._pending[(account, row.algo_key)] = row
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="algos.remote_journal")

    async def flush(self) -> None:
        """Return once every queued record is written (a failed write is logged and retried until it is)."""
        if not self._idle.is_set():
            await self._idle.wait()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (waiting at most `timeout_s` while the store fails), then end the flusher."""
        try:
            await asyncio.wait_for(self.flush(), timeout_s)
        except TimeoutError:
            log.error("algos.remote_journal_unwritten", parents=len(self._pending), failures=self.failures)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- internals -------------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        failed = 0  # consecutive failed writes (the backoff)
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            self._answered.clear()
            if batch and self._store is not None:
                try:
                    await self._store.write(list(batch.values()))
                except asyncio.CancelledError:
                    self._pending = {**{k: v for k, v in batch.items() if k not in self._answered},
                                     **self._pending}  # not written: kept for a later flusher
                    raise
                except Exception:  # kept and retried after a backoff: a flush returns only once written
                    failed += 1
                    self.failures += 1
                    log.exception("algos.remote_journal_failed", parents=len(batch), attempt=failed)
                    kept = {k: v for k, v in batch.items() if k not in self._answered}
                    self._pending = {**kept, **self._pending}  # a newer note of a parent wins over the batch
                    self._wake.set()
                    # scheduling, not synchronization: the retry's backoff
                    await asyncio.sleep(min(_RETRY_CAP_S, _RETRY_BASE_S * 2 ** (failed - 1)))
                    continue
                failed = 0
            if not self._pending:
                self._idle.set()

    def _row(self, account: str, public: Mapping[str, Any], request: Mapping[str, Any] | None,
             strategy: str | None) -> RemoteAlgoRow:
        state = str(public.get("state") or "pending")
        cid = public.get("client_order_id") or None
        now = self._clock.now_ms()
        return RemoteAlgoRow(account, algo_key(cid, str(public["algo_id"])), cid, str(public["algo_id"]), strategy,
                             str(public.get("symbol") or ""), state, state not in _TERMINAL,
                             int(public.get("created_ts") or now), now, dict(request or {}), dict(public))


_TERMINAL = frozenset(s.value for s in TERMINAL_ALGO_STATES)
