"""The Binance dialect's trading operations on the sim engine (fact sheet §2 spot, §4 futures). 

Each operation takes the request's parameters (already authenticated: `trade_routes` checks REST
signatures, `userhub` the WebSocket API ones) and returns the answer's JSON, or raises `ApiError` with
Binance's HTTP status, code and message. The funded user is the engine account ``BinanceDialect.USER``;
spot and futures share its wallet (the sim has one ledger).

Futures conditional orders are algo orders (§0.3): ``/fapi/v1/order`` refuses them with -4120, and
``/fapi/v1/algoOrder`` places them. The sim order id is the ``algoId``; once triggered, the same id is
the triggered order's ``orderId`` (``actualOrderId``), which the order endpoints then know.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.simserver.binance.orders_render import account_trade, algo_order, order_object
from gateway.simserver.binance.rest import ApiError
from gateway.venues.sim.records import OrderEvent, OrderRefused

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["Ctx", "Params", "decimal_param", "int_param", "mandatory"]

Params = dict[str, str]
_SPOT_TYPES = {"LIMIT": OrderType.LIMIT, "LIMIT_MAKER": OrderType.LIMIT, "MARKET": OrderType.MARKET,
               "STOP_LOSS": OrderType.STOP, "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT,
               "TAKE_PROFIT": OrderType.TAKE_PROFIT, "TAKE_PROFIT_LIMIT": OrderType.TAKE_PROFIT_LIMIT}
_ALGO_TYPES = {"STOP_MARKET": OrderType.STOP, "STOP": OrderType.STOP_LIMIT,
               "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT, "TAKE_PROFIT": OrderType.TAKE_PROFIT_LIMIT}
_TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK, "GTX": TimeInForce.POST_ONLY}
_CONDITIONAL_ON_ORDER = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")


def mandatory(p: Params, name: str) -> str:
    value = p.get(name)
    if not value:
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def decimal_param(p: Params, name: str, required: bool = True) -> Decimal | None:
    value = mandatory(p, name) if required else p.get(name)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def int_param(p: Params, name: str, default: int | None = None) -> int | None:
    value = p.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def _refused(exc: OrderRefused, futures: bool) -> ApiError:
    # The engine's refusal -> Binance's code and message (§2, §4 error lists).
    reason = exc.reason
    if reason == "insufficient_balance":
        return ApiError(400, -2019, "Margin is insufficient.") if futures else \
            ApiError(400, -2010, "Account has insufficient balance for requested action.")
    if reason == "post_only_would_take":
        return ApiError(400, -5022, "Due to the order could not be executed as maker, the Post Only order will be "
                                    "rejected.") if futures else ApiError(400, -2010, "Order would immediately match and take.")
    if reason == "duplicate_client_order_id":
        return ApiError(400, -4116, "ClientOrderId is duplicated.") if futures else \
            ApiError(400, -2010, "Duplicate order sent.")
    if reason == "qty_off_step":
        return ApiError(400, -1013, "Filter failure: LOT_SIZE")
    if reason == "price_off_tick":
        return ApiError(400, -1013, "Filter failure: PRICE_FILTER")
    if reason == "reduce_only_rejected":
        return ApiError(400, -2022, "ReduceOnly Order is rejected.")
    if reason in ("order_not_found", "order_not_open"):
        return ApiError(400, -2011, "Unknown order sent.")
    return ApiError(400, -1013, exc.message)


class Ctx:
    """One operation's view: the dialect, the market, the symbol's instrument helpers."""

    def __init__(self, d: BinanceDialect, market: str):
        self.d, self.market, self.futures = d, market, market == "usdm"

    def symbol(self, p: Params, required: bool = True) -> str | None:
        native = mandatory(p, "symbol") if required else p.get("symbol")
        return self.d.symbol_of(self.market, native) if native else None

    def native(self, symbol: str) -> str:
        return self.d.native_of(symbol)

    def find(self, p: Params, symbol: str, *, algo: bool, missing: tuple[int, str]) -> OrderEvent:
        order_id = p.get("algoId" if algo else "orderId")
        client_id = p.get("clientAlgoId" if algo else "origClientOrderId")
        if not order_id and not client_id:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        order = self.d.engine.order(self.d.USER, order_id or None, None if order_id else client_id)
        if order is None or order.symbol != symbol or not self.visible(order, algo, by_client_id=not order_id):
            raise ApiError(400, *missing)
        return order

    def visible(self, order: OrderEvent, algo: bool, by_client_id: bool = False) -> bool:
        # Futures: untriggered conditional orders live on the algo endpoints only; a triggered one is also
        # an order (found by its id, not by the client algo id).
        if not self.futures or not order.type.is_conditional:
            return not algo
        return algo or (order.triggered and not by_client_id)

    def answer(self, order_id: str, algo: bool = False) -> dict[str, Any]:
        order = self.d.engine.order(self.d.USER, order_id)
        assert order is not None
        return algo_order(order, self.native(order.symbol)) if algo else \
            order_object(order, self.native(order.symbol), self.futures)

    def run(self, call: Callable[[int], list[Any]]) -> None:
        now = self.d.now_ms()
        try:
            events = call(now)
        except OrderRefused as exc:
            raise _refused(exc, self.futures) from None
        self.d.after_engine_call(events, now)


async def place(d: BinanceDialect, market: str, p: Params, *, algo: bool = False) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    assert symbol is not None
    kind = mandatory(p, "type")
    side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(mandatory(p, "side"))
    if side is None:
        raise ApiError(400, -1100, "Illegal characters found in parameter 'side'.")
    tif = _TIFS.get(p.get("timeInForce", "GTC"))
    if tif is None or (tif is TimeInForce.POST_ONLY and not c.futures):
        raise ApiError(400, -1100, "Illegal characters found in parameter 'timeInForce'.")
    if algo:
        if p.get("algoType", "CONDITIONAL") != "CONDITIONAL" or kind not in _ALGO_TYPES:
            raise ApiError(400, -1116, "Invalid orderType.")
        otype = _ALGO_TYPES[kind]
        trigger, client_id = decimal_param(p, "triggerPrice"), p.get("clientAlgoId")
    elif c.futures:
        if kind in _CONDITIONAL_ON_ORDER:
            raise ApiError(400, -4120, "Order type not supported for this endpoint. Please use the Algo Order API "
                                       "endpoints instead.")
        if kind not in ("LIMIT", "MARKET"):
            raise ApiError(400, -1116, "Invalid orderType.")
        otype, trigger, client_id = OrderType(kind.lower()), None, p.get("newClientOrderId")
    else:
        if kind not in _SPOT_TYPES:
            raise ApiError(400, -1116, "Invalid orderType.")
        otype, client_id = _SPOT_TYPES[kind], p.get("newClientOrderId")
        trigger = decimal_param(p, "stopPrice") if otype.is_conditional else None
        if kind == "LIMIT_MAKER":
            tif = TimeInForce.POST_ONLY
    if otype.has_limit_price and kind != "LIMIT_MAKER" and not c.futures and "timeInForce" not in p:
        mandatory(p, "timeInForce")
    qty = decimal_param(p, "quantity")
    price = decimal_param(p, "price") if otype.has_limit_price else None
    reduce_only = p.get("reduceOnly", "false").lower() == "true"
    if reduce_only and not c.futures:
        raise ApiError(400, -1104, "Not all sent parameters were read; read 'reduceOnly'.")
    assert qty is not None
    c.run(lambda now: d.engine.place(d.USER, symbol, side, otype, qty, now, price=price, trigger_price=trigger,
                                     tif=tif, reduce_only=reduce_only, client_order_id=client_id))
    order_id = d.engine.last_order_id
    await d.ack_faults()
    return c.answer(order_id, algo=algo)


async def place_algo(d: BinanceDialect, market: str, p: Params) -> Any:
    return await place(d, market, p, algo=True)


async def cancel(d: BinanceDialect, market: str, p: Params, *, algo: bool = False) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    assert symbol is not None
    order = c.find(p, symbol, algo=algo, missing=(-2011, "Unknown order sent."))
    if order.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
        raise ApiError(400, -2011, "Unknown order sent.")
    c.run(lambda now: d.engine.cancel(d.USER, now, order_id=order.order_id))
    if algo:
        return {"algoId": int(order.order_id), "clientAlgoId": order.client_order_id, "code": "200", "msg": "success"}
    body = c.answer(order.order_id)
    if not c.futures:
        body["origClientOrderId"] = body["clientOrderId"]
        body["clientOrderId"] = p.get("newClientOrderId") or f"cancel{order.order_id}"
    return body


async def cancel_batch(d: BinanceDialect, market: str, p: Params) -> Any:
    """``DELETE /fapi/v1/batchOrders``: ``orderIdList`` or ``origClientOrderIdList`` (JSON arrays, at most
    10); answers one entry per id, in order: the canceled order, or ``{"code", "msg"}`` for that id."""
    c = Ctx(d, market)
    symbol = c.symbol(p)
    assert symbol is not None
    by_id = p.get("orderIdList")
    raw = by_id if by_id is not None else p.get("origClientOrderIdList")
    if not raw:
        raise ApiError(400, -1102, "Param 'origClientOrderIdList' or 'orderIdList' must be sent, but both were empty/null!")
    try:
        refs = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, -1100, "Illegal characters found in parameter 'orderIdList'.") from None
    if not isinstance(refs, list) or not refs or len(refs) > 10:
        raise ApiError(400, -4003 if isinstance(refs, list) and len(refs) > 10 else -1100,
                       "Order list must be 1 to 10 entries.")
    answers: list[Any] = []
    for ref in refs:
        one = {"symbol": p["symbol"], ("orderId" if by_id is not None else "origClientOrderId"): str(ref)}
        try:
            answers.append(await cancel(d, market, one))
        except ApiError as exc:
            answers.append({"code": exc.code, "msg": exc.msg})
    return answers


async def cancel_algo(d: BinanceDialect, market: str, p: Params) -> Any:
    return await cancel(d, market, p, algo=True)


async def query(d: BinanceDialect, market: str, p: Params, *, algo: bool = False) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    assert symbol is not None
    order = c.find(p, symbol, algo=algo, missing=(-2013, "Order does not exist."))
    return c.answer(order.order_id, algo=algo)


async def query_algo(d: BinanceDialect, market: str, p: Params) -> Any:
    return await query(d, market, p, algo=True)


async def amend(d: BinanceDialect, market: str, p: Params) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    assert symbol is not None
    order = c.find(p, symbol, algo=False, missing=(-2013, "Order does not exist."))
    qty, price = decimal_param(p, "quantity"), decimal_param(p, "price")
    if order.type is not OrderType.LIMIT:
        raise ApiError(400, -4028, "Only LIMIT orders can be modified.")
    if order.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
        raise ApiError(400, -2013, "Order does not exist.")
    c.run(lambda now: d.engine.amend(d.USER, now, order_id=order.order_id, qty=qty, price=price))
    return c.answer(order.order_id)


def _orders(c: Ctx, symbol: str | None, *, algo: bool, open_only: bool) -> list[OrderEvent]:
    d = c.d
    found = d.engine.open_orders(d.USER, symbol) if open_only else d.engine.orders_since(d.USER, 0)
    return [o for o in found if (symbol is None or o.symbol == symbol) and d.market_of_symbol(o.symbol) == c.market
            and c.visible(o, algo)]


async def open_orders(d: BinanceDialect, market: str, p: Params, *, algo: bool = False) -> Any:
    c = Ctx(d, market)
    found = _orders(c, c.symbol(p, required=False), algo=algo, open_only=True)
    return [c.answer(o.order_id, algo=algo) for o in sorted(found, key=lambda o: o.created_ts)]


async def open_algo_orders(d: BinanceDialect, market: str, p: Params) -> Any:
    return await open_orders(d, market, p, algo=True)


async def cancel_all(d: BinanceDialect, market: str, p: Params, *, algo: bool = False) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    found = _orders(c, symbol, algo=algo, open_only=True)
    if not found and not c.futures:
        raise ApiError(400, -2011, "Unknown order sent.")
    answers = []
    for order in found:
        c.run(lambda now, oid=order.order_id: d.engine.cancel(d.USER, now, order_id=oid))
        answers.append(c.answer(order.order_id, algo=algo))
    if c.futures:
        return {"code": 200, "msg": "The operation of cancel all open order is done."}
    for body in answers:
        body["origClientOrderId"] = body["clientOrderId"]
    return answers


async def cancel_all_algo(d: BinanceDialect, market: str, p: Params) -> Any:
    return await cancel_all(d, market, p, algo=True)


def _window(p: Params, limit_max: int = 1000) -> tuple[int, int, int]:
    start = int_param(p, "startTime", 0) or 0
    end = int_param(p, "endTime", 2**62) or 2**62
    if end < start:
        raise ApiError(400, -1127, "Lookup interval is too big.")
    return start, end, max(1, min(int_param(p, "limit", 500) or 500, limit_max))


async def all_orders(d: BinanceDialect, market: str, p: Params, *, algo: bool = False) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    start, end, limit = _window(p)
    found = [o for o in _orders(c, symbol, algo=algo, open_only=False) if start <= o.created_ts <= end]
    found.sort(key=lambda o: (o.created_ts, int(o.order_id)))
    return [c.answer(o.order_id, algo=algo) for o in found[:limit]]


async def all_algo_orders(d: BinanceDialect, market: str, p: Params) -> Any:
    return await all_orders(d, market, p, algo=True)


async def account_trades(d: BinanceDialect, market: str, p: Params) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    start, end, limit = _window(p)
    order_id = p.get("orderId")
    fills = [f for f in d.engine.fills_since(d.USER, start) if f.symbol == symbol and f.ts <= end
             and (order_id is None or f.order_id == order_id)]
    return [account_trade(f, c.native(f.symbol), c.futures) for f in fills[:limit]]
