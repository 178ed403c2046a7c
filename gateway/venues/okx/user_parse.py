"""OKX account data (REST rows and private WS pushes share field names) -> normalized user events. Pure.

Fact sheet §5 (order, fills, algo, balance, positions) and §6 (``orders`` push = the order row plus the
fields of the last fill: ``fillPx``, ``fillSz``, ``tradeId``, ``fillFee``, ``fillFeeCcy``, ``execType``).

Conditional orders are OKX algo orders. The gateway knows one by its client id (``algoClOrdId``) and by
the order id ``algo-<algoId>``; the order OKX creates when it triggers carries ``algoId`` /
``algoClOrdId``, so its reports (state, fills) are given the algo order's ids: the order manager sees
one order from placement to fill. OKX's fee sign is "negative = charged"; the gateway's fee is a cost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.enums import Liquidity, MarginType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import Balance, Fill, OrderUpdate, Position
from gateway.venues.okx.clientids import from_okx
from gateway.venues.okx.parse import MalformedRow, dec, ms, opt_dec

__all__ = [
    "ALGO_PREFIX",
    "algo_id_of",
    "algo_update",
    "to_balances",
    "to_fill_row",
    "to_order_events",
    "to_order_update",
    "to_position",
]

ALGO_PREFIX = "algo-"
_ZERO = Decimal(0)
_STATUS = {"live": OrderStatus.NEW, "partially_filled": OrderStatus.PARTIALLY_FILLED, "filled": OrderStatus.FILLED,
           "canceled": OrderStatus.CANCELED, "mmp_canceled": OrderStatus.CANCELED}
_TYPE = {"market": (OrderType.MARKET, TimeInForce.GTC), "limit": (OrderType.LIMIT, TimeInForce.GTC),
         "post_only": (OrderType.LIMIT, TimeInForce.POST_ONLY), "ioc": (OrderType.LIMIT, TimeInForce.IOC),
         "fok": (OrderType.LIMIT, TimeInForce.FOK), "optimal_limit_ioc": (OrderType.MARKET, TimeInForce.IOC)}
# algo state -> status; "effective" (triggered) has none: the triggered order's reports carry the rest.
_ALGO_STATUS = {"live": OrderStatus.NEW, "pause": OrderStatus.NEW, "partially_effective": OrderStatus.NEW,
                "canceled": OrderStatus.CANCELED, "order_failed": OrderStatus.REJECTED,
                "partially_failed": OrderStatus.REJECTED}


def algo_id_of(order_id: str | None) -> str | None:
    """Return the algoId of a gateway order id naming an algo order (``algo-<algoId>``), else None."""
    if order_id is not None and order_id.startswith(ALGO_PREFIX):
        return order_id[len(ALGO_PREFIX):]
    return None


def _side(row: dict[str, Any]) -> Side:
    side = row.get("side")
    if side == "buy":
        return Side.BUY
    if side == "sell":
        return Side.SELL
    raise MalformedRow(f"side {side!r}")


def _ids(row: dict[str, Any]) -> tuple[str | None, str | None]:
    # A triggered order reports under its algo order's ids.
    algo_id = row.get("algoId")
    if algo_id:
        return f"{ALGO_PREFIX}{algo_id}", from_okx(row.get("algoClOrdId")) or from_okx(row.get("clOrdId"))
    return (str(row["ordId"]) if row.get("ordId") else None), from_okx(row.get("clOrdId"))


def to_order_update(row: dict[str, Any], venue: str, symbol: str, recv_ts: int) -> OrderUpdate:
    """An order row (``/trade/order``, ``orders-pending``, ``orders-history`` or an ``orders`` push) -> update."""
    state = row.get("state")
    status = _STATUS.get(str(state))
    if status is None:
        raise MalformedRow(f"order state {state!r}")
    kind = _TYPE.get(str(row.get("ordType")), (OrderType.LIMIT, TimeInForce.GTC))
    filled = opt_dec(row, "accFillSz") or _ZERO
    order_id, client_id = _ids(row)
    reason = None
    if status is OrderStatus.CANCELED and row.get("cancelSource"):
        reason = f"cancelSource {row['cancelSource']}"
    if str(row.get("amendResult")) == "0":
        reason = "amended"
    algo = order_id is not None and order_id.startswith(ALGO_PREFIX)
    return OrderUpdate(
        venue=venue, symbol=symbol, order_id=order_id, client_order_id=client_id, side=_side(row),
        type=_algo_type(row) if algo else kind[0], tif=kind[1],
        price=None if kind[0] is OrderType.MARKET and not algo else opt_dec(row, "px"),
        trigger_price=None, qty=dec(row, "sz"), filled_qty=filled,
        avg_price=opt_dec(row, "avgPx") if filled else None, status=status,
        reduce_only=str(row.get("reduceOnly")).lower() == "true",
        ts=ms(row, "uTime", default=0) or ms(row, "cTime", default=recv_ts), recv_ts=recv_ts, reason=reason)


def _algo_type(row: dict[str, Any]) -> OrderType:
    # The triggered order of an algo: keep the conditional type the manager placed (market or limit leg).
    limit = row.get("ordType") not in ("market", "optimal_limit_ioc")
    tp = bool(row.get("tpTriggerPx")) and not row.get("slTriggerPx")
    if tp:
        return OrderType.TAKE_PROFIT_LIMIT if limit else OrderType.TAKE_PROFIT
    return OrderType.STOP_LIMIT if limit else OrderType.STOP


def to_order_events(row: dict[str, Any], venue: str, symbol: str, recv_ts: int) -> tuple[OrderUpdate, Fill | None]:
    """An ``orders`` push row -> its update, and its fill when the push reports one (``fillSz`` > 0)."""
    update = to_order_update(row, venue, symbol, recv_ts)
    fill_qty = opt_dec(row, "fillSz")
    fill = None
    if fill_qty and row.get("tradeId"):
        fee = opt_dec(row, "fillFee") or _ZERO
        fill = Fill(venue, symbol, update.order_id, update.client_order_id, f"{row.get('instId')}:{row['tradeId']}",
                    update.side, dec(row, "fillPx"), fill_qty, -fee, str(row.get("fillFeeCcy") or ""),
                    Liquidity.MAKER if row.get("execType") == "M" else Liquidity.TAKER,
                    ms(row, "fillTime", default=update.ts), recv_ts)
    return update, fill


def to_fill_row(row: dict[str, Any], venue: str, symbol: str, recv_ts: int) -> Fill:
    """A ``/trade/fills`` row -> a fill."""
    order_id, client_id = _ids(row)
    fee = opt_dec(row, "fee") or _ZERO
    return Fill(venue, symbol, order_id, client_id, f"{row.get('instId')}:{row.get('tradeId')}", _side(row),
                dec(row, "fillPx"), dec(row, "fillSz"), -fee, str(row.get("feeCcy") or ""),
                Liquidity.MAKER if row.get("execType") == "M" else Liquidity.TAKER,
                ms(row, "ts", default=0) or ms(row, "fillTime", default=recv_ts), recv_ts)


def algo_update(row: dict[str, Any], venue: str, symbol: str, recv_ts: int) -> OrderUpdate | None:
    """An algo order row (REST or ``orders-algo`` push) -> the conditional order's update.

    Returns None once it has triggered (``effective``): the triggered order's own reports carry the rest.
    """
    status = _ALGO_STATUS.get(str(row.get("state")))
    if status is None:
        if row.get("state") == "effective":
            return None
        raise MalformedRow(f"algo state {row.get('state')!r}")
    sl = opt_dec(row, "slTriggerPx")
    tp = opt_dec(row, "tpTriggerPx")
    trigger = opt_dec(row, "triggerPx")
    if sl is not None:
        kind, trigger_px, order_px = "sl", sl, opt_dec(row, "slOrdPx")
    elif tp is not None:
        kind, trigger_px, order_px = "tp", tp, opt_dec(row, "tpOrdPx")
    else:
        kind, trigger_px, order_px = "sl", trigger, opt_dec(row, "orderPx")
    market = order_px is None or order_px == Decimal(-1)
    order_type = {("sl", True): OrderType.STOP, ("sl", False): OrderType.STOP_LIMIT,
                  ("tp", True): OrderType.TAKE_PROFIT, ("tp", False): OrderType.TAKE_PROFIT_LIMIT}[(kind, market)]
    return OrderUpdate(
        venue=venue, symbol=symbol, order_id=f"{ALGO_PREFIX}{row.get('algoId')}",
        client_order_id=from_okx(row.get("algoClOrdId")), side=_side(row), type=order_type, tif=TimeInForce.GTC,
        price=None if market else order_px, trigger_price=trigger_px, qty=dec(row, "sz"), filled_qty=_ZERO,
        avg_price=None, status=status, reduce_only=str(row.get("reduceOnly")).lower() == "true",
        ts=ms(row, "uTime", default=0) or ms(row, "cTime", default=recv_ts), recv_ts=recv_ts,
        reason=str(row.get("failCode") or "") or None)


def to_balances(row: dict[str, Any], venue: str) -> list[Balance]:
    """A ``/account/balance`` row or ``account`` push -> one balance per ``details`` entry (free = availBal)."""
    found = []
    for detail in row.get("details") or []:
        equity = opt_dec(detail, "cashBal") or opt_dec(detail, "eq") or _ZERO
        free = opt_dec(detail, "availBal")
        if free is None:
            free = opt_dec(detail, "availEq") or equity
        locked = opt_dec(detail, "frozenBal")
        if locked is None:
            locked = max(_ZERO, equity - free)
        found.append(Balance(venue, str(detail.get("ccy")), free, locked,
                             ms(detail, "uTime", default=0) or ms(row, "uTime", default=0)))
    return found


def to_position(row: dict[str, Any], venue: str, symbol: str) -> Position:
    """A ``/account/positions`` row or ``positions`` push -> a position (contracts; short < 0)."""
    qty = opt_dec(row, "pos") or _ZERO
    if row.get("posSide") == "short" and qty > 0:
        qty = -qty
    lever = opt_dec(row, "lever")
    return Position(venue, symbol, qty, opt_dec(row, "avgPx") or _ZERO, opt_dec(row, "markPx") or _ZERO,
                    opt_dec(row, "upl") or _ZERO, int(lever) if lever else 0,
                    MarginType.ISOLATED if row.get("mgnMode") == "isolated" else MarginType.CROSS,
                    ms(row, "uTime", default=0))
