"""Algo orders of an OKX session: conditional and OCO algo orders, TP/SL attached to an order, algo amends.

Fact sheet §5 "Algo orders" (REST only: the WebSocket has no algo operation). A conditional or OCO order's
gateway order id is ``algo-<algoId>``; `AlgoCalls.algo_order` finds one by either id and, once it has
fired, reports the order it created under the algo's ids, so brackets can place, query and cancel native
legs.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, GatewayError, VenueRejected
from gateway.core.events import OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.venues.okx.calls import OkxCalls
from gateway.venues.okx.clientids import from_okx, to_okx
from gateway.venues.okx.envelope import (
    NO_SUCH_ORDER,
)
from gateway.venues.okx.trading import TpSl, algo_args, amend_algo_args, oco_args
from gateway.venues.okx.user_parse import ALGO_PREFIX, algo_id_of, algo_update

__all__ = ["AlgoCalls"]


class AlgoCalls(OkxCalls):
    """The algo-order concern of `OkxExecution`."""

    async def place_conditional(self, request: OrderRequest) -> OrderUpdate:
        """Place a stop / take-profit (market or limit) as a ``conditional`` algo order."""
        inst_id = self.native(request.symbol)
        args = algo_args(request, inst_id, self.market, self.td_mode(request.symbol), self.mode)
        return await self._place_algo(request, args, inst_id, request.type, request.trigger_price)

    async def place_oco(self, request: OrderRequest, legs: TpSl) -> OrderUpdate:
        """Place an ``oco`` algo order: `request` gives symbol, side, size, client id and reduce-only; `legs`
        the take-profit and stop-loss triggers (and limit prices). Whichever fires first cancels the other.

        The normalized report shows it as the stop (its SL trigger); once it fires, the order it created.
        """
        inst_id = self.native(request.symbol)
        args = oco_args(request, inst_id, self.market, self.td_mode(request.symbol), self.mode, legs)
        kind = OrderType.STOP if legs.stop_loss_price is None else OrderType.STOP_LIMIT
        return await self._place_algo(replace(request, price=legs.stop_loss_price), args, inst_id, kind,
                                      legs.stop_loss_trigger)

    async def _place_algo(self, request: OrderRequest, args: dict[str, Any], inst_id: str, kind: OrderType,
                          trigger: Decimal | None) -> OrderUpdate:
        now = self._now()
        envelope = await self._rest.call("POST", "/api/v5/trade/order-algo", body=args, signed=True, write=True,
                                         inst_id=inst_id)
        item = self._single(envelope, "place algo order")
        return OrderUpdate(self.venue, request.symbol, f"{ALGO_PREFIX}{item.algo_id}", request.client_order_id,
                           request.side, kind, request.tif, request.price, trigger, request.qty, Decimal(0), None,
                           OrderStatus.NEW, request.reduce_only, item.ts or now, now)

    async def amend_algo(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                         qty: Decimal | None = None, changes: TpSl | None = None) -> OrderUpdate:
        """Amend a live conditional / OCO algo order (``/trade/amend-algos``): size, triggers, limit prices.

        Raises:
            VenueRejected: OKX refused (no such live algo order, bad values); GatewayError INVALID_PARAMS
                with nothing to change.
        """
        inst_id = self.native(symbol)
        try:
            args = amend_algo_args(inst_id, algo_id_of(order_id), client_order_id, qty, changes or TpSl())
        except ValueError as exc:
            raise GatewayError(str(exc), code=ErrorCode.INVALID_PARAMS, details={"venue": self.venue}) from None
        envelope = await self._rest.call("POST", "/api/v5/trade/amend-algos", body=args, signed=True, write=True,
                                         inst_id=inst_id)
        item = self._single(envelope, "amend algo order")
        found = await self._algo_order(symbol, inst_id, item.algo_id or args.get("algoId"), client_order_id)
        if found is None:
            raise VenueRejected("Order does not exist", venue=self.venue, venue_code="51603")
        return replace(found, reason="amended")

    async def amend_algo_order(self, symbol: str, order_id: str | None, client_order_id: str | None,
                               qty: Decimal | None, price: Decimal | None) -> OrderUpdate:
        """`amend_order` of an algo order: a new size, and a new limit price for the leg it has."""
        if price is None:
            return await self.amend_algo(symbol, order_id, client_order_id, qty)
        row = await self._algo_row(self.native(symbol), algo_id_of(order_id), client_order_id)
        if row is None:
            raise VenueRejected("Order does not exist", venue=self.venue, venue_code="51603")
        stop = bool(row.get("slTriggerPx"))
        changes = TpSl(stop_loss_price=price) if stop else TpSl(take_profit_price=price)
        return await self.amend_algo(symbol, order_id, client_order_id, qty, changes)

    async def _algo_row(self, inst_id: str, algo_id: str | None, client_order_id: str | None) -> dict[str, Any] | None:
        params = {"algoId": algo_id} if algo_id is not None else {"algoClOrdId": to_okx(client_order_id or "")}
        try:
            envelope = await self._rest.call("GET", "/api/v5/trade/order-algo", params, signed=True, inst_id=inst_id)
        except VenueRejected as exc:
            if str(exc.venue_code) in NO_SUCH_ORDER or str(exc.venue_code) in ("51000", "51603", "50014"):
                return None
            raise
        rows = [r for r in envelope.data if isinstance(r, dict)]
        return rows[0] if rows else None

    async def _algo_order(self, symbol: str, inst_id: str, algo_id: str | None,
                          client_order_id: str | None) -> OrderUpdate | None:
        row = await self._algo_row(inst_id, algo_id, client_order_id)
        if row is None:
            return None
        update = algo_update(row, self.venue, symbol, self._now())
        if update is not None:
            return update
        # Triggered: the order it created holds the truth, reported under the algo order's ids.
        triggered = row.get("ordId") or next(iter(row.get("ordIdList") or []), None)
        found = await self.get_order(symbol, str(triggered)) if triggered else None
        algo_ids = (f"{ALGO_PREFIX}{row.get('algoId')}", client_order_id or _client(row))
        if found is None:
            now = self._now()
            return OrderUpdate(self.venue, symbol, algo_ids[0], algo_ids[1], _side(row), _algo_type(row),
                               TimeInForce.GTC, None, None, Decimal(str(row.get("sz") or 0)),
                               Decimal(str(row.get("actualSz") or row.get("sz") or 0)), None, OrderStatus.FILLED,
                               False, now, now)
        return replace(found, order_id=algo_ids[0], client_order_id=algo_ids[1])


def _client(row: dict[str, Any]) -> str | None:
    return from_okx(row.get("algoClOrdId"))


def _side(row: dict[str, Any]) -> Side:
    return Side.BUY if row.get("side") == "buy" else Side.SELL


def _algo_type(row: dict[str, Any]) -> OrderType:
    tp = bool(row.get("tpTriggerPx")) and not row.get("slTriggerPx")
    market = str(row.get("tpOrdPx" if tp else "slOrdPx") or "-1") == "-1"
    if tp:
        return OrderType.TAKE_PROFIT if market else OrderType.TAKE_PROFIT_LIMIT
    return OrderType.STOP if market else OrderType.STOP_LIMIT
