"""Enumerations shared by every layer. Values are the strings sent on the strategy API."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConnectionState",
    "Liquidity",
    "MarginType",
    "MarketType",
    "OrderStatus",
    "OrderType",
    "Side",
    "TimeInForce",
    "TERMINAL_STATUSES",
]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP = "stop"  # stop-market: a market order once the trigger is crossed
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT = "take_profit"  # take-profit market
    TAKE_PROFIT_LIMIT = "take_profit_limit"

    @property
    def is_conditional(self) -> bool:
        return self in _CONDITIONAL

    @property
    def has_limit_price(self) -> bool:
        return self in _PRICED


_CONDITIONAL = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT})


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # the venue's answer was lost; the gateway is resolving it

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class MarketType(StrEnum):
    SPOT = "spot"
    PERP = "perp"  # linear (USDT-margined) perpetual swap


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class MarginType(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    OPEN = "open"  # connected, streams live, caches warm
    RECONNECTING = "reconnecting"
    CLOSED = "closed"
