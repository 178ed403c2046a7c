"""Binance user-data and trading wire messages: stream events (fact sheet §3.3 spot, §4.1 futures) and the
REST order / trade / account objects (§2, §4). Frozen dataclasses with Binance's field names. Pure.

Decoders take the dict orjson produced and ignore unknown keys (Binance adds fields: §0.7). A missing
required field raises KeyError/TypeError: the caller logs the raw frame (it becomes a fixture).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

__all__ = [
    "AccountConfigUpdate",
    "AccountTrade",
    "AccountUpdate",
    "AlgoOrder",
    "AlgoUpdate",
    "BalanceUpdate",
    "ExecutionReport",
    "FuturesBalance",
    "FuturesOrderUpdate",
    "ListenKeyExpired",
    "OutboundAccountPosition",
    "PositionRisk",
    "RestOrder",
    "StreamTerminated",
    "UserEvent",
    "decode",
    "decode_user_event",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """Spot ``executionReport`` (§3.3)."""

    E: int  # event time
    s: str  # symbol
    c: str  # client order id (of a cancel: the cancel request's id; see C)
    S: str  # side BUY | SELL
    o: str  # order type (LIMIT, LIMIT_MAKER, MARKET, STOP_LOSS, ...)
    f: str  # time in force
    q: str  # order quantity
    p: str  # order price ("0" for market)
    x: str  # execution type NEW | CANCELED | REPLACED | REJECTED | TRADE | EXPIRED | TRADE_PREVENTION
    X: str  # order status
    i: int  # order id
    l: str  # last executed quantity
    z: str  # cumulative filled quantity
    L: str  # last executed price
    n: str  # commission of this execution
    T: int  # transaction time
    t: int  # trade id (-1: none)
    P: str = "0"  # stop price
    C: str = ""  # original client order id (of the order being canceled)
    r: str = "NONE"  # reject reason
    N: str | None = None  # commission asset (null if none)
    m: bool = False  # is this execution the maker side
    Z: str = "0"  # cumulative quote quantity (average price = Z / z)


@dataclass(frozen=True, slots=True)
class FuturesOrder:
    """The ``o`` object of a futures ``ORDER_TRADE_UPDATE`` (§4.1)."""

    s: str  # symbol
    c: str  # client order id
    S: str  # side
    o: str  # order type
    f: str  # time in force (GTX: post-only)
    q: str  # original quantity
    p: str  # original price
    x: str  # execution type NEW | CANCELED | CALCULATED | EXPIRED | TRADE | AMENDMENT
    X: str  # order status
    i: int  # order id
    l: str  # last filled quantity
    z: str  # cumulative filled quantity
    L: str  # last filled price
    T: int  # order trade time
    t: int  # trade id (0 when no trade)
    ap: str = "0"  # average price
    sp: str = "0"  # stop price
    N: str | None = None  # commission asset
    n: str = "0"  # commission
    m: bool = False  # is this trade the maker side
    R: bool = False  # reduce only
    ot: str = ""  # original order type
    rp: str = "0"  # realized profit of the trade


@dataclass(frozen=True, slots=True)
class FuturesOrderUpdate:
    """Futures ``ORDER_TRADE_UPDATE``: ``{e, E, T, o}``."""

    E: int  # event time
    T: int  # transaction time
    o: FuturesOrder


@dataclass(frozen=True, slots=True)
class AlgoOrderEvent:
    """The ``o`` object of a futures ``ALGO_UPDATE`` (§4.1)."""

    caid: str  # client algo id
    aid: int  # algo id
    o: str  # order type (STOP_MARKET, TAKE_PROFIT, ...)
    s: str  # symbol
    S: str  # side
    q: str  # quantity
    X: str  # algo status NEW | CANCELED | TRIGGERING | TRIGGERED | FINISHED | REJECTED | EXPIRED
    f: str = "GTC"  # time in force
    ai: str | int = ""  # the triggered (actual) order's id, once triggered
    ap: str = "0"  # average fill price of the actual order
    aq: str = "0"  # executed quantity of the actual order
    tp: str = "0"  # trigger price
    p: str = "0"  # price
    R: bool = False  # reduce only
    rm: str = ""  # reject reason


@dataclass(frozen=True, slots=True)
class AlgoUpdate:
    E: int
    T: int
    o: AlgoOrderEvent


@dataclass(frozen=True, slots=True)
class WalletBalance:
    a: str  # asset
    wb: str  # wallet balance
    cw: str = "0"  # cross wallet balance
    bc: str = "0"  # balance change except PnL and commission


@dataclass(frozen=True, slots=True)
class PositionEntry:
    s: str  # symbol
    pa: str  # position amount (signed)
    ep: str  # entry price
    up: str = "0"  # unrealized PnL
    mt: str = "cross"  # margin type
    ps: str = "BOTH"  # position side


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """Futures ``ACCOUNT_UPDATE``: ``a = {m reason, B balances, P positions}`` (only changed ones)."""

    E: int
    T: int
    m: str
    B: list[WalletBalance]
    P: list[PositionEntry]


@dataclass(frozen=True, slots=True)
class AccountConfigUpdate:
    """Futures ``ACCOUNT_CONFIG_UPDATE`` with ``ac = {s, l}`` (leverage change); ``ai`` is ignored."""

    E: int
    s: str | None
    l: int | None


@dataclass(frozen=True, slots=True)
class AssetFree:
    a: str  # asset
    f: str  # free
    l: str  # locked


@dataclass(frozen=True, slots=True)
class OutboundAccountPosition:
    """Spot ``outboundAccountPosition``: the assets possibly changed."""

    E: int
    u: int  # time of last account update
    B: list[AssetFree]


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """Spot ``balanceUpdate``: a deposit, withdrawal or transfer changed ``a`` by ``d``."""

    E: int
    a: str
    d: str
    T: int


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    E: int
    listenKey: str = ""


@dataclass(frozen=True, slots=True)
class StreamTerminated:
    """Spot WS-API ``eventStreamTerminated``: the subscription ended (logout / unsubscribe)."""

    E: int


UserEvent = (ExecutionReport | FuturesOrderUpdate | AlgoUpdate | AccountUpdate | AccountConfigUpdate
             | OutboundAccountPosition | BalanceUpdate | ListenKeyExpired | StreamTerminated)


# --- REST objects ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestOrder:
    """An order object of spot ``/api/v3/order`` (POST RESULT, GET, DELETE) or futures ``/fapi/v1/order``."""

    symbol: str
    orderId: int
    clientOrderId: str  # of a spot cancel answer: the cancel's own id (see origClientOrderId)
    price: str
    origQty: str
    executedQty: str
    status: str
    type: str
    side: str
    timeInForce: str = "GTC"
    origClientOrderId: str | None = None  # spot cancel answer: the canceled order's client id
    stopPrice: str = "0"
    cummulativeQuoteQty: str = "0"  # spot (sic)
    cumQuote: str = "0"  # futures
    avgPrice: str = "0"  # futures
    reduceOnly: bool = False
    origType: str | None = None  # futures
    time: int | None = None
    updateTime: int | None = None
    transactTime: int | None = None


@dataclass(frozen=True, slots=True)
class AlgoOrder:
    """A futures algo (conditional) order object (``/fapi/v1/algoOrder``; fields **unverified** beyond §4)."""

    algoId: int
    clientAlgoId: str
    symbol: str
    side: str
    orderType: str  # STOP_MARKET, STOP, TAKE_PROFIT_MARKET, TAKE_PROFIT, TRAILING_STOP_MARKET
    quantity: str
    algoStatus: str
    triggerPrice: str = "0"
    price: str = "0"
    timeInForce: str = "GTC"
    reduceOnly: bool = False
    actualOrderId: str | int | None = None  # the triggered order
    createTime: int = 0
    updateTime: int = 0


@dataclass(frozen=True, slots=True)
class AccountTrade:
    """A row of spot ``myTrades`` or futures ``userTrades``."""

    symbol: str
    id: int  # trade id (per symbol)
    orderId: int
    price: str
    qty: str
    commission: str
    commissionAsset: str
    time: int
    isBuyer: bool | None = None  # spot
    isMaker: bool | None = None  # spot
    buyer: bool | None = None  # futures
    maker: bool | None = None  # futures


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """A row of futures ``/fapi/v2/positionRisk`` (v3 has no leverage / marginType: defaults here)."""

    symbol: str
    positionAmt: str
    entryPrice: str
    markPrice: str
    unRealizedProfit: str
    leverage: str = "0"
    marginType: str = "cross"
    positionSide: str = "BOTH"
    updateTime: int = 0


@dataclass(frozen=True, slots=True)
class FuturesBalance:
    """A row of futures ``/fapi/v2|v3/balance``."""

    asset: str
    balance: str
    availableBalance: str
    updateTime: int = 0


# --- decoders -------------------------------------------------------------------------------------------


def decode(cls: type[T], d: dict[str, Any]) -> T:
    """Build dataclass `cls` from `d`, taking only its fields (unknown keys are ignored)."""
    return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})  # type: ignore[arg-type]


def _account_update(d: dict[str, Any]) -> AccountUpdate:
    a = d["a"]
    return AccountUpdate(d["E"], d.get("T", d["E"]), a.get("m", ""), [decode(WalletBalance, b) for b in a.get("B", [])],
                         [decode(PositionEntry, p) for p in a.get("P", [])])


def _config_update(d: dict[str, Any]) -> AccountConfigUpdate:
    ac = d.get("ac") or {}
    return AccountConfigUpdate(d["E"], ac.get("s"), ac.get("l"))


_DECODERS: dict[str, Any] = {
    "executionReport": lambda d: decode(ExecutionReport, d),
    "ORDER_TRADE_UPDATE": lambda d: FuturesOrderUpdate(d["E"], d.get("T", d["E"]), decode(FuturesOrder, d["o"])),
    "ALGO_UPDATE": lambda d: AlgoUpdate(d["E"], d.get("T", d["E"]), decode(AlgoOrderEvent, d["o"])),
    "ACCOUNT_UPDATE": _account_update,
    "ACCOUNT_CONFIG_UPDATE": _config_update,
    "outboundAccountPosition": lambda d: OutboundAccountPosition(d["E"], d.get("u", d["E"]),
                                                                 [decode(AssetFree, b) for b in d["B"]]),
    "balanceUpdate": lambda d: decode(BalanceUpdate, d),
    "listenKeyExpired": lambda d: decode(ListenKeyExpired, d),
    "eventStreamTerminated": lambda d: decode(StreamTerminated, d),
}


def decode_user_event(d: dict[str, Any]) -> UserEvent | None:
    """Decode a user-data event by its ``e``; None for a type this module does not model (ignored)."""
    decoder = _DECODERS.get(d.get("e", ""))
    return decoder(d) if decoder is not None else None

