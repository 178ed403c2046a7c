"""Order requests as OKX arguments (fact sheet §5 place / amend / cancel / algo), and account modes. Pure.

- ``tdMode``: ``cash`` for SPOT in the Spot and Futures account modes (acctLv 1, 2), ``cross`` for SPOT in
  Multi-currency / Portfolio margin (3, 4) and for SWAP always; a setting may force one.
- ``posSide``: only for SWAP in ``long_short_mode`` (open long = buy+long, close long = sell+long, ...);
  in ``net_mode`` it is left out and reduce-only goes as ``reduceOnly``.
- SPOT market orders send ``tgtCcy: base_ccy`` so ``sz`` is always the base amount the gateway means.
- Conditional orders are ``conditional`` algo orders: stop -> ``slTriggerPx``, take profit ->
  ``tpTriggerPx``, with ``slOrdPx``/``tpOrdPx`` the limit price or ``-1`` (market).
- An OCO is one ``oco`` algo order with both a TP and an SL trigger; TP/SL attached to an order go as one
  ``attachAlgoOrds`` item, which OKX turns into an algo order of the filled size once the order fills.
- Numbers go out as the Decimal strings the order manager quantized, never in exponent form.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, OrderRejected
from gateway.core.ports import OrderRequest
from gateway.venues.okx.clientids import to_okx

__all__ = ["AccountMode", "TpSl", "algo_args", "amend_algo_args", "amend_args", "attached_tpsl", "num", "oco_args",
           "order_ref", "place_args", "resolve_td_mode"]


@dataclass(frozen=True, slots=True)
class TpSl:
    """A take-profit and/or stop-loss pair: triggers, and limit prices (None: market once triggered)."""

    take_profit_trigger: Decimal | None = None
    stop_loss_trigger: Decimal | None = None
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None

    def fields(self) -> dict[str, str]:
        """Return OKX's ``tp*`` / ``sl*`` fields (``-1``: a market order once triggered)."""
        found: dict[str, str] = {}
        for prefix, trigger, price in (("tp", self.take_profit_trigger, self.take_profit_price),
                                       ("sl", self.stop_loss_trigger, self.stop_loss_price)):
            if trigger is not None:
                found[f"{prefix}TriggerPx"] = num(trigger)
                found[f"{prefix}OrdPx"] = "-1" if price is None else num(price)
                found[f"{prefix}TriggerPxType"] = "last"
        return found


@dataclass(frozen=True, slots=True)
class AccountMode:
    """What ``/api/v5/account/config`` says: account level and position mode."""

    acct_lv: str = "1"  # 1 Spot, 2 Futures, 3 Multi-currency margin, 4 Portfolio margin
    pos_mode: str = "net_mode"  # net_mode | long_short_mode

    @property
    def long_short(self) -> bool:
        return self.pos_mode == "long_short_mode"


def resolve_td_mode(setting: str, market: str, mode: AccountMode) -> str:
    """Return the ``tdMode`` orders are sent with."""
    if setting != "auto":
        return setting
    if market == "swap":
        return "cross"
    return "cash" if mode.acct_lv in ("1", "2") else "cross"


def num(value: Decimal) -> str:
    """Render a Decimal without exponent (``1E+1`` -> ``10``)."""
    return format(value, "f")


def _pos_side(side: Side, reduce_only: bool) -> str:
    opens_long = side is Side.BUY
    return ("short" if opens_long else "long") if reduce_only else ("long" if opens_long else "short")


def _common(request: OrderRequest, inst_id: str, market: str, td_mode: str, mode: AccountMode) -> dict[str, Any]:
    args: dict[str, Any] = {"instId": inst_id, "tdMode": td_mode, "side": str(request.side)}
    if market == "swap":
        if mode.long_short:
            args["posSide"] = _pos_side(request.side, request.reduce_only)
        elif request.reduce_only:
            args["reduceOnly"] = True
    elif request.reduce_only:
        raise OrderRejected("reduce-only is for swaps on OKX", code=ErrorCode.NOT_SUPPORTED)
    return args


def place_args(request: OrderRequest, inst_id: str, market: str, td_mode: str, mode: AccountMode) -> dict[str, Any]:
    """Return the ``/trade/order`` (or WS ``order``) argument of a plain order.

    Raises:
        OrderRejected: NOT_SUPPORTED for a conditional type (use `algo_args`) or reduce-only on SPOT;
            INVALID_PARAMS for a client id OKX cannot hold.
    """
    if request.type.is_conditional:
        raise OrderRejected("conditional orders go as algo orders", code=ErrorCode.NOT_SUPPORTED)
    args = _common(request, inst_id, market, td_mode, mode)
    args["clOrdId"] = to_okx(request.client_order_id)
    if request.type is OrderType.MARKET:
        args["ordType"] = "market"
        if market == "spot":
            args["tgtCcy"] = "base_ccy"
    else:
        if request.price is None:
            raise OrderRejected("a limit order needs a price", code=ErrorCode.INVALID_PARAMS)
        args["ordType"] = {TimeInForce.GTC: "limit", TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok",
                           TimeInForce.POST_ONLY: "post_only"}[request.tif]
        args["px"] = num(request.price)
    args["sz"] = num(request.qty)
    return args


