"""Trading over OKX: orders (WS ``op`` with REST as the fallback), algo orders, queries, account, raw calls.

Outcomes (the order manager's contract, `core.ports`):
- a write OKX refused raises `VenueRejected` with OKX's ``sCode`` / ``sMsg`` (or ``code`` / ``msg``);
- a write whose outcome is unknown (no answer, a drop while waiting, 5xx, or codes 50001 / 50004 /
  50011 / 50013 / 50026 / 51054) raises `VenueTimeout` and is never re-sent here;
- `get_order` of an order OKX does not have (51603, and no algo order by that client id) returns None.

Conditional orders are ``conditional`` algo orders (REST only: the WS has no algo operation). Their
gateway order id is ``algo-<algoId>``; `get_order`, `cancel_order` and `open_orders` cover them, by
either id, so brackets can place, query and cancel native legs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import MarginType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import (
    ErrorCode,
    GatewayError,
    LookupFailed,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from gateway.core.events import Balance, Fill, OrderUpdate, Position
from gateway.core.ports import OrderRequest
from gateway.venues.okx.clientids import from_okx, to_okx
from gateway.venues.okx.config import OkxSettings
from gateway.venues.okx.envelope import (
    NO_SUCH_ORDER,
    UNKNOWN_OUTCOME,
    Envelope,
    item_results,
    to_envelope,
    to_error,
)
from gateway.venues.okx.instruments import SymbolMap, inst_type
from gateway.venues.okx.parse import MalformedRow
from gateway.venues.okx.rest import OkxRest
from gateway.venues.okx.stream import OkxSocket, reply_error
from gateway.venues.okx.trading import (
    AccountMode,
    algo_args,
    amend_args,
    order_ref,
    place_args,
    resolve_td_mode,
)
from gateway.venues.okx.user_parse import (
    ALGO_PREFIX,
    algo_id_of,
    algo_update,
    to_balances,
    to_fill_row,
    to_order_update,
    to_position,
)

__all__ = ["OkxExecution"]

_CANCEL_GONE = frozenset({"51400", "51401", "51402", "51603"})  # filled / canceled / nonexistent
_PAGE = 100
log = structlog.get_logger("gateway.venues.okx.execution")


class OkxExecution:
    """The trading calls of one OKX session."""

    def __init__(self, venue: str, settings: OkxSettings, rest: OkxRest, symbols: Callable[[], SymbolMap],
                 clock: Clock, ws: Callable[[], OkxSocket | None]):
        self.venue = venue
        self.market = settings.market
        self._settings = settings
        self._rest = rest
        self._symbols = symbols
        self._clock = clock
        self._ws = ws
        self.mode = AccountMode()
        self.td_modes: dict[str, str] = {}  # unified -> tdMode chosen by set_margin_type
        self.leverage: dict[str, int] = {}
        self.ws_orders = 0
        self.rest_orders = 0

    async def load_account_mode(self) -> AccountMode:
        """Read ``/account/config`` (acctLv, posMode) once at start; it decides tdMode and posSide."""
        envelope = await self._rest.call("GET", "/api/v5/account/config", signed=True)
        row = envelope.data[0] if envelope.data and isinstance(envelope.data[0], dict) else {}
        self.mode = AccountMode(str(row.get("acctLv") or "1"), str(row.get("posMode") or "net_mode"))
        if row.get("uid"):
            self._rest.user_scope = str(row["uid"])
        return self.mode

    def td_mode(self, symbol: str) -> str:
        return self.td_modes.get(symbol) or resolve_td_mode(self._settings.td_mode, self.market, self.mode)

    # --- orders -------------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        inst_id = self.native(request.symbol)
        now = self._now()
        if request.type.is_conditional:
            args = algo_args(request, inst_id, self.market, self.td_mode(request.symbol), self.mode)
            envelope = await self._rest.call("POST", "/api/v5/trade/order-algo", body=args, signed=True,
                                              write=True, inst_id=inst_id)
            item = self._single(envelope, "place algo order")
            return OrderUpdate(self.venue, request.symbol, f"{ALGO_PREFIX}{item.algo_id}", request.client_order_id,
                               request.side, request.type, request.tif, request.price, request.trigger_price,
                               request.qty, Decimal(0), None, OrderStatus.NEW, request.reduce_only,
                               item.ts or now, now)
        args = place_args(request, inst_id, self.market, self.td_mode(request.symbol), self.mode)
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
            raise GatewayError("amending OKX algo orders is not supported; cancel and place",
                               code=ErrorCode.NOT_SUPPORTED, details={"venue": self.venue})
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

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        params: dict[str, object] = {"instType": inst_type(self.market)}
        if symbol is not None:
            params["instId"] = self.native(symbol)
        rows = await self._paged("/api/v5/trade/orders-pending", params, "ordId")
        algo_rows = await self._paged("/api/v5/trade/orders-algo-pending", {"ordType": "conditional", **params},
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

    async def _paged(self, path: str, params: dict[str, object], cursor: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(50):  # at most 5,000 rows per catch-up
            query = {**params, "limit": _PAGE, **({"after": after} if after else {})}
            envelope = await self._rest.call("GET", path, query, signed=True)
            page = [r for r in envelope.data if isinstance(r, dict)]
            rows += page
            if len(page) < _PAGE or not page[-1].get(cursor):
                break
            after = str(page[-1][cursor])
        return rows

    # --- account ------------------------------------------------------------------------------------

    async def balances(self) -> list[Balance]:
        envelope = await self._rest.call("GET", "/api/v5/account/balance", signed=True)
        found: list[Balance] = []
        for row in envelope.data:
            if isinstance(row, dict):
                found += to_balances(row, self.venue)
        return found

    async def positions(self) -> list[Position]:
        if self.market != "swap":
            return []
        envelope = await self._rest.call("GET", "/api/v5/account/positions", {"instType": "SWAP"}, signed=True)
        found = []
        for row in envelope.data:
            symbol = self.unified(str(row.get("instId"))) if isinstance(row, dict) else None
            if symbol is None:
                continue
            position = to_position(row, self.venue, symbol)
            if position.leverage:
                self.leverage[symbol] = position.leverage
            if position.qty:
                found.append(position)
        return found

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]:
        self._swap_only("set_leverage")
        mgn_mode = "isolated" if self.td_mode(symbol) == "isolated" else "cross"
        envelope = await self._rest.call("POST", "/api/v5/account/set-leverage",
                                         body={"instId": self.native(symbol), "lever": str(leverage),
                                               "mgnMode": mgn_mode}, signed=True, write=True)
        row = envelope.data[0] if envelope.data and isinstance(envelope.data[0], dict) else {}
        self.leverage[symbol] = int(Decimal(str(row.get("lever") or leverage)))
        return {"symbol": symbol, "leverage": self.leverage[symbol], "margin_mode": mgn_mode}

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        """OKX picks the margin mode per order (``tdMode``): remember it for the orders of `symbol`."""
        self._swap_only("set_margin_type")
        self.native(symbol)
        self.td_modes[symbol] = "isolated" if margin_type is MarginType.ISOLATED else "cross"
        return {"symbol": symbol, "margin_type": str(margin_type), "td_mode": self.td_modes[symbol]}

    async def raw_request(self, http_method: str, path: str, params: dict[str, Any]) -> Any:
        """Forward a call to OKX's own v5 API (signed unless public); return its whole envelope."""
        method = http_method.upper()
        if not path.startswith("/api/v5/"):
            raise GatewayError(f"not an OKX v5 path: {path!r}", code=ErrorCode.INVALID_PARAMS)
        public = path.startswith(("/api/v5/public/", "/api/v5/market/"))
        if method == "GET":
            envelope = await self._rest.call(method, path, params, signed=not public)
        else:
            envelope = await self._rest.call(method, path, body=params, signed=not public, write=True)
        return {"code": envelope.code, "msg": envelope.msg, "data": envelope.data}

    # --- helpers ------------------------------------------------------------------------------------

    async def _write(self, op: str, path: str, args: dict[str, Any], inst_id: str) -> Envelope:
        # Over the private WS when it is logged in (shared limits, lower latency); REST otherwise.
        ws = self._ws() if self._settings.orders_over_ws else None
        if ws is not None and ws.is_open and ws.logged_in:
            try:
                await self._rest.budget(path, inst_id).acquire({"REQUESTS": 1})
                reply = await ws.request(op, [args], self._settings.ws_order_timeout_s)
            except VenueUnavailable:
                pass  # not sent: REST below
            else:
                self.ws_orders += 1
                error = reply_error(self.venue, op, reply)
                if error is not None:
                    raise to_error(self.venue, f"ws {op}", str(error.venue_code), error.venue_message or "",
                                   write=True)
                return to_envelope(reply)
        self.rest_orders += 1
        return await self._rest.call("POST", path, body=args, signed=True, write=True, inst_id=inst_id)

    def _single(self, envelope: Envelope, what: str) -> Any:
        items = item_results(envelope)
        if not items:
            if envelope.ok:
                raise VenueRejected(f"{what}: OKX answered no item", venue=self.venue, venue_code=envelope.code)
            raise to_error(self.venue, what, envelope.code, envelope.msg, write=True)
        item = items[0]
        if not item.ok:
            raise to_error(self.venue, what, item.s_code, item.s_msg, write=True)
        return item

    def _items_ok(self, envelope: Envelope, what: str, *, tolerate: frozenset[str]) -> None:
        for item in item_results(envelope):
            if not item.ok and item.s_code not in tolerate:
                if item.s_code in UNKNOWN_OUTCOME:
                    raise to_error(self.venue, what, item.s_code, item.s_msg, write=True)
                log.warning("okx.batch_item_failed", what=what, code=item.s_code, msg=item.s_msg)

    def _convert(self, rows: list[dict[str, Any]], convert: Callable[[dict[str, Any], str], Any]) -> list[Any]:
        found = []
        for row in rows:
            symbol = self.unified(str(row.get("instId")))
            if symbol is None:
                continue
            try:
                value = convert(row, symbol)
            except MalformedRow as exc:
                log.warning("okx.bad_row", error=str(exc)[:200])
                continue
            if value is not None:
                found.append(value)
        return found

    def _swap_only(self, what: str) -> None:
        if self.market != "swap":
            raise GatewayError(f"{what} is for swaps (market swap)", code=ErrorCode.NOT_SUPPORTED,
                               details={"venue": self.venue})

    def native(self, symbol: str) -> str:
        try:
            return self._symbols().native(symbol)
        except KeyError:
            raise LookupFailed(f"unknown symbol {symbol!r} on {self.venue}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"venue": self.venue, "symbol": symbol}) from None

    def unified(self, native: str) -> str | None:
        return self._symbols().unified(native)

    def _now(self) -> int:
        return self._clock.now_ms()

    def _server_now(self) -> int:
        return self._rest.offset.server_now(self._clock.now_ms())



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
