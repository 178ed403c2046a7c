"""Trading over OKX: orders (WS ``op`` with REST as the fallback), batches, queries and the catch-up.

The session's trading calls are split by concern: orders here; algo orders in `algo_orders`; account
calls (mode, balances, positions, leverage, raw calls) in `account`; the shared shell in `calls`.
`OkxExecution` is all of them together, the one object the adapter and the user-data stream use.

Outcomes (the order manager's contract, `core.ports`):
- a write OKX refused raises `VenueRejected` with OKX's ``sCode`` / ``sMsg`` (or ``code`` / ``msg``);
- a write whose outcome is unknown (no answer, a drop while waiting, 5xx, or codes 50001 / 50004 /
  50011 / 50013 / 50026 / 51054) raises `VenueTimeout` and is never re-sent here;
- `get_order` of an order OKX does not have (51603, and no algo order by that client id) returns None.

Conditional and OCO orders are algo orders (REST only: the WS has no algo operation). Their gateway
order id is ``algo-<algoId>``; `get_order`, `cancel_order`, `amend_order` and `open_orders` cover them,
by either id, so brackets can place, query, resize and cancel native legs.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.enums import OrderStatus
from gateway.core.errors import (
    VenueError,
    VenueRejected,
)
from gateway.core.events import Fill, OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.venues.okx.account import AccountCalls
from gateway.venues.okx.algo_orders import AlgoCalls
from gateway.venues.okx.clientids import to_okx
from gateway.venues.okx.envelope import (
    NO_SUCH_ORDER,
    item_results,
    to_error,
)
from gateway.venues.okx.instruments import inst_type
from gateway.venues.okx.trading import (
    TpSl,
    amend_args,
    attached_tpsl,
    order_ref,
    place_args,
)
from gateway.venues.okx.user_parse import (
    ALGO_PREFIX,
    algo_id_of,
    algo_update,
    to_fill_row,
    to_order_update,
)

__all__ = ["OkxExecution"]

_CANCEL_GONE = frozenset({"51400", "51401", "51402", "51603"})  # filled / canceled / nonexistent
log = structlog.get_logger("gateway.venues.okx.execution")


class OkxExecution(AlgoCalls, AccountCalls):
    """The trading calls of one OKX session: orders here, algo orders and account calls in their modules."""

    # --- orders -------------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        inst_id = self.native(request.symbol)
        if request.type.is_conditional:
            return await self.place_conditional(request)
        args = place_args(request, inst_id, self.market, self.td_mode(request.symbol), self.mode)
        return await self._place_plain(request, args, inst_id)

    async def _place_plain(self, request: OrderRequest, args: dict[str, Any], inst_id: str) -> OrderUpdate:
        now = self._now()
        envelope = await self._write("order", "/api/v5/trade/order", args, inst_id)
        item = self._single(envelope, "place order")
        placed = OrderUpdate(self.venue, request.symbol, item.ord_id, request.client_order_id, request.side,
                             request.type, request.tif, request.price, None, request.qty, Decimal(0), None,
                             OrderStatus.NEW, request.reduce_only, item.ts or now, now)
        if args["ordType"] in ("market", "ioc", "fok"):  # done at once: answer with the state it ended in
            try:
                found = await self.get_order(request.symbol, item.ord_id)
            except VenueError as exc:
                log.info("okx.post_place_query_failed", error=exc.message)
                found = None
            if found is not None:
                return found
        return placed

    async def place_with_tpsl(self, request: OrderRequest, legs: TpSl,
                              attached_client_order_id: str | None = None) -> OrderUpdate:
        """Place a plain order with a take-profit and/or stop-loss attached (``attachAlgoOrds``, §5).

        OKX creates the TP/SL as one algo order (an OCO when both are given) for the size that fills, on the
        exit side, when the order fills; `attached_client_order_id` names it (its ``algoClOrdId``), so
        `get_order` finds it as ``algo-<algoId>`` afterwards. Outcomes as `place_order`.
        """
        inst_id = self.native(request.symbol)
        args = place_args(request, inst_id, self.market, self.td_mode(request.symbol), self.mode)
        args["attachAlgoOrds"] = attached_tpsl(legs, attached_client_order_id)
        return await self._place_plain(request, args, inst_id)

    async def place_orders(self, requests: list[OrderRequest]) -> list[OrderUpdate | VenueError]:
        """Place plain orders in batches of 20 (``batch-orders``, over the WS when it is up); one answer each.

        Each answer is the order's NEW report or the `VenueError` OKX gave that item (its ``sCode``);
        a batch whose answer is lost raises `VenueTimeout` (every order of it is of unknown outcome).
        """
        answers: list[OrderUpdate | VenueError] = []
        for i in range(0, len(requests), 20):
            chunk = requests[i:i + 20]
            args = [place_args(r, self.native(r.symbol), self.market, self.td_mode(r.symbol), self.mode) for r in chunk]
            path = "/api/v5/trade/batch-orders" if len(args) > 1 else "/api/v5/trade/order"
            envelope = await self._write("batch-orders" if len(args) > 1 else "order", path, args,
                                         str(args[0]["instId"]), items=True)
            items = item_results(envelope)
            if len(items) != len(chunk):
                raise to_error(self.venue, "batch place", envelope.code, envelope.msg, write=True)
            now = self._now()
            for request, item in zip(chunk, items, strict=True):
                if not item.ok:
                    answers.append(to_error(self.venue, "batch place", item.s_code, item.s_msg, write=True))
                    continue
                answers.append(OrderUpdate(self.venue, request.symbol, item.ord_id, request.client_order_id,
                                           request.side, request.type, request.tif, request.price, None, request.qty,
                                           Decimal(0), None, OrderStatus.NEW, request.reduce_only, item.ts or now,
                                           now))
        return answers

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        inst_id = self.native(symbol)
        algo_id = algo_id_of(order_id)
        if algo_id is None and order_id is None and client_order_id is not None \
                and not await self._has_order(inst_id, client_order_id):
            algo = await self._algo_row(inst_id, None, client_order_id)
            if algo is not None:
                algo_id = str(algo.get("algoId"))
        if algo_id is not None:
            envelope = await self._rest.call("POST", "/api/v5/trade/cancel-algos",
                                             body=[{"algoId": algo_id, "instId": inst_id}], signed=True, write=True)
            self._single(envelope, "cancel algo order")
            found = await self.get_order(symbol, f"{ALGO_PREFIX}{algo_id}")
        else:
            args = {"instId": inst_id, **order_ref(order_id, client_order_id)}
            envelope = await self._write("cancel-order", "/api/v5/trade/cancel-order", args, inst_id)
            item = self._single(envelope, "cancel order")
            found = await self.get_order(symbol, item.ord_id or order_id, client_order_id)
        if found is None:
            raise VenueRejected("Order does not exist", venue=self.venue, venue_code="51603",
                                venue_message="Order does not exist")
        return found

    async def _has_order(self, inst_id: str, client_order_id: str) -> bool:
        try:
            await self._rest.call("GET", "/api/v5/trade/order", {"instId": inst_id, "clOrdId": to_okx(client_order_id)},
                                  signed=True, inst_id=inst_id)
        except VenueRejected as exc:
            if str(exc.venue_code) in NO_SUCH_ORDER:
                return False
            raise
        return True

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Cancel every open order and algo order (of `symbol`, or all); return them as canceled."""
        open_now = await self.open_orders(symbol)
        plain = [o for o in open_now if algo_id_of(o.order_id) is None]
        algos = [o for o in open_now if algo_id_of(o.order_id) is not None]
        for i in range(0, len(plain), 20):
            chunk = [{"instId": self.native(o.symbol), "ordId": o.order_id} for o in plain[i:i + 20]]
            envelope = await self._rest.call("POST", "/api/v5/trade/cancel-batch-orders", body=chunk, signed=True,
                                             write=True)
            self._items_ok(envelope, "cancel batch", tolerate=_CANCEL_GONE)
        for i in range(0, len(algos), 10):
            chunk = [{"instId": self.native(o.symbol), "algoId": algo_id_of(o.order_id)} for o in algos[i:i + 10]]
            envelope = await self._rest.call("POST", "/api/v5/trade/cancel-algos", body=chunk, signed=True,
                                             write=True)
            self._items_ok(envelope, "cancel algos", tolerate=_CANCEL_GONE)
        return [replace(o, status=OrderStatus.CANCELED) for o in open_now]

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        if algo_id_of(order_id) is not None:
            return await self.amend_algo_order(symbol, order_id, client_order_id, qty, price)
        inst_id = self.native(symbol)
        args = amend_args(inst_id, order_id, client_order_id, qty, price)
        envelope = await self._write("amend-order", "/api/v5/trade/amend-order", args, inst_id)
        item = self._single(envelope, "amend order")
        found = await self.get_order(symbol, item.ord_id or order_id, client_order_id)
        if found is None:
            raise VenueRejected("Order does not exist", venue=self.venue, venue_code="51603")
        return replace(found, reason="amended")

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        inst_id = self.native(symbol)
        algo_id = algo_id_of(order_id)
        if algo_id is not None:
            return await self._algo_order(symbol, inst_id, algo_id, None)
        try:
            envelope = await self._rest.call("GET", "/api/v5/trade/order",
                                             {"instId": inst_id, **order_ref(order_id, client_order_id)},
                                             signed=True, inst_id=inst_id)
        except VenueRejected as exc:
            if str(exc.venue_code) not in NO_SUCH_ORDER:
                raise
            if order_id is None and client_order_id is not None:
                return await self._algo_order(symbol, inst_id, None, client_order_id)
            return None
        if not envelope.data:
            return None
        return to_order_update(envelope.data[0], self.venue, symbol, self._now())

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        params: dict[str, object] = {"instType": inst_type(self.market)}
        if symbol is not None:
            params["instId"] = self.native(symbol)
        rows = await self._paged("/api/v5/trade/orders-pending", params, "ordId")
        algo_rows = await self._paged("/api/v5/trade/orders-algo-pending", {"ordType": "conditional,oco", **params},
                                      "algoId")
        now = self._now()
        found = self._convert(rows, lambda r, s: to_order_update(r, self.venue, s, now))
        found += self._convert(algo_rows, lambda r, s: algo_update(r, self.venue, s, now))
        return found

    # --- catch-up -----------------------------------------------------------------------------------

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        begin = max(since_ms, self._server_now() - int(self._settings.max_catchup_s * 1000))
        params = {"instType": inst_type(self.market), "begin": begin}
        now = self._now()
        rows = await self._paged("/api/v5/trade/orders-history", params, "ordId")
        found = self._convert(rows, lambda r, s: to_order_update(r, self.venue, s, now))
        found += await self.open_orders()
        return sorted(found, key=lambda u: u.ts)

    async def fills_since(self, since_ms: int) -> list[Fill]:
        begin = max(since_ms, self._server_now() - int(self._settings.max_catchup_s * 1000))
        rows = await self._paged("/api/v5/trade/fills", {"instType": inst_type(self.market), "begin": begin}, "billId")
        now = self._now()
        fills = self._convert(rows, lambda r, s: to_fill_row(r, self.venue, s, now))
        unique = {f.trade_id: f for f in fills}
        return sorted(unique.values(), key=lambda f: f.ts)