def algo_args(request: OrderRequest, inst_id: str, market: str, td_mode: str, mode: AccountMode) -> dict[str, Any]:
    """Return the ``/trade/order-algo`` body of a conditional order (stop / take profit, market or limit)."""
    if not request.type.is_conditional or request.trigger_price is None:
        raise OrderRejected("an algo order needs a conditional type and a trigger price",
                            code=ErrorCode.INVALID_PARAMS)
    args = _common(request, inst_id, market, td_mode, mode)
    args["algoClOrdId"] = to_okx(request.client_order_id)
    args["ordType"] = "conditional"
    args["sz"] = num(request.qty)
    if market == "spot":
        args["tgtCcy"] = "base_ccy"
    prefix = "sl" if request.type in (OrderType.STOP, OrderType.STOP_LIMIT) else "tp"
    args[f"{prefix}TriggerPx"] = num(request.trigger_price)
    if request.type.has_limit_price:
        if request.price is None:
            raise OrderRejected("a stop/take-profit limit order needs a price", code=ErrorCode.INVALID_PARAMS)
        args[f"{prefix}OrdPx"] = num(request.price)
    else:
        args[f"{prefix}OrdPx"] = "-1"
    args[f"{prefix}TriggerPxType"] = "last"
    return args


def order_ref(order_id: str | None, client_order_id: str | None) -> dict[str, str]:
    """Return ``ordId`` (preferred) or ``clOrdId``. Raises ValueError with neither."""
    if order_id is not None:
        return {"ordId": order_id}
    if client_order_id is not None:
        return {"clOrdId": to_okx(client_order_id)}
    raise ValueError("an order id or a client order id is required")


def amend_args(inst_id: str, order_id: str | None, client_order_id: str | None, qty: Decimal | None,
               price: Decimal | None) -> dict[str, Any]:
    """Return the ``/trade/amend-order`` argument (``newSz`` includes what has filled already)."""
    args: dict[str, Any] = {"instId": inst_id, **order_ref(order_id, client_order_id)}
    if qty is not None:
        args["newSz"] = num(qty)
    if price is not None:
        args["newPx"] = num(price)
    return args


def oco_args(symbol_args: OrderRequest, inst_id: str, market: str, td_mode: str, mode: AccountMode,
             legs: TpSl) -> dict[str, Any]:
    """Return the ``/trade/order-algo`` body of an OCO: `symbol_args` gives side, size, client id, reduce-only.

    Raises:
        OrderRejected: INVALID_PARAMS without both triggers.
    """
    if legs.take_profit_trigger is None or legs.stop_loss_trigger is None:
        raise OrderRejected("an OCO needs a take-profit and a stop-loss trigger", code=ErrorCode.INVALID_PARAMS)
    args = _common(symbol_args, inst_id, market, td_mode, mode)
    args.update({"algoClOrdId": to_okx(symbol_args.client_order_id), "ordType": "oco", "sz": num(symbol_args.qty)})
    if market == "spot":
        args["tgtCcy"] = "base_ccy"
    args.update(legs.fields())
    return args


def attached_tpsl(legs: TpSl, client_order_id: str | None = None) -> list[dict[str, str]]:
    """Return ``attachAlgoOrds`` of an order: one item, so a TP and an SL together are one-cancels-other.

    Raises:
        OrderRejected: INVALID_PARAMS with neither trigger.
    """
    fields = legs.fields()
    if not fields:
        raise OrderRejected("attached TP/SL needs a take-profit or a stop-loss trigger", code=ErrorCode.INVALID_PARAMS)
    if client_order_id is not None:
        fields["attachAlgoClOrdId"] = to_okx(client_order_id)
    return [fields]


def amend_algo_args(inst_id: str, algo_id: str | None, client_order_id: str | None, qty: Decimal | None,
                    changes: TpSl) -> dict[str, Any]:
    """Return the ``/trade/amend-algos`` body: ``newSz`` and each given ``newTpTriggerPx`` / ``newTpOrdPx`` /
    ``newSlTriggerPx`` / ``newSlOrdPx`` (a trigger or a price left None is not changed).

    Raises:
        ValueError: no id, or nothing to change.
    """
    if algo_id is not None:
        args: dict[str, Any] = {"instId": inst_id, "algoId": algo_id}
    elif client_order_id is not None:
        args = {"instId": inst_id, "algoClOrdId": to_okx(client_order_id)}
    else:
        raise ValueError("an algo id or a client order id is required")
    if qty is not None:
        args["newSz"] = num(qty)
    for name, value in (("newTpTriggerPx", changes.take_profit_trigger), ("newTpOrdPx", changes.take_profit_price),
                        ("newSlTriggerPx", changes.stop_loss_trigger), ("newSlOrdPx", changes.stop_loss_price)):
        if value is not None:
            args[name] = num(value)
    if len(args) == 2:
        raise ValueError("nothing to amend")
    return args
