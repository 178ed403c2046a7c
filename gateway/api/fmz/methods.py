"""The FMZ methods, each served through the strategy API's own method table (`MethodCaller`).

So an FMZ key has exactly the permissions and account scope of the strategy it acts as, and every order
goes through the order service like any other. Each handler returns `(data, raw)`: `data` in the seed's
shape, `raw` the gateway's own answer it was built from (for the sim, the normalized objects).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.api.config import Permission
from gateway.api.dispatch import MethodCaller
from gateway.api.fmz.protocol import (
    API_PREFIX,
    balance_rows,
    decimal_param,
    depth_data,
    find_instrument,
    fmz_order_id,
    funding_row,
    int_param,
    interval_for_period,
    order_row,
    parse_order_id,
    position_row,
    record_rows,
    str_param,
    ticker_data,
    trade_rows,
)
from gateway.api.session import Principal
from gateway.api.venue_methods import no_floats
from gateway.core.enums import MarketType, OrderStatus
from gateway.core.errors import (
    AccessError,
    ErrorCode,
    GatewayError,
    LookupFailed,
    RequestError,
    VenueUnavailable,
)
from gateway.core.instruments import Instrument
from gateway.core.ports import RawVenue

__all__ = ["HANDLERS", "FmzCall"]

Reply = tuple[Any, Any]  # (data, raw)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True, slots=True)
class FmzCall:
    """One FMZ request, authenticated and routed to an account."""

    caller: MethodCaller
    principal: Principal
    account: str
    method: str  # as sent (raw calls carry their path)
    params: dict[str, Any]
    http_method: str | None  # the Http-Method header (raw calls)
    remote: str

    async def run(self, method: str, params: dict[str, Any]) -> Any:
        """Run a strategy API method as this key's strategy."""
        return await self.caller.call(self.principal, method, params, self.remote)

    def instruments(self) -> dict[str, Instrument]:
        return self.caller.services.directory.venue(self.account).instruments

    def instrument(self, name: str = "symbol") -> Instrument:
        return find_instrument(self.instruments(), str_param(self.params, name) or "")

    def optional_instrument(self, name: str = "symbol") -> Instrument | None:
        text = str_param(self.params, name, required=False)
        return None if text is None else find_instrument(self.instruments(), text)

    def instrument_of(self, symbol: str) -> Instrument:
        return self.caller.services.directory.instrument(self.account, symbol)


async def _ticker(call: FmzCall) -> Reply:
    instrument = call.instrument()
    query = {"venue": call.account, "symbol": instrument.symbol}
    ticker = await call.run("ticker", query)
    bbo = await call.run("bbo", query)
    return ticker_data(instrument, ticker, bbo), {"ticker": ticker, "bbo": bbo}


async def _depth(call: FmzCall) -> Reply:
    instrument = call.instrument()
    limit = min(int_param(call.params, "limit", 20, minimum=0) or 20, 500)
    depth = await call.run("depth", {"venue": call.account, "symbol": instrument.symbol, "limit": limit})
    return depth_data(depth), depth


async def _trades(call: FmzCall) -> Reply:
    instrument = call.instrument()
    limit = min(int_param(call.params, "limit", 100, minimum=0) or 100, 1000)
    trades = await call.run("trades", {"venue": call.account, "symbol": instrument.symbol, "limit": limit})
    return trade_rows(trades), trades


async def _records(call: FmzCall) -> Reply:
    instrument = call.instrument()
    period = int_param(call.params, "period", 60, minimum=1)
    interval = interval_for_period(period or 60)
    limit = min(int_param(call.params, "limit", 100, minimum=0) or 100, 1000)
    klines = await call.run("klines", {"venue": call.account, "symbol": instrument.symbol, "interval": interval,
                                       "limit": limit})
    return record_rows(klines), klines


async def _balances(call: FmzCall) -> Reply:
    balances = await call.run("account.balances", {"account": call.account})
    return balance_rows(balances), balances


# FMZ trade types: buy / sell open or add; closebuy / closesell (futures) reduce a long / a short.
_TRADE_TYPES = {"buy": ("buy", False), "sell": ("sell", False), "closebuy": ("sell", True),
                "closesell": ("buy", True)}


async def _trade(call: FmzCall) -> Reply:
    instrument = call.instrument()
    kind = (str_param(call.params, "type") or "").lower()
    if kind not in _TRADE_TYPES:
        raise RequestError("params.type: must be buy, sell, closebuy or closesell", code=ErrorCode.INVALID_PARAMS)
    side, reduce_only = _TRADE_TYPES[kind]
    if reduce_only and instrument.type is MarketType.SPOT:
        raise RequestError(f"params.type: {kind} closes a futures position; {instrument.symbol} is spot",
                           code=ErrorCode.INVALID_PARAMS)
    amount = decimal_param(call.params, "amount")
    price = decimal_param(call.params, "price")
    if amount is None or amount <= 0:
        raise RequestError("params.amount: must be > 0", code=ErrorCode.INVALID_PARAMS)
    order: dict[str, Any] = {"account": call.account, "symbol": instrument.symbol, "side": side, "qty": amount}
    if price is not None and price == -1:
        order["type"] = "market"  # FMZ's market order: price -1; amount is in base units here, always
    elif price is not None and price > 0:
        order.update(type="limit", price=price)
    else:
        raise RequestError("params.price: must be > 0 (limit) or -1 (market)", code=ErrorCode.INVALID_PARAMS)
    if reduce_only:
        order["reduce_only"] = True
    placed = await call.run("order.place", order)
    return {"id": fmz_order_id(instrument, placed)}, placed


