"""Trading over Binance REST: orders, queries, account, leverage and margin type, raw calls.

Outcomes (the order manager's contract, `core.ports`):
- a write Binance refused raises `VenueRejected` with Binance's code and message (``venue_code``);
- a write whose outcome is unknown raises `VenueTimeout`: no answer in time, a 5xx, or Binance's own
  "unknown" codes -1006 / -1007 (and -1001 for a write). It is never retried here: the order manager
  asks (`get_order` by client id) before anything is sent again;
- `get_order` of an order Binance does not have (-2013) returns None.

Catch-up (`orders_since`, `fills_since`): allOrders / myTrades (spot) and allOrders / userTrades /
allAlgoOrders (usdm) of every configured symbol, in windows of ``history_window_s`` (Binance limits a
query's time span), each paged until a short page. With `open_orders` and the order manager's own
queries of the orders it misses, nothing that happened since the given time is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import OrderStatus
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, VenueRejected, VenueTimeout
from gateway.core.events import Fill, OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.venues.binance.account import AccountCalls
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.binance.enums import SIDE
from gateway.venues.binance.instruments import SymbolMap
from gateway.venues.binance.rest import BinanceRest, Params
from gateway.venues.binance.trading import (
    CLIENT_ID_ALPHABET,
    algo_id_of,
    amend_params,
    call_weight,
    check_client_id,
    order_ref,
    place_call,
)
from gateway.venues.binance.user_parse import (
    AlgoLinks,
    account_trade_fill,
    algo_order_update,
    rest_order_update,
)
from gateway.venues.binance.user_schemas import (
    AccountTrade,
    AlgoOrder,
    RestOrder,
    decode,
)

__all__ = ["UNKNOWN_OUTCOME", "BinanceExecution"]

UNKNOWN_OUTCOME = frozenset({-1001, -1006, -1007})  # a write answered so: it may or may not have happened
NO_SUCH_ORDER = frozenset({-2013, -2011})  # "Order does not exist." / "Unknown order sent."
BATCH_CANCEL_MAX = 10  # DELETE /fapi/v1/batchOrders takes at most 10 ids (fact sheet §4)
_PAGE = 1000
log = structlog.get_logger("gateway.venues.binance.execution")


class BinanceExecution(AccountCalls):
    """The trading calls of one Binance session (spot or usdm).

    Args:
        venue: the venue name.
        settings: the venue settings.
        rest: the session's REST client.
        symbols: returns the current unified <-> native map (it changes when exchangeInfo is reloaded).
        clock: local time (server time = local + the REST client's offset).
        links: triggered order -> algo order (shared with the user stream).
    """

    def __init__(self, venue: str, settings: BinanceSettings, rest: BinanceRest, symbols: Callable[[], SymbolMap],
                 clock: Clock, links: AlgoLinks):
        self.venue = venue
        self.market = settings.market
        self._settings = settings
        self._rest = rest
        self.rest = rest  # the session's REST client (ws-fapi shares its ORDERS budget)
        self._symbols = symbols
        self._clock = clock
        self.links = links
        self.leverage: dict[str, int] = {}  # unified -> leverage last seen (positions, ACCOUNT_UPDATE)
        self._usdm = settings.market == "usdm"
        self._p = "/fapi" if self._usdm else "/api"
        self._alphabet = settings.client_order_id_alphabet or CLIENT_ID_ALPHABET[settings.market]

    # --- orders -------------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        check_client_id(request.client_order_id, self._alphabet, self._settings.client_order_id_max_len)
        native = self.native(request.symbol)
        call = place_call(request, native, self.market, working_type=self._settings.working_type,
                          price_protect=self._settings.price_protect)
        with self._write_outcome():
            data = await self._rest.call(call.method, call.path, call.params, weight=call.weight, signed=True,
                                         orders=1)
        if call.algo:
            return algo_order_update(decode(AlgoOrder, data), self.venue, request.symbol, self._now())
        return rest_order_update(decode(RestOrder, data), self.venue, request.symbol, self.market, self._now())

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        native = self.native(symbol)
        algo_id = algo_id_of(order_id)
        if algo_id is not None:
            return await self._cancel_algo(symbol, native, [("algoId", algo_id)])
        try:
            with self._write_outcome():
                data = await self._call("DELETE", f"{self._p}/v{'1' if self._usdm else '3'}/order",
                                        [("symbol", native), *order_ref(order_id, client_order_id)])
        except VenueRejected as exc:
            if self._usdm and order_id is None and exc.venue_code in NO_SUCH_ORDER:
                try:  # a conditional order is known by its client algo id
                    return await self._cancel_algo(symbol, native, [("clientAlgoId", client_order_id)])
                except VenueRejected:
                    pass
            raise
        return rest_order_update(decode(RestOrder, data), self.venue, symbol, self.market, self._now())

    async def _cancel_algo(self, symbol: str, native: str, ref: list[tuple[str, object]]) -> OrderUpdate:
        with self._write_outcome():
            await self._call("DELETE", "/fapi/v1/algoOrder", [("symbol", native), *ref])
        data = await self._call("GET", "/fapi/v1/algoOrder", [("symbol", native), *ref])
        return algo_order_update(decode(AlgoOrder, data), self.venue, symbol, self._now())

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Cancel every open order (of `symbol`, or of every configured symbol); return them as answered.

        usdm: the open orders are read, then canceled by id through the batch endpoint (10 per call), which
        answers each with its true state (one that filled just before stays filled; one already gone is
        left out: the user stream and the reconciliation report it); then ``allOpenOrders`` and
        ``algoOpenOrders`` sweep what was placed meanwhile and the conditional orders, which are returned
        as canceled.
        """
        found: list[OrderUpdate] = []
        for unified in [symbol] if symbol is not None else self._symbols().unified_symbols():
            native = self.native(unified)
            if not self._usdm:
                try:
                    with self._write_outcome():
                        rows = await self._call("DELETE", "/api/v3/openOrders", [("symbol", native)])
                except VenueRejected as exc:
                    if exc.venue_code in NO_SUCH_ORDER:  # nothing open
                        continue
                    raise
                now = self._now()
                found += [rest_order_update(decode(RestOrder, r), self.venue, unified, "spot", now)
                          for r in rows if "orderId" in r]
                continue
            open_now = await self.open_orders(unified)
            regular = [u for u in open_now if algo_id_of(u.order_id) is None]
            found += await self.cancel_orders(unified, [u.order_id for u in regular if u.order_id])
            with self._write_outcome("DELETE"):
                await self._call("DELETE", "/fapi/v1/allOpenOrders", [("symbol", native)])
                await self._call("DELETE", "/fapi/v1/algoOpenOrders", [("symbol", native)])
            found += [_canceled(u) for u in open_now if algo_id_of(u.order_id) is not None]
        return found

    async def cancel_orders(self, symbol: str, order_ids: list[str]) -> list[OrderUpdate]:
        """usdm: cancel orders by id with ``DELETE /fapi/v1/batchOrders``; return the venue's answer for each
        it canceled (an id Binance answers with an error, e.g. -2011 already gone, is logged and left out)."""
        self._futures_only("cancel_orders")
        native, found = self.native(symbol), []
        for start in range(0, len(order_ids), BATCH_CANCEL_MAX):
            chunk = order_ids[start:start + BATCH_CANCEL_MAX]
            with self._write_outcome("DELETE"):
                rows = await self._call("DELETE", "/fapi/v1/batchOrders",
                                        [("symbol", native), ("orderIdList", [int(i) for i in chunk])])
            for order_id, row in zip(chunk, rows, strict=False):
                if isinstance(row, dict) and "orderId" in row:
                    update = rest_order_update(decode(RestOrder, row), self.venue, symbol, self.market, self._now())
                    found.append(self.links.rewrite(update))
                else:
                    log.info("binance.batch_cancel_refused", order_id=order_id, answer=row)
        return found  # type: ignore[return-value]

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        """usdm only (``PUT /fapi/v1/order``: LIMIT orders; quantity and price both required, so the order
        is read first for its side and the value not changed)."""
        if not self._usdm or algo_id_of(order_id) is not None:
            raise GatewayError("Binance amends only futures LIMIT orders", code=ErrorCode.NOT_SUPPORTED,
                               details={"venue": self.venue})
        current = await self.get_order(symbol, order_id, client_order_id)
        if current is None:
            raise VenueRejected("Order does not exist.", venue=self.venue, venue_code=-2013,
                                venue_message="Order does not exist.")
        new_qty = qty if qty is not None else current.qty
        new_price = price if price is not None else current.price
        if new_price is None:
            raise GatewayError("only LIMIT orders can be amended", code=ErrorCode.NOT_SUPPORTED)
        params = amend_params(self.native(symbol), SIDE[current.side], current.order_id,
                              None, new_qty, new_price)
        with self._write_outcome():
            data = await self._rest.call("PUT", "/fapi/v1/order", params, weight=0, signed=True, orders=1)
        return rest_order_update(decode(RestOrder, data), self.venue, symbol, self.market, self._now())

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        native = self.native(symbol)
        algo_id = algo_id_of(order_id)
        if algo_id is not None:
            return await self._get_algo(symbol, native, [("algoId", algo_id)])
        try:
            data = await self._call("GET", f"{self._p}/v{'1' if self._usdm else '3'}/order",
                                    [("symbol", native), *order_ref(order_id, client_order_id)])
        except VenueRejected as exc:
            if exc.venue_code not in NO_SUCH_ORDER:
                raise
            if self._usdm and order_id is None and client_order_id is not None:
                return await self._get_algo(symbol, native, [("clientAlgoId", client_order_id)])
            return None
        update = rest_order_update(decode(RestOrder, data), self.venue, symbol, self.market, self._now())
        return self.links.rewrite(update)  # type: ignore[return-value]

    async def _get_algo(self, symbol: str, native: str, ref: list[tuple[str, object]]) -> OrderUpdate | None:
        try:
            data = await self._call("GET", "/fapi/v1/algoOrder", [("symbol", native), *ref])
        except VenueRejected as exc:
            if exc.venue_code in NO_SUCH_ORDER:
                return None
            raise
        algo = decode(AlgoOrder, data)
        self.links.learn(algo.actualOrderId, algo.algoId, algo.clientAlgoId)
        if algo.algoStatus == "FINISHED" and algo.actualOrderId:  # the triggered order holds the truth
            actual = await self.get_order(symbol, str(algo.actualOrderId))
            if actual is not None:
                return actual
        return algo_order_update(algo, self.venue, symbol, self._now())

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        params = [("symbol", self.native(symbol))] if symbol is not None else []
        rows = await self._call("GET", f"{self._p}/v{'1' if self._usdm else '3'}/openOrders", params,
                                weight=(1 if self._usdm else 6) if symbol else (40 if self._usdm else 80))
        found = self._orders(rows)
        if self._usdm:
            algos = await self._call("GET", "/fapi/v1/openAlgoOrders", params, weight=1 if symbol else 40)
            found += self._algo_orders(algos)
        return found

    # --- catch-up -----------------------------------------------------------------------------------

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        path = "/fapi/v1/allOrders" if self._usdm else "/api/v3/allOrders"
        found = self._orders(await self._history(path, since_ms, "time"))
        if self._usdm:
            found += self._algo_orders(await self._history("/fapi/v1/allAlgoOrders", since_ms, "createTime"))
        return sorted(found, key=lambda u: u.ts)

    async def fills_since(self, since_ms: int) -> list[Fill]:
        rows = await self._history("/fapi/v1/userTrades" if self._usdm else "/api/v3/myTrades", since_ms, "time")
        now = self._now()
        found: list[Fill] = []
        seen: set[tuple[str, int]] = set()
        for row in rows:
            trade = decode(AccountTrade, row)
            unified = self.unified(trade.symbol)
            if unified is None or (trade.symbol, trade.id) in seen:
                continue
            seen.add((trade.symbol, trade.id))
            found.append(self.links.rewrite(account_trade_fill(trade, self.venue, unified, now)))  # type: ignore[arg-type]
        return sorted(found, key=lambda f: f.ts)

    async def _history(self, path: str, since_ms: int, time_field: str) -> list[dict[str, Any]]:
        # Every configured symbol, windows of history_window_s from `since` to now, each paged.
        s = self._settings
        now = self._rest.offset.server_now(self._clock.now_ms())
        start = max(since_ms, now - int(s.max_catchup_s * 1000))
        window = int(s.resolved_history_window_s * 1000)
        rows: list[dict[str, Any]] = []
        for unified in self._symbols().unified_symbols():
            native = self.native(unified)
            lo = start
            while lo <= now:
                hi = min(lo + window - 1, now)
                page_start = lo
                while True:
                    page = await self._call("GET", path, [("symbol", native), ("startTime", page_start),
                                                          ("endTime", hi), ("limit", _PAGE)])
                    rows += page
                    if len(page) < _PAGE:
                        break
                    last = max(int(r.get(time_field) or 0) for r in page)
                    if last <= page_start:  # a full page within one millisecond: cannot page further by time
                        log.warning("binance.catchup_page_stuck", path=path, symbol=unified, at=last)
                        break
                    page_start = last  # rows at `last` come again: the callers dedupe
                lo = hi + 1
        return rows

    # --- helpers ------------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, params: Params, *, weight: int | None = None) -> Any:
        return await self._rest.call(method, path, params, weight=self._weight(method, path) if weight is None
                                     else weight, signed=True)

    def _weight(self, method: str, path: str) -> int:
        return call_weight(self.market, method, path)

    @contextmanager
    def _write_outcome(self, method: str = "POST") -> Iterator[None]:
        # Binance's "execution status unknown" answers to a write become VenueTimeout (fact sheet §2).
        try:
            yield
        except VenueRejected as exc:
            if method != "GET" and exc.venue_code in UNKNOWN_OUTCOME:
                raise VenueTimeout(f"{exc.message}; the outcome is unknown", venue=self.venue,
                                   venue_code=exc.venue_code, venue_message=exc.venue_message) from exc
            raise

    def _orders(self, rows: list[dict[str, Any]]) -> list[OrderUpdate]:
        now = self._now()
        found = []
        for row in rows:
            order = decode(RestOrder, row)
            unified = self.unified(order.symbol)
            if unified is not None:
                found.append(self.links.rewrite(rest_order_update(order, self.venue, unified, self.market, now)))
        return found  # type: ignore[return-value]

    def _algo_orders(self, rows: list[dict[str, Any]] | dict[str, Any]) -> list[OrderUpdate]:
        if isinstance(rows, dict):  # some answers wrap the list
            rows = rows.get("orders") or rows.get("rows") or []
        now = self._now()
        found = []
        for row in rows:
            algo = decode(AlgoOrder, row)
            self.links.learn(algo.actualOrderId, algo.algoId, algo.clientAlgoId)
            unified = self.unified(algo.symbol)
            if unified is not None:
                found.append(algo_order_update(algo, self.venue, unified, now))
        return found

    def _futures_only(self, what: str) -> None:
        if not self._usdm:
            raise GatewayError(f"{what} is for futures (market usdm)", code=ErrorCode.NOT_SUPPORTED,
                               details={"venue": self.venue})

    def native(self, symbol: str) -> str:
        try:
            return self._symbols().native(symbol)
        except KeyError:
            raise LookupFailed(f"unknown symbol {symbol!r} on {self.venue}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"venue": self.venue, "symbol": symbol}) from None

    def unified(self, native: str) -> str | None:
        try:
            return self._symbols().unified(native)
        except KeyError:
            return None

    def _now(self) -> int:
        return self._clock.now_ms()


def _canceled(update: OrderUpdate) -> OrderUpdate:
    return replace(update, status=OrderStatus.CANCELED)
