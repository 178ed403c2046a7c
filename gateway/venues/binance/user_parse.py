"""Binance user-data and trading wire structs -> the gateway's user events. Pure free functions.

- Order ids become strings; a futures algo order's id is ``algo-<algoId>`` (`trading.ALGO_PREFIX`).
- A fill's ``trade_id`` is ``<NATIVE>-<trade id>``: Binance trade ids are unique per symbol only, and the
  order manager deduplicates fills by (venue, trade_id).
- Prices of ``"0"`` (market orders, no stop) become None; an average price exists once something filled.
- A spot cancel reports the canceled order's client id in ``C`` / ``origClientOrderId`` (``c`` is the
  cancel request's own id).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from gateway.core.enums import Liquidity, MarginType, OrderStatus
from gateway.core.events import Balance, Fill, OrderUpdate, Position
from gateway.venues.binance.enums import (
    from_side,
    from_spot_type,
    from_tif,
    from_usdm_type,
    to_algo_status,
    to_status,
)
from gateway.venues.binance.trading import ALGO_PREFIX
from gateway.venues.binance.user_schemas import (
    AccountTrade,
    AccountUpdate,
    AlgoOrder,
    AlgoOrderEvent,
    ExecutionReport,
    FuturesBalance,
    FuturesOrderUpdate,
    OutboundAccountPosition,
    PositionRisk,
    RestOrder,
)

__all__ = [
    "AlgoLinks",
    "account_trade_fill",
    "account_update_events",
    "algo_event_update",
    "algo_order_update",
    "execution_report_events",
    "futures_balances",
    "futures_order_events",
    "outbound_balances",
    "position_of",
    "rest_order_update",
    "trade_id",
]

_ZERO = Decimal(0)


def _price(value: str | None) -> Decimal | None:
    if value is None:
        return None
    d = Decimal(value)
    return d if d else None


def trade_id(native: str, binance_trade_id: int | str) -> str:
    return f"{native}-{binance_trade_id}"


def execution_report_events(ev: ExecutionReport, venue: str, symbol: str, recv_ts: int
                            ) -> tuple[OrderUpdate, Fill | None]:
    """A spot ``executionReport`` -> its order update, and its fill when it reports a trade."""
    filled = Decimal(ev.z)
    quote = Decimal(ev.Z)
    client_id = ev.C if ev.x == "CANCELED" and ev.C else ev.c
    reason = ev.r if ev.r not in ("NONE", "") else ("expired" if ev.x == "EXPIRED" else None)
    update = OrderUpdate(
        venue=venue, symbol=symbol, order_id=str(ev.i), client_order_id=client_id, side=from_side(ev.S),
        type=from_spot_type(ev.o), tif=from_tif(ev.f, ev.o), price=_price(ev.p), trigger_price=_price(ev.P),
        qty=Decimal(ev.q), filled_qty=filled, avg_price=(quote / filled) if filled and quote else None,
        status=to_status(ev.X), reduce_only=False, ts=ev.T or ev.E, recv_ts=recv_ts, reason=reason,
    )
    fill = None
    if ev.x == "TRADE" and ev.t >= 0:
        fill = Fill(venue, symbol, str(ev.i), client_id, trade_id(ev.s, ev.t), from_side(ev.S), Decimal(ev.L),
                    Decimal(ev.l), Decimal(ev.n), ev.N or "", Liquidity.MAKER if ev.m else Liquidity.TAKER,
                    ev.T, recv_ts)
    return update, fill


def futures_order_events(ev: FuturesOrderUpdate, venue: str, symbol: str, recv_ts: int
                         ) -> tuple[OrderUpdate, Fill | None]:
    """A futures ``ORDER_TRADE_UPDATE`` -> its order update, and its fill for TRADE / CALCULATED."""
    o = ev.o
    filled = Decimal(o.z)
    kind = o.ot or o.o
    update = OrderUpdate(
        venue=venue, symbol=symbol, order_id=str(o.i), client_order_id=o.c, side=from_side(o.S),
        type=from_usdm_type(kind), tif=from_tif(o.f, kind), price=_price(o.p), trigger_price=_price(o.sp),
        qty=Decimal(o.q), filled_qty=filled, avg_price=_price(o.ap) if filled else None, status=to_status(o.X),
        reduce_only=o.R, ts=ev.T or ev.E, recv_ts=recv_ts,
        reason="amended" if o.x == "AMENDMENT" else ("liquidation" if o.x == "CALCULATED" else None),
    )
    fill = None
    if o.x in ("TRADE", "CALCULATED") and Decimal(o.l):
        fill = Fill(venue, symbol, str(o.i), o.c, trade_id(o.s, o.t), from_side(o.S), Decimal(o.L), Decimal(o.l),
                    Decimal(o.n), o.N or "", Liquidity.MAKER if o.m else Liquidity.TAKER, o.T or ev.T, recv_ts)
    return update, fill


def algo_event_update(o: AlgoOrderEvent, ts: int, venue: str, symbol: str, recv_ts: int) -> OrderUpdate | None:
    """An ``ALGO_UPDATE`` -> the conditional order's update; None once FINISHED (the triggered order's
    own reports carry its end)."""
    status = to_algo_status(o.X)
    if status is None:
        return None
    filled = Decimal(o.aq)
    return OrderUpdate(
        venue=venue, symbol=symbol, order_id=f"{ALGO_PREFIX}{o.aid}", client_order_id=o.caid, side=from_side(o.S),
        type=from_usdm_type(o.o), tif=from_tif(o.f, o.o), price=_price(o.p), trigger_price=_price(o.tp),
        qty=Decimal(o.q), filled_qty=filled, avg_price=_price(o.ap) if filled else None, status=status,
        reduce_only=o.R, ts=ts, recv_ts=recv_ts, reason=o.rm or None,
    )


def algo_order_update(o: AlgoOrder, venue: str, symbol: str, recv_ts: int) -> OrderUpdate:
    """A REST algo order object -> an update (FINISHED without its triggered order's state: FILLED)."""
    status = to_algo_status(o.algoStatus) or OrderStatus.FILLED
    qty = Decimal(o.quantity)
    return OrderUpdate(
        venue=venue, symbol=symbol, order_id=f"{ALGO_PREFIX}{o.algoId}", client_order_id=o.clientAlgoId,
        side=from_side(o.side), type=from_usdm_type(o.orderType), tif=from_tif(o.timeInForce, o.orderType),
        price=_price(o.price), trigger_price=_price(o.triggerPrice), qty=qty,
        filled_qty=qty if status is OrderStatus.FILLED else _ZERO, avg_price=None, status=status,
        reduce_only=o.reduceOnly, ts=o.updateTime or o.createTime, recv_ts=recv_ts,
    )


def rest_order_update(o: RestOrder, venue: str, symbol: str, market: str, recv_ts: int) -> OrderUpdate:
    """A REST order object (place / cancel / query / list answers) -> an update."""
    filled = Decimal(o.executedQty)
    if market == "spot":
        kind, quote = o.type, Decimal(o.cummulativeQuoteQty)
        avg = (quote / filled) if filled and quote else None
        order_type = from_spot_type(kind)
    else:
        kind = o.origType or o.type
        avg = _price(o.avgPrice) if filled else None
        order_type = from_usdm_type(kind)
    return OrderUpdate(
        venue=venue, symbol=symbol, order_id=str(o.orderId), client_order_id=o.origClientOrderId or o.clientOrderId,
        side=from_side(o.side), type=order_type, tif=from_tif(o.timeInForce, kind), price=_price(o.price),
        trigger_price=_price(o.stopPrice), qty=Decimal(o.origQty), filled_qty=filled, avg_price=avg,
        status=to_status(o.status), reduce_only=o.reduceOnly, ts=o.updateTime or o.transactTime or o.time or 0,
        recv_ts=recv_ts,
    )


def account_trade_fill(t: AccountTrade, venue: str, symbol: str, recv_ts: int) -> Fill:
    """A ``myTrades`` / ``userTrades`` row -> a fill (no client order id on these rows)."""
    buyer = t.isBuyer if t.isBuyer is not None else bool(t.buyer)
    maker = t.isMaker if t.isMaker is not None else bool(t.maker)
    return Fill(venue, symbol, str(t.orderId), None, trade_id(t.symbol, t.id), from_side("BUY" if buyer else "SELL"),
                Decimal(t.price), Decimal(t.qty), Decimal(t.commission), t.commissionAsset,
                Liquidity.MAKER if maker else Liquidity.TAKER, t.time, recv_ts)


def outbound_balances(ev: OutboundAccountPosition, venue: str) -> list[Balance]:
    return [Balance(venue, b.a, Decimal(b.f), Decimal(b.l), ev.u or ev.E) for b in ev.B]


def futures_balances(rows: list[FuturesBalance], venue: str) -> list[Balance]:
    """``/fapi/v3/balance`` rows -> balances: free = available, locked = the rest of the wallet."""
    found = []
    for row in rows:
        total, free = Decimal(row.balance), Decimal(row.availableBalance)
        found.append(Balance(venue, row.asset, free, max(_ZERO, total - free), row.updateTime))
    return found


def _margin_type(value: str) -> MarginType:
    return MarginType.ISOLATED if value.lower() == "isolated" else MarginType.CROSS


def position_of(p: PositionRisk, venue: str, symbol: str, leverage: int) -> Position:
    """A positionRisk row -> a position (`leverage` when the row has none: v3)."""
    return Position(venue, symbol, Decimal(p.positionAmt), Decimal(p.entryPrice), Decimal(p.markPrice),
                    Decimal(p.unRealizedProfit), int(p.leverage) or leverage, _margin_type(p.marginType),
                    p.updateTime)


def account_update_events(ev: AccountUpdate, venue: str, symbols: dict[str, str], leverage: dict[str, int],
                          default_leverage: int) -> list[Balance | Position]:
    """A futures ``ACCOUNT_UPDATE`` -> balances (free = cross wallet) and positions of known symbols.

    Args:
        symbols: native -> unified (positions of other symbols are skipped).
        leverage: unified -> leverage last known (the event does not carry it).
        default_leverage: when unknown.

    The mark price is not in the event: it is derived as entry + unrealized PnL / amount.
    """
    found: list[Balance | Position] = []
    for b in ev.B:
        found.append(Balance(venue, b.a, Decimal(b.cw or b.wb), _ZERO, ev.T))
    for p in ev.P:
        symbol = symbols.get(p.s)
        if symbol is None or p.ps not in ("BOTH", ""):
            continue
        qty, entry, upnl = Decimal(p.pa), Decimal(p.ep), Decimal(p.up)
        mark = entry + upnl / qty if qty else entry
        found.append(Position(venue, symbol, qty, entry, mark, upnl, leverage.get(symbol, default_leverage),
                              _margin_type(p.mt), ev.T))
    return found


class AlgoLinks:
    """Which triggered futures order belongs to which algo order (learnt from ALGO_UPDATE ``ai``).

    The order manager knows a conditional order by the client id it gave it (``clientAlgoId``); the
    order Binance creates when it triggers has its own id. Reports about that order are rewritten to
    the algo order's ids, so the manager sees one order from placement to fill.
    """

    def __init__(self, limit: int = 10_000):
        self._links: dict[str, tuple[str, str]] = {}  # actual order id -> (algo order id, client algo id)
        self._limit = limit

    def learn(self, actual_order_id: str | int | None, algo_id: int | str, client_algo_id: str) -> None:
        if actual_order_id in (None, "", 0, "0"):
            return
        self._links[str(actual_order_id)] = (f"{ALGO_PREFIX}{algo_id}", client_algo_id)
        if len(self._links) > self._limit:
            del self._links[next(iter(self._links))]

    def rewrite(self, update: OrderUpdate | Fill) -> OrderUpdate | Fill:
        """Return `update` under its algo order's ids if it is about a triggered order, else unchanged."""
        link = self._links.get(update.order_id or "")
        if link is None:
            return update
        return replace(update, order_id=link[0], client_order_id=link[1])
