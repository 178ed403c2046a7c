"""`RemoteAlgoBackend`: `algo.*` on an account whose venue executes parents itself (Quantum Execute).

The same `AlgoBackend` contract as the local engine, so `algo.place` answers the same errors for the
seed's rules (`validation.validate_request`), plus QE's own (`check_remote`). Then the parent goes to the
venue (`AlgoVenue.create_parent`) instead of being sliced here.

Idempotency and unknown outcomes: every parent carries a client order id, generated before any I/O when
the strategy gave none. A parent with a strategy-given id is first looked up at the venue (the same
request returns it; another is DUPLICATE_CLIENT_ID). A create that timed out (`VenueTimeout`) is resolved
by reading the parent by that id — never by sending it again.

It talks to the venue only through `core.algo_ports.AlgoVenue`, so it knows nothing of QE's wire format.

Events: the venue's parent / child / fill events are published on ``<account>@algo`` as
``{"type": "algo", ...public parent}``, ``{"type": "order", "algo_id", "order"}`` and
``{"type": "fill", "algo_id", "fill"}`` (the local engine's shapes).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import MarketType
from gateway.core.errors import ErrorCode, LookupFailed, OrderRejected, RequestError, VenueTimeout
from gateway.core.instruments import Instrument
from gateway.orders.algo.model import AlgoState
from gateway.orders.algo.validation import AlgoRequest, check_boost, validate_request
from gateway.core.algo_ports import AlgoEvent, AlgoVenue, ChildFill, ChildOrder, ParentOrder, ParentSpec

__all__ = ["STATE_OF", "RemoteAlgoBackend", "check_remote"]

log = structlog.get_logger("gateway.algos.remote")

PublishFn = Callable[[str, dict[str, Any]], None]

# QE master-order status -> the gateway's algo state (fact sheet §9; internal states map to the nearest).
STATE_OF: dict[str, AlgoState] = {
    "NEW": AlgoState.PENDING, "WAITING": AlgoState.PENDING, "PROCESSING": AlgoState.RUNNING,
    "CANCEL": AlgoState.RUNNING, "CANCEL_REJECT": AlgoState.RUNNING, "CLEANING": AlgoState.RUNNING,
    "PAUSED": AlgoState.PAUSED, "CANCELLED": AlgoState.CANCELED, "COMPLETED": AlgoState.COMPLETED,
    "COMPLETED_WITHTAIL": AlgoState.COMPLETED, "REJECTED": AlgoState.FAILED, "EXPIRED": AlgoState.EXPIRED,
}
_QTY_ONLY_DERIBIT = frozenset({"BTCUSD", "ETHUSD"})


def check_remote(request: AlgoRequest, exchange: str, instrument: Instrument) -> None:
    """QE's rules beyond the seed's table (fact sheet §6.1-§6.2).

    Raises:
        OrderRejected: NOT_SUPPORTED (Boost outside Binance BTCUSDT / ETHUSDT perpetuals).
        RequestError: INVALID_PARAMS (coin-margined Binance perpetuals and Deribit BTCUSD / ETHUSD take a
            quantity only, a whole number of contracts on Binance; a USDT-settled perpetual is margin type U).
    """
    check_boost(request, exchange.lower(), instrument.type, instrument.native)
    if instrument.type is MarketType.PERP:
        if request.margin_type == "C":
            if exchange == "Binance":
                if request.notional is not None:
                    raise RequestError("coin-margined Binance perpetuals take qty (contracts), not notional",
                                       details={"field": "notional"})
                if request.qty is not None and request.qty != request.qty.to_integral_value():
                    raise RequestError("coin-margined Binance perpetuals take a whole number of contracts",
                                       details={"field": "qty"})
        elif instrument.settle not in (None, instrument.quote):
            raise RequestError(f"{instrument.symbol} is coin-margined: margin_type must be C",
                               details={"field": "margin_type"})
    if exchange == "Deribit" and instrument.native.upper() in _QTY_ONLY_DERIBIT and request.notional is not None:
        raise RequestError("Deribit BTCUSD / ETHUSD take qty (in USD), not notional", details={"field": "notional"})


class RemoteAlgoBackend:
    """Execute `algo.*` for accounts whose venue is an `AlgoVenue` of kind ``qe``.

    Args:
        venues: venue sessions by name (= account name); only those that are `AlgoVenue`s are served.
        publish: called with `(account, data)` for ``<account>@algo``; must not block.
        clock: time source.
        min_duration_s: ``execution_duration_s`` must exceed this (QE: 10).
    """

    name = "qe"

    def __init__(self, venues: Mapping[str, Any], publish: PublishFn, clock: Clock, *, min_duration_s: int = 10):
        self._venues = venues
        self._publish = publish
        self._clock = clock
        self._min_duration_s = min_duration_s
        for venue in venues.values():
            if self._is_algo_venue(venue):
                venue.bind_algo(self)

    # --- AlgoSink ------------------------------------------------------------------------------------------

    def on_algo(self, account: str, event: AlgoEvent) -> None:
        """Publish a venue event on ``<account>@algo``."""
        if isinstance(event, ParentOrder):
            data = {"type": "algo", **self._public(account, event)}
        elif isinstance(event, ChildFill):
            data = {"type": "fill", "algo_id": event.parent_id, "fill": _fill_public(event)}
        else:
            data = {"type": "order", "algo_id": event.parent_id, "order": _child_public(event)}
        try:
            self._publish(account, data)
        except Exception:
            log.exception("algos.publish_failed")

    # --- AlgoBackend -------------------------------------------------------------------------------------

    def serves(self, account: str) -> bool:
        return self._is_algo_venue(self._venues.get(account))

    async def place(self, strategy: str | None, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, then create the parent at the venue (idempotent on client_order_id).

        Raises:
            GatewayError: INVALID_PARAMS (a rule of the seed's table or QE's), UNKNOWN_SYMBOL, NOT_SUPPORTED,
                DUPLICATE_CLIENT_ID, VENUE_REJECTED, TIMEOUT (the create's outcome is still unknown).
        """
        venue = self._venue(account)
        instrument = self._instrument(venue, str(params.get("symbol") or ""))
        request = validate_request(params, account=account, symbol=instrument.symbol, market_type=instrument.type,
                                   now_ms=self._clock.now_ms(),
                                   min_duration_s=getattr(venue.settings, "min_duration_s", self._min_duration_s))
        exchange = venue.settings.exchange
        check_remote(request, exchange, instrument)
        client_order_id = request.client_order_id or f"gw{self._clock.now_ms():x}{secrets.token_hex(4)}"
        if request.client_order_id is not None:
            existing = await venue.get_parent(client_order_id=client_order_id)
            if existing is not None:
                if not _same(existing, request, instrument):
                    raise OrderRejected(f"client_order_id {client_order_id!r} is used by another algo order",
                                        code=ErrorCode.DUPLICATE_CLIENT_ID)
                return self._public(account, existing)
        spec = ParentSpec(
            api_key_id=await venue.default_api_key_id(), exchange=exchange,
            market_type="PERP" if instrument.type is MarketType.PERP else "SPOT", symbol=instrument.native,
            side=request.side.value, algorithm=request.algorithm.value, duration_s=request.duration_ms // 1000,
            qty=request.qty, notional=request.notional, start_ms=request.start_ms,
            client_order_id=client_order_id, options=request.to_record())
        try:
            parent = await venue.create_parent(spec)
        except VenueTimeout:
            found = await venue.get_parent(client_order_id=client_order_id)
            if found is None:
                raise
            parent = found
        return self._public(account, parent)

    async def cancel(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                     reason: str | None = None) -> dict[str, Any]:
        venue, parent = await self._find(account, algo_id, client_order_id)
        if STATE_OF.get(parent.status, AlgoState.RUNNING).is_terminal:
            return self._public(account, parent)  # idempotent, like the local engine
        await venue.cancel_parent(parent.parent_id, reason)
        return await self.get(account, parent.parent_id)

    async def pause(self, account: str, algo_id: str | None, client_order_id: str | None = None) -> dict[str, Any]:
        venue, parent = await self._find(account, algo_id, client_order_id)
        await venue.pause_parent(parent.parent_id)
        return await self.get(account, parent.parent_id)

    async def resume(self, account: str, algo_id: str | None, client_order_id: str | None = None
                     ) -> dict[str, Any]:
        venue, parent = await self._find(account, algo_id, client_order_id)
        await venue.resume_parent(parent.parent_id)
        return await self.get(account, parent.parent_id)

    async def get(self, account: str, algo_id: str | None, client_order_id: str | None = None) -> dict[str, Any]:
        return self._public(account, (await self._find(account, algo_id, client_order_id))[1])

    async def list(self, account: str, *, open_only: bool = False, state: str | None = None,
                   limit: int = 500) -> list[dict[str, Any]]:
        venue = self._venue(account)
        found: list[dict[str, Any]] = []
        page = 1
        while len(found) < limit:
            result = await venue.list_parents(open_only=open_only, page=page, page_size=100)
            found += [self._public(account, p) for p in result.items
                      if state is None or STATE_OF.get(p.status, AlgoState.RUNNING).value == state]
            if len(result.items) < 100:
                break
            page += 1
        return found[:limit]

    async def fills(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                    limit: int = 500) -> list[dict[str, Any]]:
        """Return the parent's child orders that filled: QE reports a child's cumulative fill, not each one."""
        venue, parent = await self._find(account, algo_id, client_order_id)
        children = await venue.parent_children(parent.parent_id)
        found = [{**_child_public(c), "algo_id": parent.parent_id} for c in children if c.filled_qty > 0]
        found.sort(key=lambda f: (f["ts"] or 0, f["order_id"]))
        return found[:limit]

    async def exchange_apis(self, account: str) -> list[dict[str, Any]]:
        return await self._venue(account).exchange_apis()

    async def trading_pairs(self, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._venue(account).trading_pairs(params)

    # --- helpers ------------------------------------------------------------------------------------------

    @staticmethod
    def _is_algo_venue(venue: Any) -> bool:
        return venue is not None and getattr(venue, "kind", None) == "qe" and isinstance(venue, AlgoVenue)

    def _venue(self, account: str) -> Any:
        venue = self._venues.get(account)
        if not self._is_algo_venue(venue):
            raise LookupFailed(f"{account!r} is not a Quantum Execute account", code=ErrorCode.UNKNOWN_VENUE)
        return venue

    def _instrument(self, venue: Any, symbol: str) -> Instrument:
        if not symbol:
            raise RequestError("symbol is required", details={"field": "symbol"})
        instruments: dict[str, Instrument] = venue.algo_instruments
        found = instruments.get(symbol) or next((i for i in instruments.values() if i.native == symbol), None)
        if found is None:
            raise LookupFailed(f"unknown symbol {symbol!r} on {venue.name}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"symbol": symbol})
        return found

    async def _find(self, account: str, algo_id: str | None, client_order_id: str | None) -> tuple[Any, ParentOrder]:
        venue = self._venue(account)
        if algo_id is None and client_order_id is None:
            raise RequestError("give algo_id or client_order_id", details={"field": "algo_id"})
        parent = await venue.get_parent(algo_id, None if algo_id is not None else client_order_id)
        if parent is None:
            raise LookupFailed("algo order not found", code=ErrorCode.ORDER_NOT_FOUND,
                               details={"algo_id": algo_id, "client_order_id": client_order_id})
        return venue, parent

    def _public(self, account: str, p: ParentOrder) -> dict[str, Any]:
        venue = self._venues.get(account)
        symbol = p.symbol
        if venue is not None:
            perp = (p.market_type or "").upper() in ("PERP", "perp")
            for instrument in getattr(venue, "algo_instruments", {}).values():
                if instrument.native == p.symbol and (instrument.type is MarketType.PERP) == perp:
                    symbol = instrument.symbol
        state = STATE_OF.get(p.status, AlgoState.RUNNING)
        target = p.qty if p.qty is not None and p.qty > 0 else p.notional
        done = p.filled_notional if p.qty in (None, Decimal(0)) else p.filled_qty
        progress = min(Decimal(1), done / target) if target else Decimal(0)
        end = None if p.start_ms is None or p.duration_s is None else p.start_ms + p.duration_s * 1000
        return {"algo_id": p.parent_id, "client_order_id": p.client_order_id, "account": account, "venue": account,
                "symbol": symbol, "side": p.side, "algorithm": p.algorithm, "qty": p.qty, "notional": p.notional,
                "state": state, "qe_status": p.status, "filled_qty": p.filled_qty, "filled_notional": p.filled_notional,
                "avg_price": p.avg_price, "progress": progress.quantize(Decimal("0.0001")), "start_ts": p.start_ms,
                "end_ts": end, "reason": p.reason, "created_ts": p.created_ms, "updated_ts": p.updated_ms,
                "backend": "qe"}


def _same(parent: ParentOrder, request: AlgoRequest, instrument: Instrument) -> bool:
    def eq(a: Decimal | None, b: Decimal | None) -> bool:
        return (a is None or a == 0) and (b is None or b == 0) or (a is not None and b is not None and a == b)

    return (parent.symbol == instrument.native and parent.side == request.side.value
            and parent.algorithm.lower() == request.algorithm.value.lower()
            and eq(parent.qty, request.qty) and eq(parent.notional, request.notional))


def _child_public(c: ChildOrder) -> dict[str, Any]:
    return {"order_id": c.order_id, "symbol": c.symbol, "side": c.side, "status": c.status, "qty": c.qty,
            "price": c.price, "filled_qty": c.filled_qty, "filled_notional": c.filled_notional,
            "avg_price": c.avg_price, "type": c.order_type, "reason": c.reason, "ts": c.updated_ms}


def _fill_public(f: ChildFill) -> dict[str, Any]:
    return {"trade_id": f.fill_id, "order_id": f.order_id, "symbol": f.symbol, "side": f.side, "qty": f.qty,
            "price": f.price, "notional": f.notional, "cum_qty": f.cum_qty, "ts": f.ts}
