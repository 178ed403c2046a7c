"""The FMZ general protocol: request decoding, symbols, order ids, status words and data rows. Pure.

Reference: ../shared/reference/fmz-general-protocol.md (the seed). The FMZ host sends

    POST /<path>   {"access_key", "secret_key", "method", "nonce", "params"}

and expects `{"data": ..., "raw": ...}` or `{"error": "..."}`. This module turns the body into a typed
`FmzRequest`, parses each method's params into gateway terms, and turns gateway objects (the strategy
API's shapes) into the seed's rows. It does no I/O; `server.py` and `methods.py` do.

Conventions (docs/fmz.md):
- symbols: `ETH_USDT` (spot) <-> `ETH/USDT`; `BTC_USDT.swap` (perpetual) <-> `BTC/USDT:USDT`;
  case-insensitive in; a symbol without `_` is tried as the venue's native alias (`BTCUSDT`).
- order ids: `ETH-USDT,123456` (spot), `BTC-USDT-SWAP,123456` (perpetual): market, comma, the venue's
  order id (`cid:<client order id>` while the venue's id is not known yet).
- records `period` is in **minutes** (`"60"` = one hour); rows are `[time_s, open, high, low, close, volume]`
  with the candle's open time in **seconds**, oldest first.
- numbers: strings where the seed shows strings (ticker, accounts), JSON numbers where it shows numbers
  (depth, trades, records, orders). A number is the exact decimal text of the gateway's Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from gateway.core.enums import MarketType, OrderStatus
from gateway.core.errors import ErrorCode, LookupFailed, RequestError
from gateway.core.instruments import Instrument

__all__ = [
    "API_PREFIX",
    "FUNDING_INTERVAL_MS",
    "METHODS",
    "PERIOD_MINUTES",
    "FmzRequest",
    "OrderRef",
    "balance_rows",
    "decimal_param",
    "decode_request",
    "depth_data",
    "find_instrument",
    "fmz_order_id",
    "fmz_status",
    "fmz_symbol",
    "funding_row",
    "int_param",
    "interval_for_period",
    "order_row",
    "parse_order_id",
    "position_row",
    "record_rows",
    "resolve_method",
    "str_param",
    "ticker_data",
    "trade_rows",
]

API_PREFIX = "__api_"  # exchange.IO("api", ...) calls: method "__api_/path", the verb in the Http-Method header
FUNDING_INTERVAL_MS = 8 * 3_600_000  # every perpetual the gateway serves today funds every 8 hours

# Canonical method names -> the aliases the bridge also accepts. The seed names the spot methods; the
# futures ones it leaves "to be implemented" are named after FMZ's GetPositions / SetMarginLevel / GetFundings.
METHODS: dict[str, tuple[str, ...]] = {
    "ticker": (),
    "depth": (),
    "trades": (),
    "records": (),
    "accounts": ("account",),
    "assets": (),
    "trade": (),
    "orders": (),
    "order": (),
    "historyorders": (),
    "cancel": (),
    "positions": ("position", "getpositions"),
    "marginlevel": ("setmarginlevel",),
    "fundings": ("funding", "getfundings"),
}
_CANONICAL = {alias: name for name, aliases in METHODS.items() for alias in (name, *aliases)}

# records `period` (minutes) -> the gateway's kline interval.
PERIOD_MINUTES: dict[int, str] = {1: "1m", 5: "5m", 15: "15m", 60: "1h", 240: "4h", 1440: "1d"}

MAX_SYMBOL = 64


# --- the request --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FmzRequest:
    access_key: str
    secret_key: str
    method: str  # as sent
    nonce: int
    params: dict[str, Any]

    def __repr__(self) -> str:  # never show the keys
        return f"FmzRequest(method={self.method!r}, nonce={self.nonce})"


def decode_request(body: bytes) -> FmzRequest:
    """Decode a request body.

    Raises:
        RequestError: INVALID_JSON for a body that is not JSON; INVALID_REQUEST for JSON that is not an
            object, a missing field (`access_key`, `secret_key`, `method`, `nonce`) or a field of the wrong
            type (`params`, when present, must be an object; `nonce` a non-negative integer).
    """
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the body is not JSON: {exc.msg}", code=ErrorCode.INVALID_JSON) from None
    if not isinstance(message, dict):
        raise RequestError("the body must be a JSON object", code=ErrorCode.INVALID_REQUEST)
    missing = [name for name in ("access_key", "secret_key", "method", "nonce") if name not in message]
    if missing:
        raise RequestError(f"missing field(s): {', '.join(missing)}", code=ErrorCode.INVALID_REQUEST)
    for name in ("access_key", "secret_key", "method"):
        value = message[name]
        if not isinstance(value, str) or not value:
            raise RequestError(f"{name} must be a non-empty string", code=ErrorCode.INVALID_REQUEST)
        if len(value) > 512:
            raise RequestError(f"{name} is too long", code=ErrorCode.INVALID_REQUEST)
    nonce = message["nonce"]
    if isinstance(nonce, bool) or not isinstance(nonce, int) or nonce < 0:
        raise RequestError("nonce must be a non-negative integer", code=ErrorCode.INVALID_REQUEST)
    params = message.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise RequestError("params must be a JSON object", code=ErrorCode.INVALID_REQUEST)
    return FmzRequest(message["access_key"], message["secret_key"], message["method"], nonce, params)


def resolve_method(method: str) -> str:
    """Return the canonical method name (`API_PREFIX` for a raw call).

    Raises:
        RequestError: UNKNOWN_METHOD.
    """
    if method.startswith(API_PREFIX):
        if not method[len(API_PREFIX):].startswith("/"):
            raise RequestError(f"a raw call names a path: {API_PREFIX}/api/...", code=ErrorCode.INVALID_PARAMS)
        return API_PREFIX
    canonical = _CANONICAL.get(method.lower())
    if canonical is None:
        shown = method if len(method) <= 64 else method[:64] + "..."
        raise RequestError(
            f"invalid method: {shown!r}; one of {', '.join(METHODS)} or {API_PREFIX}<path>",
            code=ErrorCode.UNKNOWN_METHOD,
        )
    return canonical


# --- params -------------------------------------------------------------------------------------------


def _invalid(name: str, message: str) -> RequestError:
    return RequestError(f"params.{name}: {message}", code=ErrorCode.INVALID_PARAMS, details={"field": name})


def str_param(params: Mapping[str, Any], name: str, *, required: bool = True, max_len: int = 128) -> str | None:
    """Read a string param (None when absent or empty and not required)."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _invalid(name, "is required")
        return None
    if not isinstance(value, str):
        raise _invalid(name, "must be a string")
    if len(value) > max_len:
        raise _invalid(name, f"must be at most {max_len} characters")
    return value