async def _orders(call: FmzCall) -> Reply:
    instrument = call.optional_instrument()
    query: dict[str, Any] = {"account": call.account}
    if instrument is not None:
        query["symbol"] = instrument.symbol
    orders = await call.run("orders.open", query)
    return [order_row(call.instrument_of(o["symbol"]), o) for o in orders], orders


async def _find_order(call: FmzCall) -> tuple[Instrument, dict[str, Any]]:
    ref = parse_order_id(str_param(call.params, "id") or "")
    symbol = call.optional_instrument()
    query = {"account": call.account}
    query.update({"order_id": ref.order_id} if ref.order_id else {"client_order_id": ref.client_order_id})
    order = await call.run("order.get", query)
    instrument = call.instrument_of(order["symbol"])
    if not ref.matches(instrument) or (symbol is not None and symbol.symbol != instrument.symbol):
        raise LookupFailed(f"order {call.params['id']!r} not found on {call.account}",
                           code=ErrorCode.ORDER_NOT_FOUND)
    return instrument, order


async def _order(call: FmzCall) -> Reply:
    instrument, order = await _find_order(call)
    return order_row(instrument, order), order


async def _history(call: FmzCall) -> Reply:
    instrument = call.optional_instrument()
    since = int_param(call.params, "since", 0, minimum=0)
    limit = min(int_param(call.params, "limit", 0, minimum=0) or 500, 5000)
    query: dict[str, Any] = {"account": call.account, "limit": limit}
    if instrument is not None:
        query["symbol"] = instrument.symbol
    if since:
        query["since"] = since
    orders = [o for o in await call.run("orders.history", query) if OrderStatus(o["status"]).is_terminal]
    return [order_row(call.instrument_of(o["symbol"]), o) for o in orders], orders


async def _cancel(call: FmzCall) -> Reply:
    _, order = await _find_order(call)
    canceled = await call.run("order.cancel", {"account": call.account, "order_id": order["order_id"],
                                               "client_order_id": order["client_order_id"]})
    status = OrderStatus(canceled["status"])
    if status not in (OrderStatus.CANCELED, OrderStatus.PENDING_CANCEL):
        raise GatewayError(f"order {call.params['id']} was not canceled: it is {status}",
                           code=ErrorCode.VENUE_REJECTED)
    return True, canceled


async def _positions(call: FmzCall) -> Reply:
    instrument = call.optional_instrument()
    query: dict[str, Any] = {"account": call.account}
    if instrument is not None:
        query["symbol"] = instrument.symbol
    positions = await call.run("account.positions", query)
    return [position_row(call.instrument_of(p["symbol"]), p) for p in positions], positions


async def _margin_level(call: FmzCall) -> Reply:
    instrument = call.instrument()
    if instrument.type is MarketType.SPOT:
        raise RequestError(f"params.symbol: {instrument.symbol} is spot; leverage is for perpetuals",
                           code=ErrorCode.INVALID_PARAMS)
    level = int_param(call.params, "marginLevel", None, minimum=1)
    if level is None:
        level = int_param(call.params, "margin_level", None, minimum=1)
    if level is None:
        raise RequestError("params.marginLevel: is required", code=ErrorCode.INVALID_PARAMS)
    answer = await call.run("account.leverage", {"account": call.account, "symbol": instrument.symbol,
                                                 "leverage": level})
    return True, answer


async def _fundings(call: FmzCall) -> Reply:
    if not call.principal.has_permission(Permission.READ):
        raise AccessError("fundings needs the read permission")
    instrument = call.optional_instrument()
    if instrument is not None and instrument.type is MarketType.SPOT:
        raise RequestError(f"params.symbol: {instrument.symbol} is spot; funding is for perpetuals",
                           code=ErrorCode.INVALID_PARAMS)
    market = call.caller.services.market
    wanted = [instrument] if instrument is not None else [
        i for i in call.instruments().values() if i.type is MarketType.PERP]
    rows, raw = [], []
    for item in wanted:
        mark = market.mark(call.account, item.symbol)  # the cache's latest mark price event
        if mark is None:
            if instrument is not None:
                raise VenueUnavailable(f"no mark price for {item.symbol} received yet", venue=call.account)
            continue
        public = {name: getattr(mark, name) for name in mark.__dataclass_fields__}
        rows.append(funding_row(item, public))
        raw.append(public)
    return rows, raw


async def _raw(call: FmzCall) -> Reply:
    if not call.principal.has_permission(Permission.RAW):
        raise AccessError("raw venue calls need the raw permission")
    verb = (call.http_method or "").upper()
    if verb not in HTTP_METHODS:
        raise RequestError("a raw call needs the Http-Method header: GET, POST, PUT, DELETE or PATCH",
                           code=ErrorCode.INVALID_REQUEST)
    adapter = call.caller.services.directory.venue(call.account)
    if not isinstance(adapter, RawVenue):
        raise GatewayError(
            f"venue {adapter.name!r} (kind {adapter.kind}) has no raw API: {API_PREFIX}<path> calls are not "
            "supported there", code=ErrorCode.NOT_SUPPORTED)
    try:
        params = no_floats(dict(call.params))  # numbers reach the venue as the decimal text sent
    except ValueError as exc:
        raise RequestError(str(exc), code=ErrorCode.INVALID_PARAMS) from None
    answer = await adapter.raw_request(verb, call.method[len(API_PREFIX):], params)
    return answer, answer


HANDLERS: dict[str, Callable[[FmzCall], Awaitable[Reply]]] = {
    "ticker": _ticker,
    "depth": _depth,
    "trades": _trades,
    "records": _records,
    "accounts": _balances,
    "assets": _balances,
    "trade": _trade,
    "orders": _orders,
    "order": _order,
    "historyorders": _history,
    "cancel": _cancel,
    "positions": _positions,
    "marginlevel": _margin_level,
    "fundings": _fundings,
    API_PREFIX: _raw,
}
