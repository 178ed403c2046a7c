"""The local algo engine: TWAP / VWAP / POV parents executed inside the gateway (an `AlgoBackend`).

The async shell around the pure core (`validation`, `schedule`, `engine`). Single writer (`AlgoWriter`);
every child order goes through the order service with a deterministic client order id
(`<algo_id>-a<seq>`), placed as the strategy that placed the parent.

Inputs:
- commands (`place`, `cancel`, `pause`, `resume`), answered once the parent is persisted;
- `on_order_event` (the order service's publish path: order and fill events of child ids), folded at once
  and forwarded on `<account>@algo`;
- a ticker task: every `tick_ms` it reads the market cache (best bid/ask, the tape since the last tick
  for POV) and the order service's view of every live child, and hands them to the writer, which
  re-decides every running parent. The child view makes the engine correct even if an event was missed.

Startup (`start`, after the order service is ready, which has reconciled with the venues): parents are
reloaded; for every child that was live, its true state is read from the order service (a child the
order service never journaled was never sent: it is marked refused and a new child, with the next
sequence number, takes its place). Only then does slicing resume, so a restart never over-fills.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, OrderType
from gateway.core.errors import (
    ErrorCode,
    GatewayError,
    LookupFailed,
    OrderRejected,
    RequestError,
    VenueUnavailable,
)
from gateway.core.instruments import Instrument
from gateway.core.ports import VenueAdapter
from gateway.market.service import MarketService
from gateway.orders.algo.config import AlgoSettings
from gateway.orders.algo.engine import (
    CancelChild,
    ChildReport,
    Intent,
    MarketSnapshot,
    PlaceChild,
    SizeRules,
)
from gateway.orders.algo.ids import parse_child_client_order_id
from gateway.orders.algo.market_view import MarketView
from gateway.orders.algo.model import Algo
from gateway.orders.algo.placement import build_algo, check_local, reference_price, same_request, target_delta
from gateway.orders.algo.validation import validate_request
from gateway.orders.algo.writer import (
    AlgoWriter,
    CallAnswer,
    Command,
    PlaceCommand,
    PublishFn,
    ReportMessage,
    TickMessage,
)
from gateway.orders.commands import PlaceParams
from gateway.orders.service import OrderService
from gateway.orders.validation import check_client_order_id
from gateway.persistence.algos import AlgoStore

__all__ = ["LocalAlgoEngine"]

log = structlog.get_logger("gateway.algos")

_INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


class LocalAlgoEngine:
    """Execute algo parents inside the gateway on every account that is not a QE account.

    Args:
        venues: venue sessions by name (= account name).
        orders: the order service every child goes through.
        store: the algo store.
        market: the market service (best bid/ask, the tape, klines for VWAP).
        publish: called with `(account, data)` for `<account>@algo`; must not block.
        clock: time source.
        settings: the `algos` settings slice.
    """

    name = "local"

    def __init__(self, venues: Mapping[str, VenueAdapter], orders: OrderService, store: AlgoStore,
                 market: MarketService, publish: PublishFn, clock: Clock, settings: AlgoSettings):
        self._venues = venues
        self._orders = orders
        self._store = store
        self._market = market
        self._publish = publish
        self._clock = clock
        self._settings = settings
        self._writer = AlgoWriter(store, publish, clock, settings.tuning(), self._run_intent)
        self._ticker: asyncio.Task[None] | None = None
        self._view = MarketView(market, clock)
        self._ready = False

    @property
    def is_ready(self) -> bool:
        return self._ready and self._writer.failed is None

    @property
    def failed(self) -> BaseException | None:
        """The writer's failure (a store write failed): the gateway should exit."""
        return self._writer.failed

    @property
    def algos(self) -> dict[str, Algo]:
        """The parents held in memory (read-only use)."""
        return self._writer.algos

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Reload parents, fold the true state of their live children, then resume slicing.

        Call after the order service is ready and before the API accepts `algo.*` commands.
        """
        now = self._clock.now_ms()
        rows = await self._store.load(now - self._settings.ended_retention_ms)
        resumed = 0
        for row in rows:
            algo = Algo.from_record(row[11])
            rules = self._rules(algo.account, algo.symbol)
            if rules is None:
                log.error("algo.unknown_instrument", algo_id=algo.algo_id, account=algo.account, symbol=algo.symbol)
                continue
            self._writer.add(algo, rules)
            resumed += not algo.is_terminal
        self._writer.start()
        try:
            async with asyncio.timeout(self._settings.startup_timeout_s):
                for algo in list(self._writer.algos.values()):
                    for child in algo.live_children():
                        answer = await self._child_truth(algo.algo_id, algo.account, child.client_order_id, "place",
                                                         "never sent before the restart")
                        self._writer.put(answer)
                await self._writer.submit(None)  # a barrier: the children's truth is folded in
        except TimeoutError:
            log.error("algos.startup_timeout", deadline_s=self._settings.startup_timeout_s)
        self._ticker = asyncio.create_task(self._tick_loop(), name="algos.ticker")
        self._ready = True
        log.info("algos.ready", loaded=len(rows), live=resumed)

    async def stop(self) -> None:
        """Stop slicing, let in-flight child calls answer and persist what they changed.

        Live children stay at the venue (a restart resumes the parent); cancel parents to stop them.
        """
        self._ready = False
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self._view.close()
        await self._writer.stop(self._settings.stop_timeout_s)

    # --- the AlgoBackend protocol -------------------------------------------------------------------------

    def serves(self, account: str) -> bool:
        adapter = self._venues.get(account)
        return adapter is not None and adapter.kind != "qe"

    def new_algo_id(self) -> str:
        """A fresh algo id (1-24 characters of [A-Za-z0-9_]; unique across restarts)."""
        return f"a{self._clock.now_ms():x}{secrets.token_hex(3)}"

    async def place(self, strategy: str | None, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, persist and start a parent; answer with it once persisted (children follow on `@algo`).

        Idempotent on `client_order_id`: the same id with the same request returns the parent and starts
        nothing; with another request it is DUPLICATE_CLIENT_ID.

        Raises:
            GatewayError: INVALID_PARAMS (a rule of the seed's table), UNKNOWN_VENUE, UNKNOWN_SYMBOL,
                NOT_SUPPORTED (Boost algorithms, spot margin, coin-margined on a USDT perp), PRECISION,
                MIN_NOTIONAL, DUPLICATE_CLIENT_ID, VENUE_UNAVAILABLE (not ready, venue down, no price).
        """
        adapter = self._trading_venue(account)
        instrument = self._instrument(adapter, str(params.get("symbol") or ""))
        now = self._clock.now_ms()
        request = validate_request(params, account=account, symbol=instrument.symbol,
                                   market_type=instrument.type, now_ms=now,
                                   min_duration_s=self._settings.min_duration_s)
        check_local(request, adapter, instrument)
        if request.client_order_id is not None:
            check_client_order_id(request.client_order_id, adapter.capabilities)
            row = await self._store.by_client_order_id(account, request.client_order_id)
            if row is not None and row[0] not in self._writer.algos:  # ended and forgotten from memory
                stored = Algo.from_record(row[11])
                if not same_request(request, stored):
                    raise OrderRejected(f"client_order_id {request.client_order_id!r} is used by another algo order",
                                        code=ErrorCode.DUPLICATE_CLIENT_ID)
                return stored.to_public()
        side, qty = request.side, request.qty
        if request.is_target_position:
            side, qty = await target_delta(adapter, instrument, request)
        rules = SizeRules.of(instrument, adapter.capabilities.post_only)
        reference = await reference_price(self._market, account, instrument.symbol, side)
        algo = await build_algo(request, strategy, instrument, rules, reference, side, qty, now,
                                algo_id=self.new_algo_id(), market=self._market, settings=self._settings)
        return await self._writer.submit(PlaceCommand(algo, rules, lambda a: same_request(request, a)))  # type: ignore[no-any-return]

    async def cancel(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                     reason: str | None = None) -> dict[str, Any]:
        """Cancel a parent: no new child, the live one is canceled. Answers once persisted; idempotent."""
        algo_id = await self._resolve(account, algo_id, client_order_id)
        if algo_id not in self._writer.algos:
            return await self.get(account, algo_id)  # ended long ago
        self._check_ready()
        return await self._writer.submit(Command("cancel", account, algo_id, reason))  # type: ignore[no-any-return]

    async def pause(self, account: str, algo_id: str | None, client_order_id: str | None = None
                    ) -> dict[str, Any]:
        """Pause a parent (its live child is canceled; the horizon does not move)."""
        algo_id = await self._resolve(account, algo_id, client_order_id)
        self._check_ready()
        return await self._writer.submit(Command("pause", account, algo_id))  # type: ignore[no-any-return]

    async def resume(self, account: str, algo_id: str | None, client_order_id: str | None = None
                     ) -> dict[str, Any]:
        """Resume a paused parent; a must-complete parent catches up with its schedule."""
        algo_id = await self._resolve(account, algo_id, client_order_id)
        self._check_ready()
        return await self._writer.submit(Command("resume", account, algo_id))  # type: ignore[no-any-return]

    async def get(self, account: str, algo_id: str | None, client_order_id: str | None = None) -> dict[str, Any]:
        """Return one parent. Raises LookupFailed (ORDER_NOT_FOUND)."""
        return (await self._find(account, algo_id, client_order_id)).to_public()

    async def list(self, account: str, *, open_only: bool = False, state: str | None = None,
                   limit: int = 500) -> list[dict[str, Any]]:
        """Return the account's parents, newest first."""
        rows = await self._store.list(account, open_only=open_only, state=state, limit=limit)
        return [(self._writer.algos.get(r[0]) or Algo.from_record(r[11])).to_public() for r in rows]

    async def fills(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                    limit: int = 500) -> list[dict[str, Any]]:
        """Return the fills of the parent's children (from the order service's journal), oldest first."""
        algo = await self._find(account, algo_id, client_order_id)
        found: list[dict[str, Any]] = []
        for child in algo.children:
            if child.filled_qty <= 0:
                continue
            rows = await self._orders.fills(account, client_order_id=child.client_order_id, limit=5000)
            found.extend({**f, "algo_id": algo.algo_id} for f in rows)
        found.sort(key=lambda f: (f["ts"], str(f["trade_id"])))
        return found[:limit]

    async def exchange_apis(self, account: str) -> list[dict[str, Any]]:
        raise _qe_only("qe.exchange_apis", account)

    async def trading_pairs(self, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        raise _qe_only("qe.trading_pairs", account)

    # --- input: the order service's events ---------------------------------------------------------------

    def on_order_event(self, account: str, kind: str, data: Mapping[str, Any]) -> None:
        """Take an event the order service published (order, fill); ignore what is not a child of ours.

        A child's event is forwarded at once on `<account>@algo` as `{"type": "order", "algo_id", "order"}`
        or `{"type": "fill", "algo_id", "fill"}`; an order update is also queued for the algo writer, so
        the parent's state may still lag it: the parent's change follows as its own `{"type": "algo"}` frame.
        """
        if kind not in ("order", "fill"):
            return
        ref = parse_child_client_order_id(data.get("client_order_id"))
        if ref is None:
            return
        algo = self._writer.algos.get(ref[0])
        if algo is None or algo.account != account:
            return
        if kind == "order":
            try:
                self._writer.put(ReportMessage(algo.algo_id, ChildReport.from_order(dict(data))))
            except (KeyError, ValueError):
                log.warning("algo.bad_child_report", algo_id=algo.algo_id)
                return
        try:
            self._publish(account, {"type": kind, "algo_id": algo.algo_id, kind: dict(data)})
        except Exception:
            log.exception("algos.publish_failed")

    # --- the ticker ---------------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        interval = self._settings.tick_ms / 1000
        while True:
            await asyncio.sleep(interval)  # scheduling, not synchronization: a tick is idempotent
            try:
                await self._tick()
            except Exception:  # keep ticking: one bad read must not stop every parent
                log.exception("algos.tick_failed")
            self._writer.prune(self._clock.now_ms() - self._settings.ended_retention_ms)

    async def _tick(self) -> None:
        algos = [a for a in self._writer.algos.values() if not a.is_terminal or a.live_children()]
        if not algos:
            return
        snapshots: dict[tuple[str, str], MarketSnapshot] = {}
        volumes: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        watched = {(a.venue, a.symbol) for a in algos if not a.is_terminal}
        self._view.keep_only(watched)
        for key in watched:
            snapshot = self._view.snapshot(*key)
            if snapshot is not None:
                snapshots[key] = snapshot
            volumes[key] = self._view.new_volume(key)
        reports: list[tuple[str, ChildReport]] = []
        for algo in algos:
            for child in algo.live_children():
                try:
                    order = await self._orders.get(algo.account, client_order_id=child.client_order_id)
                except GatewayError:
                    continue  # not journaled yet: its placement is still in flight
                reports.append((algo.algo_id, ChildReport.from_order(order)))
        self._writer.put(TickMessage(snapshots, volumes, tuple(reports)))

    # --- child calls (the writer's intents) -----------------------------------------------------------------

    async def _run_intent(self, intent: Intent) -> None:
        algo = self._writer.algos.get(intent.algo_id)
        strategy = algo.strategy if algo is not None else None
        if isinstance(intent, PlaceChild):
            params = PlaceParams(intent.symbol, intent.side, OrderType.LIMIT, intent.qty, intent.price,
                                 tif=intent.tif, reduce_only=intent.reduce_only,
                                 client_order_id=intent.client_order_id)
            try:
                order = await self._orders.place(strategy, intent.account, params)
            except GatewayError as exc:
                log.info("algo.child_refused", algo_id=intent.algo_id, client_order_id=intent.client_order_id,
                         code=exc.code.value, error=exc.message)
                self._writer.put(await self._child_truth(intent.algo_id, intent.account, intent.client_order_id,
                                                         "place", f"{exc.code.value}: {exc.message}"))
                return
            self._writer.put(CallAnswer(intent.algo_id, intent.client_order_id, "place", ChildReport.from_order(order)))
        elif isinstance(intent, CancelChild):
            try:
                order = await self._orders.cancel(strategy, intent.account, client_order_id=intent.client_order_id)
            except GatewayError as exc:
                self._writer.put(await self._child_truth(intent.algo_id, intent.account, intent.client_order_id,
                                                         "cancel", f"{exc.code.value}: {exc.message}"))
                return
            self._writer.put(CallAnswer(intent.algo_id, intent.client_order_id, "cancel", ChildReport.from_order(order)))

    async def _child_truth(self, algo_id: str, account: str, client_order_id: str, kind: str, why: str) -> CallAnswer:
        """What the order service knows of a child (after a refused or lost call, or a restart)."""
        try:
            order = await self._orders.get(account, client_order_id=client_order_id)
        except LookupFailed:
            return CallAnswer(algo_id, client_order_id, kind, None, why)  # never journaled: never sent
        except GatewayError as exc:
            return CallAnswer(algo_id, client_order_id, kind, None, f"{why}; {exc.message}")
        report = ChildReport.from_order(order)
        if kind == "cancel" and not report.status.is_terminal:
            return CallAnswer(algo_id, client_order_id, kind, None, why)  # still live: ask again later
        return CallAnswer(algo_id, client_order_id, kind, report, why)

    # --- lookups ------------------------------------------------------------------------------------------

    async def _resolve(self, account: str, algo_id: str | None, client_order_id: str | None) -> str:
        if algo_id is not None:
            return algo_id
        return (await self._find(account, None, client_order_id)).algo_id

    async def _find(self, account: str, algo_id: str | None, client_order_id: str | None) -> Algo:
        algo: Algo | None = None
        if algo_id is not None:
            algo = self._writer.algos.get(algo_id)
            if algo is None:
                row = await self._store.get(algo_id)
                algo = Algo.from_record(row[11]) if row is not None else None
        elif client_order_id is not None:
            held = self._writer.by_client_id.get((account, client_order_id))
            algo = self._writer.algos.get(held) if held else None
            if algo is None:
                row = await self._store.by_client_order_id(account, client_order_id)
                algo = Algo.from_record(row[11]) if row is not None else None
        else:
            raise RequestError("give algo_id or client_order_id", details={"field": "algo_id"})
        if algo is None or algo.account != account:
            raise LookupFailed("algo order not found", code=ErrorCode.ORDER_NOT_FOUND,
                               details={"algo_id": algo_id, "client_order_id": client_order_id})
        return algo

    def _check_ready(self) -> None:
        if not self.is_ready:
            raise VenueUnavailable("the algo engine is not ready", venue="algos")

    def _trading_venue(self, account: str) -> VenueAdapter:
        adapter = self._venues.get(account)
        if adapter is None:
            raise LookupFailed(f"unknown account {account!r}", code=ErrorCode.UNKNOWN_VENUE)
        self._check_ready()
        if not self._orders.is_ready or adapter.state is not ConnectionState.OPEN:
            raise VenueUnavailable(f"{account} is not ready for trading", venue=account)
        return adapter

    def _instrument(self, adapter: VenueAdapter, symbol: str) -> Instrument:
        if not symbol:
            raise RequestError("symbol is required", details={"field": "symbol"})
        instrument = adapter.instruments.get(symbol)
        if instrument is None:
            instrument = next((i for i in adapter.instruments.values() if i.native == symbol), None)
        if instrument is None:
            raise LookupFailed(f"unknown symbol {symbol!r} on {adapter.name}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"symbol": symbol})
        return instrument

    def _rules(self, account: str, symbol: str) -> SizeRules | None:
        adapter = self._venues.get(account)
        instrument = adapter.instruments.get(symbol) if adapter is not None else None
        return None if instrument is None else SizeRules.of(instrument, adapter.capabilities.post_only)  # type: ignore[union-attr]


def _qe_only(method: str, account: str) -> GatewayError:
    return OrderRejected(f"{method} is served for Quantum Execute (qe) accounts only; {account!r} runs algos on "
                         f"the gateway's local engine", code=ErrorCode.NOT_SUPPORTED, details={"account": account})