def decimal_param(params: Mapping[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    """Read a decimal param sent as a string ("0.1") or a JSON number."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _invalid(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid(name, "must be a decimal string or a number")
    try:
        result = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        raise _invalid(name, "must be a decimal string or a number") from None
    if not result.is_finite():
        raise _invalid(name, "must be finite")
    return result


MAX_INT = 2**53  # integers beyond this are no time, count or size the gateway knows


def int_param(params: Mapping[str, Any], name: str, default: int | None = None, *, minimum: int = 0) -> int | None:
    """Read an integer param sent as a JSON integer or a string of digits ("500"), at most `MAX_INT`."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise _invalid(name, "must be an integer")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or len(text) > 20:
            raise _invalid(name, "must be an integer")
        value = int(text)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise _invalid(name, "must be an integer")
    if value < minimum:
        raise _invalid(name, f"must be >= {minimum}")
    if value > MAX_INT:
        raise _invalid(name, f"must be <= {MAX_INT}")
    return value


def interval_for_period(minutes: int) -> str:
    """Map a records `period` in minutes to a kline interval.

    Raises:
        RequestError: INVALID_PARAMS for a period the gateway has no candles of.
    """
    interval = PERIOD_MINUTES.get(minutes)
    if interval is None:
        allowed = ", ".join(str(m) for m in PERIOD_MINUTES)
        raise _invalid("period", f"{minutes} is not a supported period in minutes; one of {allowed}")
    return interval


# --- symbols and order ids ----------------------------------------------------------------------------


def fmz_symbol(instrument: Instrument) -> str:
    """`ETH_USDT` for a spot instrument, `BTC_USDT.swap` for a perpetual."""
    plain = f"{instrument.base}_{instrument.quote}"
    return plain if instrument.type is MarketType.SPOT else f"{plain}.swap"


def _market_id(instrument: Instrument) -> str:
    plain = f"{instrument.base}-{instrument.quote}"
    return plain if instrument.type is MarketType.SPOT else f"{plain}-SWAP"


def find_instrument(instruments: Mapping[str, Instrument], text: str) -> Instrument:
    """Resolve an FMZ symbol (`ETH_USDT`, `eth_usdt`, `BTC_USDT.swap`) among a venue's instruments.

    `BASE_QUOTE` names the spot market, or the perpetual when the venue lists no such spot market. A
    symbol without `_` is tried as a unified symbol or the venue's native alias (`BTCUSDT`).

    Raises:
        LookupFailed: UNKNOWN_SYMBOL (the message says what a symbol looks like).
    """
    if not text or len(text) > MAX_SYMBOL:
        raise _unknown_symbol(text, "a symbol looks like ETH_USDT (spot) or BTC_USDT.swap (perpetual)")
    if "_" not in text:
        found = instruments.get(text) or next(
            (i for i in instruments.values() if i.native.upper() == text.upper()), None)
        if found is None:
            raise _unknown_symbol(text, "a symbol looks like ETH_USDT (spot) or BTC_USDT.swap (perpetual)")
        return found
    pair, dot, contract = text.partition(".")
    base, _, quote = pair.upper().partition("_")
    if not base or not quote or "_" in quote:
        raise _unknown_symbol(text, "a symbol looks like ETH_USDT (spot) or BTC_USDT.swap (perpetual)")
    if dot and contract.lower() != "swap":
        raise _unknown_symbol(text, "the only contract type is swap (perpetual), e.g. BTC_USDT.swap")
    matches = [i for i in instruments.values() if i.base.upper() == base and i.quote.upper() == quote]
    spot = [i for i in matches if i.type is MarketType.SPOT]
    perp = [i for i in matches if i.type is MarketType.PERP]
    chosen = perp if dot else (spot or perp)
    if len(chosen) != 1:
        raise _unknown_symbol(text, "no such market on this account")
    return chosen[0]


def _unknown_symbol(text: str, why: str) -> LookupFailed:
    shown = text if len(text) <= MAX_SYMBOL else text[:MAX_SYMBOL] + "..."
    return LookupFailed(f"unknown symbol {shown!r}: {why}", code=ErrorCode.UNKNOWN_SYMBOL)


@dataclass(frozen=True, slots=True)
class OrderRef:
    market: str  # ETH-USDT, BTC-USDT-SWAP
    order_id: str | None
    client_order_id: str | None

    def matches(self, instrument: Instrument) -> bool:
        return self.market.upper() == _market_id(instrument).upper()


def fmz_order_id(instrument: Instrument, order: Mapping[str, Any]) -> str:
    """`ETH-USDT,123456`: the market, a comma, the venue's order id (else `cid:<client order id>`)."""
    order_id = order.get("order_id")
    ref = order_id if order_id else f"cid:{order['client_order_id']}"
    return f"{_market_id(instrument)},{ref}"


def parse_order_id(text: str) -> OrderRef:
    """Parse `ETH-USDT,123456` (or `ETH-USDT,cid:abc`).

    Raises:
        RequestError: INVALID_PARAMS for anything else.
    """
    market, comma, ref = text.partition(",")
    if not comma or not market or not ref or len(ref) > 64 or "-" not in market:
        raise _invalid("id", "an order id looks like ETH-USDT,123456")
    if ref.startswith("cid:"):
        if len(ref) == 4:
            raise _invalid("id", "an order id looks like ETH-USDT,123456")
        return OrderRef(market, None, ref[4:])
    return OrderRef(market, ref, None)


# --- rows -----------------------------------------------------------------------------------------------


def _num(value: Any) -> int | float:
    """A JSON number with the exact decimal text of `value` (ints stay ints: 1005, not 1005.0)."""
    if value is None:
        return 0
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if d == d.to_integral_value():
        return int(d)
    return float(d)  # repr(float) is the shortest text that round-trips: the Decimal's own digits


def _text(value: Any) -> str:
    if value is None:
        return "0"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def ticker_data(instrument: Instrument, ticker: Mapping[str, Any], bbo: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's GetTicker data: every value a string, `time` in ms."""
    return {
        "symbol": fmz_symbol(instrument),
        "buy": _text(bbo.get("bid")),
        "sell": _text(bbo.get("ask")),
        "high": _text(ticker["high"]),
        "low": _text(ticker["low"]),
        "open": _text(ticker["open"]),
        "last": _text(ticker["last"]),
        "vol": _text(ticker["volume"]),
        "time": str(ticker["ts"]),
    }


def depth_data(depth: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's GetDepth data: `time` (ms) and `[price, amount]` number pairs, best first."""
    return {
        "time": depth["ts"],
        "asks": [[_num(p), _num(q)] for p, q in depth["asks"]],
        "bids": [[_num(p), _num(q)] for p, q in depth["bids"]],
    }


def _id(value: str) -> int | str:
    return int(value) if value.isdigit() and len(value) < 19 else value


def trade_rows(trades: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The seed's GetTrades data: `type` is the taker's side."""
    return [
        {"id": _id(str(t["id"])), "time": t["ts"], "price": _num(t["price"]), "amount": _num(t["qty"]),
         "type": str(t["side"])}
        for t in trades
    ]


def record_rows(klines: Iterable[Mapping[str, Any]]) -> list[list[int | float]]:
    """The seed's GetRecords rows: `[open time in seconds, open, high, low, close, volume]`, oldest first."""
    return [
        [k["open_ts"] // 1000, _num(k["open"]), _num(k["high"]), _num(k["low"]), _num(k["close"]),
         _num(k["volume"])]
        for k in klines
    ]


def balance_rows(balances: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The seed's GetAccount / GetAssets data: `currency`, `free`, `frozen` as strings."""
    return [{"currency": b["asset"], "free": _text(b["free"]), "frozen": _text(b["locked"])} for b in balances]


# The seed's status words. FMZ reads pending / pre-submitted / submitting / submitted / partial-filled as
# open, filled / closed / finished as done, canceled / partial-canceled as canceled.
_OPEN_WORDS = {
    OrderStatus.PENDING_NEW: "submitting",
    OrderStatus.UNKNOWN: "submitted",  # sent; the venue's answer was lost and is being resolved
    OrderStatus.NEW: "pending",
}


def fmz_status(status: str, filled_qty: Decimal) -> str:
    """Map a gateway order status to the seed's status word."""
    status = OrderStatus(status)
    filled = filled_qty > 0
    if status in _OPEN_WORDS:
        return _OPEN_WORDS[status]
    if status in (OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL):
        return "partial-filled" if filled else "pending"
    if status is OrderStatus.FILLED:
        return "filled"
    # canceled, expired, rejected: ended without filling whole
    return "partial-canceled" if filled else "canceled"


def order_row(instrument: Instrument, order: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's order shape (GetOrder / GetOrders / GetHistoryOrders)."""
    filled = Decimal(str(order["filled_qty"]))
    price = order.get("price")
    return {
        "id": fmz_order_id(instrument, order),
        "symbol": fmz_symbol(instrument),
        "amount": _num(order["qty"]),
        "price": _num(price if price is not None else order.get("avg_price")),
        "deal_amount": _num(filled),
        "avg_price": _num(order.get("avg_price")),
        "type": str(order["side"]),
        "status": fmz_status(order["status"], filled),
    }


def position_row(instrument: Instrument, position: Mapping[str, Any]) -> dict[str, Any]:
    """A position in the shape of FMZ's Position struct, in the seed's lower-case style.

    `amount` is the size (always positive; `type` says long or short), `price` the entry price, `profit`
    the unrealized PnL, `margin` the initial margin `|qty| x entry / leverage`.
    """
    qty = Decimal(str(position["qty"]))
    entry = Decimal(str(position["entry_price"]))
    leverage = int(position["leverage"]) or 1
    return {
        "symbol": fmz_symbol(instrument),
        "margin_level": leverage,
        "amount": _num(abs(qty)),
        "frozen_amount": 0,
        "price": _num(entry),
        "profit": _num(position["unrealized_pnl"]),
        "type": "long" if qty > 0 else "short",
        "contract_type": "swap",
        "margin": _num((abs(qty) * entry / leverage).quantize(Decimal("0.00000001"))),
    }


def funding_row(instrument: Instrument, mark: Mapping[str, Any]) -> dict[str, Any]:
    """A funding rate in the shape of FMZ's Funding struct: `time` is the next funding time (ms)."""
    return {
        "symbol": fmz_symbol(instrument),
        "interval": FUNDING_INTERVAL_MS,
        "time": mark["next_funding_ts"],
        "rate": _num(mark["funding_rate"]),
    }
