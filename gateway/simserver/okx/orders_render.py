"""OKX JSON shapes of the sim user's orders, fills, balances and positions. Pure.

Fact sheet §5 (REST objects) and §6 (the ``orders`` push adds per-fill fields ``fillPx``, ``fillSz``,
``fillTime``, ``fillFee``, ``fillFeeCcy``, ``fillPnl``, ``tradeId``, ``execType``). Facts the engine does
not keep (``tdMode``, ``tag``, fees so far, the algo an order came from) live in `OrderNotes`.
Fees are negative when charged (§5). Sizes are contracts on SWAP (`OkxInstrument.to_sz`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.core.enums import Liquidity, MarginType, OrderStatus, OrderType, TimeInForce
from gateway.simserver.okx.instruments import OkxInstrument
from gateway.simserver.okx.render import s
from gateway.venues.sim.records import BalanceEvent, FillEvent, OrderEvent, PositionEvent

__all__ = ["OrderNotes", "balance_detail", "fill_row", "ord_type_of", "order_item", "position_item", "state_of"]

_ZERO = Decimal(0)
_STATES = {OrderStatus.NEW: "live", OrderStatus.PARTIALLY_FILLED: "partially_filled", OrderStatus.FILLED: "filled"}
_USD = frozenset({"USDT", "USDC", "USD"})


@dataclass(slots=True)
class OrderNotes:
    """What OKX reports about an order that the engine does not keep."""

    td_mode: str = "cash"
    tag: str = ""
    pos_side: str = ""
    tgt_ccy: str = ""
    algo_id: str = ""
    algo_cl_ord_id: str = ""
    attach: list[dict[str, Any]] = field(default_factory=list)  # attachAlgoOrds as sent
    acc_fill: Decimal = _ZERO  # engine quantity filled so far, as reported
    fee: Decimal = _ZERO  # cumulative, negative = charged
    fee_ccy: str = ""
    pnl: Decimal = _ZERO
    last_fill: FillEvent | None = None
    cancel_source: str = ""
    req_id: str = ""
    amend_result: str = ""
    reported: tuple[object, ...] = ()  # (status, filled, qty, price) last pushed

    def on_fill(self, fill: FillEvent) -> None:
        self.acc_fill += fill.qty
        self.fee -= fill.fee
        self.fee_ccy = fill.fee_asset
        self.pnl += fill.realized_pnl
        self.last_fill = fill


def state_of(order: OrderEvent) -> str:
    return _STATES.get(order.status, "canceled")


def ord_type_of(order: OrderEvent) -> str:
    if order.type in (OrderType.MARKET, OrderType.STOP, OrderType.TAKE_PROFIT):
        return "market"
    return {TimeInForce.POST_ONLY: "post_only", TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok"}.get(order.tif, "limit")


def order_item(order: OrderEvent, inst: OkxInstrument, notes: OrderNotes, lever: str,
               fill: FillEvent | None = None, acc_fill: Decimal | None = None) -> dict[str, Any]:
    """A ``trade/order`` object; with `fill`, the ``orders`` push item of that fill (cumulative as of it)."""
    acc = order.filled_qty if acc_fill is None else acc_fill
    state = state_of(order)
    if fill is not None:
        state = "filled" if acc >= order.qty else "partially_filled"
    last = fill or notes.last_fill
    item: dict[str, Any] = {
        "instType": inst.inst_type, "instId": inst.inst_id, "ccy": "", "ordId": order.order_id,
        "clOrdId": order.client_order_id or "", "tag": notes.tag, "px": s(order.price),
        "pxUsd": "", "pxVol": "", "pxType": "", "sz": s(inst.to_sz(order.qty)), "ordType": ord_type_of(order),
        "side": str(order.side), "posSide": notes.pos_side or ("net" if inst.is_swap else ""),
        "tdMode": notes.td_mode, "tgtCcy": notes.tgt_ccy, "accFillSz": s(inst.to_sz(acc)),
        "fillPx": s(last.price) if last else "", "tradeId": last.trade_id if last else "",
        "fillSz": s(inst.to_sz(last.qty)) if last else "0", "fillTime": str(last.ts) if last else "",
        "avgPx": s(order.avg_price) if order.avg_price is not None and acc else "", "state": state,
        "lever": lever if inst.is_swap else "", "pnl": s(notes.pnl), "fee": s(notes.fee),
        "feeCcy": notes.fee_ccy or (inst.instrument.quote), "rebate": "0", "rebateCcy": inst.instrument.quote,
        "reduceOnly": "true" if order.reduce_only else "false", "category": "normal", "source": "",
        "cancelSource": notes.cancel_source if state == "canceled" else "", "cancelSourceReason": "",
        "algoId": notes.algo_id, "algoClOrdId": notes.algo_cl_ord_id, "attachAlgoOrds": notes.attach,
        "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpOrdPx": "", "slTriggerPx": "", "slOrdPx": "",
        "stpMode": "cancel_maker", "stpId": "", "quickMgnType": "", "isTpLimit": "false",
        "uTime": str(order.ts), "cTime": str(order.created_ts),
    }
    if fill is not None:
        item.update({"fillPx": s(fill.price), "fillSz": s(inst.to_sz(fill.qty)), "fillTime": str(fill.ts),
                     "tradeId": fill.trade_id, "fillFee": s(-fill.fee), "fillFeeCcy": fill.fee_asset,
                     "fillPnl": s(fill.realized_pnl), "execType": "M" if fill.liquidity is Liquidity.MAKER else "T",
                     "fillNotionalUsd": s(fill.price * fill.qty)})
    else:
        item.update({"fillFee": "0", "fillFeeCcy": "", "fillPnl": "0", "execType": "", "fillNotionalUsd": ""})
    item.update({"amendResult": notes.amend_result, "reqId": notes.req_id, "code": "0", "msg": ""})
    return item


def fill_row(fill: FillEvent, inst: OkxInstrument, bill_id: str) -> dict[str, Any]:
    """A ``trade/fills`` row."""
    return {
        "instType": inst.inst_type, "instId": inst.inst_id, "tradeId": fill.trade_id, "ordId": fill.order_id,
        "clOrdId": fill.client_order_id or "", "billId": bill_id, "tag": "", "fillPx": s(fill.price),
        "fillSz": s(inst.to_sz(fill.qty)), "fillIdxPx": "", "fillPnl": s(fill.realized_pnl),
        "side": str(fill.side), "posSide": "net" if inst.is_swap else "",
        "execType": "M" if fill.liquidity is Liquidity.MAKER else "T", "feeCcy": fill.fee_asset,
        "fee": s(-fill.fee), "ts": str(fill.ts), "fillTime": str(fill.ts),
    }


def balance_detail(balance: BalanceEvent, upl: Decimal, position_margin: Decimal, usd_price: Decimal | None
                   ) -> dict[str, Any]:
    """One ``details[]`` item of ``account/balance`` and the ``account`` push."""
    cash = balance.free + balance.locked
    eq = cash + upl
    price = Decimal(1) if balance.asset in _USD else usd_price
    return {
        "ccy": balance.asset, "eq": s(eq), "cashBal": s(cash), "availBal": s(balance.free),
        "availEq": s(balance.free), "frozenBal": s(balance.locked),
        "ordFrozen": s(max(_ZERO, balance.locked - position_margin)), "eqUsd": s(eq * price) if price else "0",
        "disEq": s(eq * price) if price else "0", "upl": s(upl), "isoEq": "0", "isoUpl": "0", "liab": "0",
        "crossLiab": "0", "interest": "0", "maxLoan": "", "mgnRatio": "", "notionalLever": "",
        "stgyEq": "0", "twap": "0", "spotInUseAmt": "", "uTime": str(balance.ts),
    }


def position_item(position: PositionEvent, inst: OkxInstrument, now_ms: int, long_short: bool = False
                  ) -> dict[str, Any]:
    """A ``account/positions`` row and ``positions`` push item (net mode: ``pos`` is signed; long/short
    mode: ``posSide`` long or short and ``pos`` positive, fact sheet §5)."""
    pos = inst.to_sz(position.qty)
    pos_side = "net"
    if long_short:
        pos_side, pos = ("short" if pos < 0 else "long"), abs(pos)
    notional = abs(position.qty) * position.mark_price
    margin = position.margin
    return {
        "instType": "SWAP", "instId": inst.inst_id, "mgnMode": "isolated" if position.margin_type is MarginType.ISOLATED
        else "cross", "posId": f"{inst.inst_id}-{pos_side}", "posSide": pos_side, "pos": s(pos), "availPos": s(abs(pos)),
        "posCcy": "", "ccy": inst.instrument.settle or inst.instrument.quote,
        "avgPx": s(position.entry_price) if position.qty else "", "markPx": s(position.mark_price),
        "upl": s(position.unrealized_pnl), "uplRatio": s((position.unrealized_pnl / margin).quantize(Decimal("1e-8")))
        if margin else "0", "lever": str(position.leverage), "liqPx": "", "margin": s(margin), "imr": s(margin),
        "mmr": "", "mgnRatio": "", "notionalUsd": s(notional), "realizedPnl": s(position.realized_pnl),
        "adl": "1", "cTime": str(position.ts), "uTime": str(position.ts), "pTime": str(now_ms),
    }
