"""Binance JSON shapes of the sim's orders, fills and accounts: REST objects and user-stream events. Pure.

REST (fact sheet §2, §4): spot order objects (``cummulativeQuoteQty``, LIMIT_MAKER for post-only), futures
order objects (``avgPrice``, ``cumQuote``, GTX for post-only), futures algo orders (the sim order id is
both ``algoId`` and, once triggered, ``actualOrderId``), myTrades / userTrades rows.

Events (§3.3, §4.1): `UserReports.render` turns one engine call's events into executionReport /
ORDER_TRADE_UPDATE / ALGO_UPDATE / outboundAccountPosition / ACCOUNT_UPDATE payloads, as Binance reports
them: one report per fill (``x`` = TRADE, cumulative quantities as of that fill), one per other change
(NEW, CANCELED, EXPIRED, amended), and nothing for a state already reported.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from gateway.core.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from gateway.venues.sim.records import BalanceEvent, EngineEvent, FillEvent, OrderEvent, PositionEvent

__all__ = ["UserReports", "account_trade", "algo_order", "order_object", "side", "status_of"]

_SPOT_TYPES = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET", OrderType.STOP: "STOP_LOSS",
               OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT", OrderType.TAKE_PROFIT: "TAKE_PROFIT",
               OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT"}
_ALGO_TYPES = {OrderType.STOP: "STOP_MARKET", OrderType.STOP_LIMIT: "STOP",
               OrderType.TAKE_PROFIT: "TAKE_PROFIT_MARKET", OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT"}
_STATUS = {OrderStatus.NEW: "NEW", OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED", OrderStatus.FILLED: "FILLED",
           OrderStatus.CANCELED: "CANCELED", OrderStatus.EXPIRED: "EXPIRED", OrderStatus.REJECTED: "REJECTED"}
_ZERO = Decimal(0)


def _s(value: Decimal | None) -> str:
    return format(value, "f") if value is not None else "0"


def side(value: Side) -> str:
    return "BUY" if value is Side.BUY else "SELL"


def status_of(order: OrderEvent) -> str:
    return _STATUS.get(order.status, "NEW")


def _tif(order: OrderEvent, futures: bool) -> str:
    if order.tif is TimeInForce.POST_ONLY:
        return "GTX" if futures else "GTC"
    return {TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}.get(order.tif, "GTC")


def binance_type(order: OrderEvent, futures: bool) -> str:
    """The Binance type of a (non-algo) order; a triggered futures conditional order is MARKET or LIMIT."""
    if futures:
        return "LIMIT" if order.type.has_limit_price else "MARKET"
    if order.type is OrderType.LIMIT and order.tif is TimeInForce.POST_ONLY:
        return "LIMIT_MAKER"
    return _SPOT_TYPES[order.type]


def order_object(order: OrderEvent, native: str, futures: bool) -> dict[str, Any]:
    """A REST order object (POST RESULT / GET / DELETE / lists)."""
    quote = (order.avg_price or _ZERO) * order.filled_qty
    body: dict[str, Any] = {
        "symbol": native, "orderId": int(order.order_id), "orderListId": -1,
        "clientOrderId": order.client_order_id or f"sim{order.order_id}", "price": _s(order.price),
        "origQty": _s(order.qty), "executedQty": _s(order.filled_qty), "status": status_of(order),
        "timeInForce": _tif(order, futures), "type": binance_type(order, futures), "side": side(order.side),
        "stopPrice": _s(order.trigger_price), "time": order.created_ts, "updateTime": order.ts,
    }
    if futures:
        body.pop("orderListId")
        body.update({"avgPrice": _s(order.avg_price), "cumQuote": _s(quote), "cumQty": _s(order.filled_qty),
                     "reduceOnly": order.reduce_only, "closePosition": False, "positionSide": "BOTH",
                     "workingType": "CONTRACT_PRICE", "priceProtect": False,
                     "origType": _ALGO_TYPES.get(order.type, body["type"]), "priceMatch": "NONE",
                     "selfTradePreventionMode": "NONE", "goodTillDate": 0})
    else:
        body.update({"cummulativeQuoteQty": _s(quote), "isWorking": order.status is OrderStatus.NEW,
                     "origQuoteOrderQty": "0", "workingTime": order.created_ts, "selfTradePreventionMode": "NONE",
                     "transactTime": order.ts})
    return body


def algo_status(order: OrderEvent) -> str:
    if order.triggered:
        return "FINISHED" if order.status.is_terminal else "TRIGGERED"
    return {OrderStatus.CANCELED: "CANCELED", OrderStatus.EXPIRED: "EXPIRED",
            OrderStatus.REJECTED: "REJECTED"}.get(order.status, "NEW")


def algo_order(order: OrderEvent, native: str) -> dict[str, Any]:
    """A futures algo order object (field names as `venues.binance.user_schemas.AlgoOrder`)."""
    return {
        "algoId": int(order.order_id), "clientAlgoId": order.client_order_id or f"sim{order.order_id}",
        "algoType": "CONDITIONAL", "orderType": _ALGO_TYPES[order.type], "symbol": native, "side": side(order.side),
        "positionSide": "BOTH", "timeInForce": _tif(order, True), "quantity": _s(order.qty),
        "algoStatus": algo_status(order), "triggerPrice": _s(order.trigger_price), "price": _s(order.price),
        "workingType": "CONTRACT_PRICE", "reduceOnly": order.reduce_only, "closePosition": False,
        "actualOrderId": order.order_id if order.triggered else "", "createTime": order.created_ts,
        "updateTime": order.ts,
    }


def account_trade(fill: FillEvent, native: str, futures: bool) -> dict[str, Any]:
    """A myTrades (spot) / userTrades (futures) row."""
    buyer, maker = fill.side is Side.BUY, fill.liquidity is Liquidity.MAKER
    row: dict[str, Any] = {"symbol": native, "id": int(fill.trade_id), "orderId": int(fill.order_id),
                           "price": _s(fill.price), "qty": _s(fill.qty), "quoteQty": _s(fill.price * fill.qty),
                           "commission": _s(fill.fee), "commissionAsset": fill.fee_asset, "time": fill.ts}
    if futures:
        row.update({"buyer": buyer, "maker": maker, "side": side(fill.side), "positionSide": "BOTH",
                    "realizedPnl": _s(fill.realized_pnl), "marginAsset": fill.fee_asset})
    else:
        row.update({"orderListId": -1, "isBuyer": buyer, "isMaker": maker, "isBestMatch": True})
    return row


class UserReports:
    """Renders engine events as Binance user-stream payloads (see the module docstring).

    Args:
        futures_of: True if a (unified) symbol trades on USD-M futures.
        native_of: the Binance name of a (unified) symbol.
    """

    def __init__(self, futures_of: Callable[[str], bool], native_of: Callable[[str], str], limit: int = 100_000):
        self._futures = futures_of
        self._native = native_of
        self._last: dict[str, tuple[object, ...]] = {}  # order id -> last state reported
        self._triggered: set[str] = set()
        self._limit = limit

    def render(self, events: list[EngineEvent], account: str, now_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """Return (market, payload) for what `events` changed of `account` (market: spot | usdm)."""
        final: dict[str, OrderEvent] = {}
        fills: dict[str, list[FillEvent]] = {}
        for e in events:
            if type(e) is OrderEvent and e.account == account:
                final[e.order_id] = e
            elif type(e) is FillEvent and e.account == account:
                fills.setdefault(e.order_id, []).append(e)
        cum: dict[str, list[Decimal]] = {}
        for oid, batch in fills.items():
            o = final.get(oid)
            if o is None:  # the engine reports every order it fills; a fill without one is skipped below
                continue
            cum[oid] = [o.filled_qty - sum(f.qty for f in batch),
                        (o.avg_price or _ZERO) * o.filled_qty - sum(f.price * f.qty for f in batch)]
        out: list[tuple[str, dict[str, Any]]] = []
        balances: dict[str, BalanceEvent] = {}
        positions: list[PositionEvent] = []
        markets: set[str] = set()
        for e in events:
            kind = type(e)
            if kind is FillEvent and e.account == account and e.order_id in cum:  # type: ignore[union-attr]
                o = final[e.order_id]  # type: ignore[union-attr]
                c = cum[o.order_id]
                c[0] += e.qty  # type: ignore[union-attr]
                c[1] += e.price * e.qty  # type: ignore[union-attr]
                status = OrderStatus.FILLED if c[0] >= o.qty else OrderStatus.PARTIALLY_FILLED
                markets.add(self._market(o.symbol))
                out += self._order(o, "TRADE", status, c[0], c[1], e, now_ms)  # type: ignore[arg-type]
                self._remember(o.order_id, (status, c[0], o.qty, o.price))
            elif kind is OrderEvent and e.account == account:  # type: ignore[union-attr]
                o = e  # type: ignore[assignment]
                state = (o.status, o.filled_qty, o.qty, o.price)
                last = self._last.get(o.order_id)
                if last == state or (o.status in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
                                     and o.order_id in fills):
                    continue
                if o.reason == "amended" and last is not None:
                    x = "AMENDMENT" if self._futures(o.symbol) else "REPLACED"
                else:
                    x = {OrderStatus.CANCELED: "CANCELED", OrderStatus.EXPIRED: "EXPIRED",
                         OrderStatus.REJECTED: "REJECTED"}.get(o.status, "NEW")
                markets.add(self._market(o.symbol))
                out += self._order(o, x, o.status, o.filled_qty, (o.avg_price or _ZERO) * o.filled_qty, None, now_ms)
                self._remember(o.order_id, state)
            elif kind is BalanceEvent and e.account == account:  # type: ignore[union-attr]
                balances[e.asset] = e  # type: ignore[union-attr,assignment]
            elif kind is PositionEvent and e.account == account:  # type: ignore[union-attr]
                positions.append(e)  # type: ignore[arg-type]
                markets.add("usdm")
        if not markets and not balances:  # a mark-price move alone: Binance pushes no ACCOUNT_UPDATE
            positions = []
        if balances or positions:
            out += self._account(list(balances.values()), positions, markets or {"spot", "usdm"}, now_ms)
        return out

    def _market(self, symbol: str) -> str:
        return "usdm" if self._futures(symbol) else "spot"

    def _remember(self, order_id: str, state: tuple[object, ...]) -> None:
        self._last[order_id] = state
        if len(self._last) > self._limit:
            del self._last[next(iter(self._last))]

    def _order(self, o: OrderEvent, x: str, status: OrderStatus, filled: Decimal, quote: Decimal,
               fill: FillEvent | None, now: int) -> list[tuple[str, dict[str, Any]]]:
        native = self._native(o.symbol)
        client_id = o.client_order_id or f"sim{o.order_id}"
        st = _STATUS.get(status, "NEW")
        if not self._futures(o.symbol):
            return [("spot", {
                "e": "executionReport", "E": now, "s": native, "c": client_id, "S": side(o.side),
                "o": binance_type(o, False), "f": _tif(o, False), "q": _s(o.qty), "p": _s(o.price),
                "P": _s(o.trigger_price), "F": "0", "g": -1, "C": client_id if x == "CANCELED" else "", "x": x,
                "X": st, "r": "NONE", "i": int(o.order_id), "l": _s(fill.qty if fill else _ZERO), "z": _s(filled),
                "L": _s(fill.price if fill else _ZERO), "n": _s(fill.fee if fill else _ZERO),
                "N": fill.fee_asset if fill else None, "T": fill.ts if fill else o.ts,
                "t": int(fill.trade_id) if fill else -1, "v": -1, "I": 0, "w": status is OrderStatus.NEW,
                "m": bool(fill and fill.liquidity is Liquidity.MAKER), "M": False, "O": o.created_ts,
                "Z": _s(quote), "Y": _s(fill.price * fill.qty if fill else _ZERO), "Q": "0", "W": o.created_ts,
                "V": "NONE"})]
        out: list[tuple[str, dict[str, Any]]] = []
        algo = o.type.is_conditional
        if algo and (not o.triggered or o.order_id not in self._triggered):
            if o.triggered:
                self._triggered.add(o.order_id)
            out.append(("usdm", self._algo_update(o, native, now, "TRIGGERED" if o.triggered else algo_status(o))))
            if not o.triggered:
                return out
        avg = quote / filled if filled else _ZERO
        out.append(("usdm", {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
            "s": native, "c": client_id, "S": side(o.side), "o": binance_type(o, True), "f": _tif(o, True),
            "q": _s(o.qty), "p": _s(o.price), "ap": _s(avg), "sp": _s(o.trigger_price), "x": x, "X": st,
            "i": int(o.order_id), "l": _s(fill.qty if fill else _ZERO), "z": _s(filled),
            "L": _s(fill.price if fill else _ZERO), "N": fill.fee_asset if fill else "USDT",
            "n": _s(fill.fee if fill else _ZERO), "T": fill.ts if fill else o.ts,
            "t": int(fill.trade_id) if fill else 0, "b": "0", "a": "0",
            "m": bool(fill and fill.liquidity is Liquidity.MAKER), "R": o.reduce_only, "wt": "CONTRACT_PRICE",
            "ot": _ALGO_TYPES.get(o.type, binance_type(o, True)), "ps": "BOTH", "cp": False,
            "rp": _s(fill.realized_pnl if fill else _ZERO), "pP": False, "si": 0, "ss": 0, "V": "NONE",
            "pm": "NONE", "gtd": 0}}))
        if algo and status.is_terminal:
            out.append(("usdm", self._algo_update(o, native, now, "FINISHED")))
            self._triggered.discard(o.order_id)
        return out

    @staticmethod
    def _algo_update(o: OrderEvent, native: str, now: int, status: str) -> dict[str, Any]:
        return {"e": "ALGO_UPDATE", "E": now, "T": now, "o": {
            "caid": o.client_order_id or f"sim{o.order_id}", "aid": int(o.order_id), "at": "CONDITIONAL",
            "o": _ALGO_TYPES[o.type], "s": native, "S": side(o.side), "ps": "BOTH", "f": _tif(o, True),
            "q": _s(o.qty), "X": status, "ai": o.order_id if o.triggered else "", "ap": _s(o.avg_price),
            "aq": _s(o.filled_qty), "act": "0", "tp": _s(o.trigger_price), "p": _s(o.price), "V": "NONE",
            "wt": "CONTRACT_PRICE", "pm": "NONE", "cp": False, "pP": False, "R": o.reduce_only, "tt": 0, "gtd": 0,
            "rm": ""}}

    def _account(self, balances: list[BalanceEvent], positions: list[PositionEvent], markets: set[str],
                 now: int) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        if "spot" in markets and balances:
            out.append(("spot", {"e": "outboundAccountPosition", "E": now, "u": now,
                                 "B": [{"a": b.asset, "f": _s(b.free), "l": _s(b.locked)} for b in balances]}))
        if "usdm" in markets:
            out.append(("usdm", {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
                "m": "ORDER",
                "B": [{"a": b.asset, "wb": _s(b.free + b.locked), "cw": _s(b.free + b.locked), "bc": "0"}
                      for b in balances],
                "P": [{"s": self._native(p.symbol), "pa": _s(p.qty), "ep": _s(p.entry_price), "bep": _s(p.entry_price),
                       "cr": _s(p.realized_pnl), "up": _s(p.unrealized_pnl), "mt": str(p.margin_type), "iw": "0", "ps": "BOTH"} for p in positions]}}))
        return out
