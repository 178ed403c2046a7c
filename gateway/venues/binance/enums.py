"""Binance enumerations <-> the gateway's (fact sheet §2 spot enums, §4 futures, §4.1 ALGO_UPDATE). Pure.

Order types by market:

    gateway            spot (/api/v3/order)          usdm
    limit              LIMIT (LIMIT_MAKER: post_only) LIMIT (timeInForce GTX: post_only)   /fapi/v1/order
    market             MARKET                         MARKET                               /fapi/v1/order
    stop               STOP_LOSS                      STOP_MARKET                          /fapi/v1/algoOrder
    stop_limit         STOP_LOSS_LIMIT                STOP                                 /fapi/v1/algoOrder
    take_profit        TAKE_PROFIT                    TAKE_PROFIT_MARKET                   /fapi/v1/algoOrder
    take_profit_limit  TAKE_PROFIT_LIMIT              TAKE_PROFIT                          /fapi/v1/algoOrder

Futures conditional orders go to the Algo Service since 2025-12-09 (§0.3); ``/fapi/v1/order`` refuses
them with -4120.
"""

from __future__ import annotations

from typing import Final

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce

__all__ = [
    "ALGO_STATUS",
    "SIDE",
    "SPOT_TYPES",
    "STATUS",
    "USDM_ALGO_TYPES",
    "from_side",
    "from_spot_type",
    "from_tif",
    "from_usdm_type",
    "to_algo_status",
    "to_status",
]

SIDE: Final = {Side.BUY: "BUY", Side.SELL: "SELL"}

SPOT_TYPES: Final = {
    OrderType.LIMIT: "LIMIT",
    OrderType.MARKET: "MARKET",
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT: "TAKE_PROFIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}
_SPOT_BACK: Final = {v: k for k, v in SPOT_TYPES.items()} | {"LIMIT_MAKER": OrderType.LIMIT}

USDM_ALGO_TYPES: Final = {
    OrderType.STOP: "STOP_MARKET",
    OrderType.STOP_LIMIT: "STOP",
    OrderType.TAKE_PROFIT: "TAKE_PROFIT_MARKET",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT",
}
_USDM_BACK: Final = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET, "LIQUIDATION": OrderType.MARKET} | {
    v: k for k, v in USDM_ALGO_TYPES.items()}

STATUS: Final = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,  # a pending leg of an order list: accepted, not yet working
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.PENDING_CANCEL,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,  # expired by self-trade prevention
}

# Algo order statuses (§4.1 ALGO_UPDATE ``X``). TRIGGERING / TRIGGERED: the conditional order is still
# working (its triggered order carries the fills); FINISHED: the triggered order ended, and its own
# status is the truth (None here: ask for it).
ALGO_STATUS: Final[dict[str, OrderStatus | None]] = {
    "NEW": OrderStatus.NEW,
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.NEW,
    "FINISHED": None,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}


def from_side(value: str) -> Side:
    return Side.BUY if value == "BUY" else Side.SELL


def to_status(value: str) -> OrderStatus:
    """Return the gateway status of a Binance order status (unknown ones: NEW, logged by the caller)."""
    return STATUS.get(value, OrderStatus.NEW)


def to_algo_status(value: str) -> OrderStatus | None:
    return ALGO_STATUS.get(value, OrderStatus.NEW)


def from_spot_type(value: str) -> OrderType:
    return _SPOT_BACK.get(value, OrderType.LIMIT)


def from_usdm_type(value: str) -> OrderType:
    return _USDM_BACK.get(value, OrderType.LIMIT)


def from_tif(tif: str | None, binance_type: str) -> TimeInForce:
    """Return the gateway tif of a Binance order (spot LIMIT_MAKER and futures GTX are post-only)."""
    if binance_type == "LIMIT_MAKER" or tif == "GTX":
        return TimeInForce.POST_ONLY
    if tif == "IOC":
        return TimeInForce.IOC
    if tif == "FOK":
        return TimeInForce.FOK
    return TimeInForce.GTC
