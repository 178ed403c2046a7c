"""The REST API's Binance-like shapes, built from the strategy API's own shapes. Pure.

Decimals are strings in fixed-point notation; times are epoch ms; `symbol` is the venue's native symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.core.enums import OrderType, TimeInForce
from gateway.core.errors import ErrorCode, RequestError

__all__ = [
    "account_view",
    "depth_view",
    "fill_view",
    "kline_row",
    "order_view",
    "place_params",
    "price_view",
    "ticker_24hr_view",
    "trade_view",
]

_TYPES_OUT = {
    OrderType.LIMIT: "LIMIT",
    OrderType.MARKET: "MARKET",
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT: "TAKE_PROFIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}


def _text(value: Any) -> str:
    if value is None:
        return "0"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def place_params(params: Mapping[str, Any], account: str | None) -> dict[str, Any]:
    """Turn POST /api/v1/order params into `order.place` params."""
    order: dict[str, Any] = {
        "symbol": params["symbol"],
        "side": params["side"].lower(),
        "qty": params["quantity"],
    }
    kind = params["type"]
    if kind == "LIMIT_MAKER":
        order.update(type="limit", tif="post_only")
        if params.get("timeInForce", "GTC") != "GTC":
            raise RequestError("timeInForce: LIMIT_MAKER is post-only; leave timeInForce out",
                               code=ErrorCode.INVALID_PARAMS, details={"field": "timeInForce"})
    else:
        order["type"] = kind.lower()
        if "timeInForce" in params:
            order["tif"] = params["timeInForce"].lower()
    if "price" in params:
        order["price"] = params["price"]
    if "newClientOrderId" in params:
        order["client_order_id"] = params["newClientOrderId"]
    if account is not None:
        order["account"] = account
    return order


def order_view(order: Mapping[str, Any], native: str) -> dict[str, Any]:
    """An order as Binance shows one (plus `account` and `avgPrice`)."""
    filled = _decimal(order["filled_qty"])
    avg = order.get("avg_price")
    quote = filled * _decimal(avg) if avg is not None else Decimal(0)
    tif = TimeInForce(order["tif"])
    kind = OrderType(order["type"])
    view = {
        "symbol": native,
        "orderId": order["order_id"],
        "clientOrderId": order["client_order_id"],
        "price": _text(order.get("price")),
        "origQty": _text(order["qty"]),
        "executedQty": _text(filled),
        "cummulativeQuoteQty": _text(quote.normalize() if quote else Decimal(0)),
        "avgPrice": _text(avg),
        "status": str(order["status"]).upper(),
        "timeInForce": "GTC" if tif is TimeInForce.POST_ONLY else tif.value.upper(),
        "type": "LIMIT_MAKER" if tif is TimeInForce.POST_ONLY else _TYPES_OUT[kind],
        "side": str(order["side"]).upper(),
        "time": order["created_ts"],
        "updateTime": order["updated_ts"],
        "account": order["account"],
    }
    if order.get("trigger_price") is not None:
        view["stopPrice"] = _text(order["trigger_price"])
    return view


def price_view(ticker: Mapping[str, Any], native: str) -> dict[str, Any]:
    return {"symbol": native, "price": _text(ticker["last"])}


def ticker_24hr_view(ticker: Mapping[str, Any], bbo: Mapping[str, Any], native: str) -> dict[str, Any]:
    last, open_ = _decimal(ticker["last"]), _decimal(ticker["open"])
    change = last - open_
    percent = (change / open_ * 100).quantize(Decimal("0.001")) if open_ else Decimal(0)
    return {
        "symbol": native,
        "priceChange": _text(change),
        "priceChangePercent": _text(percent),
        "lastPrice": _text(ticker["last"]),
        "bidPrice": _text(bbo.get("bid")),
        "bidQty": _text(bbo.get("bid_qty")),
        "askPrice": _text(bbo.get("ask")),
        "askQty": _text(bbo.get("ask_qty")),
        "openPrice": _text(ticker["open"]),
        "highPrice": _text(ticker["high"]),
        "lowPrice": _text(ticker["low"]),
        "volume": _text(ticker["volume"]),
        "quoteVolume": _text(ticker["quote_volume"]),
        "closeTime": ticker["ts"],
    }


def depth_view(depth: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "lastUpdateId": depth["seq"],
        "bids": [[_text(p), _text(q)] for p, q in depth["bids"]],
        "asks": [[_text(p), _text(q)] for p, q in depth["asks"]],
    }


def trade_view(trade: Mapping[str, Any]) -> dict[str, Any]:
    price, qty = _decimal(trade["price"]), _decimal(trade["qty"])
    return {
        "id": trade["id"],
        "price": _text(trade["price"]),
        "qty": _text(trade["qty"]),
        "quoteQty": _text(price * qty),
        "time": trade["ts"],
        "isBuyerMaker": str(trade["side"]) == "sell",  # the taker sold: the buyer made the price
    }


def kline_row(kline: Mapping[str, Any], interval_ms: int) -> list[Any]:
    """`[openTime, open, high, low, close, volume, closeTime]` (Binance's first seven columns)."""
    return [kline["open_ts"], _text(kline["open"]), _text(kline["high"]), _text(kline["low"]),
            _text(kline["close"]), _text(kline["volume"]), kline["open_ts"] + interval_ms - 1]


def account_view(account: str, balances: list[Mapping[str, Any]], can_trade: bool, now_ms: int) -> dict[str, Any]:
    return {
        "account": account,
        "canTrade": can_trade,
        "canWithdraw": False,
        "canDeposit": False,
        "updateTime": max((b["ts"] for b in balances), default=now_ms),
        "balances": [{"asset": b["asset"], "free": _text(b["free"]), "locked": _text(b["locked"])} for b in balances],
    }


def fill_view(fill: Mapping[str, Any], native: str) -> dict[str, Any]:
    price, qty = _decimal(fill["price"]), _decimal(fill["qty"])
    return {
        "symbol": native,
        "id": fill["trade_id"],
        "orderId": fill["order_id"],
        "clientOrderId": fill["client_order_id"],
        "price": _text(fill["price"]),
        "qty": _text(fill["qty"]),
        "quoteQty": _text(price * qty),
        "commission": _text(fill["fee"]),
        "commissionAsset": fill["fee_asset"],
        "time": fill["ts"],
        "isBuyer": str(fill["side"]) == "buy",
        "isMaker": str(fill["liquidity"]) == "maker",
        "account": fill["account"],
    }
