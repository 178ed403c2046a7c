"""Lighter's JSON (REST answers, WebSocket frames) into the normalized model. Pure.

Field names and values: fact sheet §3 "Model fields" and §7. Every converter takes plain dicts (decoded
once by orjson at the edge) and raises `LighterParseError` on a shape it cannot read, so the caller can
log the frame and lose nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.core.enums import Liquidity, MarginType, MarketType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import Balance, Depth, Fill, Kline, OrderUpdate, Position, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.venues.lighter.scaling import MarketSpec

__all__ = [
    "LighterParseError",
    "fill_status",
    "to_balances",
    "to_depth",
    "to_fill",
    "to_instrument",
    "to_klines",
    "to_market_specs",
    "to_order_status",
    "to_order_update",
    "to_positions",
    "to_ticker",
    "to_trade",
]

ZERO = Decimal(0)


class LighterParseError(ValueError):
    """A Lighter payload that does not have the expected shape."""


def _dec(value: Any, name: str) -> Decimal:
    if value is None or isinstance(value, bool):
        raise LighterParseError(f"{name}: expected a decimal, got {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise LighterParseError(f"{name}: not a decimal: {value!r}") from exc


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise LighterParseError(f"{name}: expected an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise LighterParseError(f"{name}: not an integer: {value!r}") from exc


def _get(payload: Any, name: str) -> Any:
    if not isinstance(payload, dict):
        raise LighterParseError(f"expected an object, got {type(payload).__name__}")
    if name not in payload:
        raise LighterParseError(f"missing field {name!r}")
    return payload[name]


# --- markets -----------------------------------------------------------------------------------------


def to_market_specs(details: dict[str, Any], quote: str, use_supported: bool) -> dict[str, MarketSpec]:
    """Return the perp markets of an ``orderBookDetails`` (or ``orderBooks``) answer by unified symbol."""
    rows = details.get("order_book_details") or details.get("order_books")
    if not isinstance(rows, list):
        raise LighterParseError("no order_book_details / order_books list")
    specs: dict[str, MarketSpec] = {}
    for row in rows:
        if row.get("market_type", "perp") != "perp" or row.get("status", "active") != "active":
            continue
        native = str(_get(row, "symbol"))
        size_key, price_key = ("supported_size_decimals", "supported_price_decimals") if use_supported or \
            "size_decimals" not in row else ("size_decimals", "price_decimals")
        spec = MarketSpec(
            market_id=_int(_get(row, "market_id"), "market_id"), symbol=f"{native}/{quote}:{quote}", native=native,
            size_decimals=_int(_get(row, size_key), size_key), price_decimals=_int(_get(row, price_key), price_key),
            min_base_amount=_dec(row.get("min_base_amount", "0"), "min_base_amount"),
            min_quote_amount=_dec(row.get("min_quote_amount", "0"), "min_quote_amount"))
        specs[spec.symbol] = spec
    return specs


def to_instrument(venue: str, spec: MarketSpec, quote: str) -> Instrument:
    return Instrument(venue=venue, symbol=spec.symbol, native=spec.native, base=spec.native, quote=quote,
                      type=MarketType.PERP, tick_size=spec.tick, step_size=spec.step,
                      min_qty=max(spec.min_base_amount, spec.step), min_notional=spec.min_quote_amount,
                      settle=quote, extra={"market_id": str(spec.market_id)})


# --- orders ------------------------------------------------------------------------------------------

_TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET, "stop-loss": OrderType.STOP,
          "stop-loss-limit": OrderType.STOP_LIMIT, "take-profit": OrderType.TAKE_PROFIT,
          "take-profit-limit": OrderType.TAKE_PROFIT_LIMIT}
_TIFS = {"good-till-time": TimeInForce.GTC, "immediate-or-cancel": TimeInForce.IOC, "post-only": TimeInForce.POST_ONLY}
# Statuses that mean "the venue would not take it": reported as REJECTED when nothing filled.
_REFUSALS = frozenset({"canceled-margin-not-allowed", "canceled-position-not-allowed", "canceled-invalid-balance",
                       "canceled-reduce-only", "canceled-post-only"})
_EXPIRIES = frozenset({"canceled-expired", "canceled-too-much-slippage", "canceled-not-enough-liquidity"})


def to_order_status(status: str, filled: Decimal, initial: Decimal) -> OrderStatus:
    """Map a Lighter order status (fact sheet §3 "Order") to the gateway's."""
    if status in ("open", "pending", "in-progress"):
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
    if status == "filled":
        return OrderStatus.FILLED
    if status in _REFUSALS and filled == 0:
        return OrderStatus.REJECTED
    if status in _EXPIRIES:
        return OrderStatus.EXPIRED
    if status.startswith("canceled"):
        return OrderStatus.CANCELED
    raise LighterParseError(f"unknown order status {status!r}")


def to_order_update(venue: str, order: dict[str, Any], spec_of: Callable[[int], MarketSpec | None],
                    client_id_of: Callable[[int | None], str | None], recv_ts: int) -> OrderUpdate:
    """Return an order of ``orders[]`` (REST or the account stream) as an `OrderUpdate`."""
    market_id = _int(_get(order, "market_index"), "market_index")
    spec = spec_of(market_id)
    if spec is None:
        raise LighterParseError(f"order of unknown market {market_id}")
    initial = _dec(_get(order, "initial_base_amount"), "initial_base_amount")
    filled = _dec(order.get("filled_base_amount", "0"), "filled_base_amount")
    remaining = _dec(order.get("remaining_base_amount", initial - filled), "remaining_base_amount")
    quote = _dec(order.get("filled_quote_amount", "0"), "filled_quote_amount")
    status_text = str(_get(order, "status"))
    order_type = _TYPES.get(str(order.get("type", "limit")))
    if order_type is None:
        raise LighterParseError(f"unsupported order type {order.get('type')!r}")
    price = _dec(order.get("price", "0"), "price")
    trigger = _dec(order.get("trigger_price", "0"), "trigger_price")
    status = to_order_status(status_text, filled, initial)
    reason = status_text if status_text.startswith("canceled-") else None
    qty = initial if initial > 0 else filled + remaining
    ts = _int(order.get("updated_at") or order.get("timestamp") or 0, "timestamp")
    return OrderUpdate(
        venue=venue, symbol=spec.symbol, order_id=str(_int(_get(order, "order_index"), "order_index")),
        client_order_id=client_id_of(_int(order.get("client_order_index", 0), "client_order_index")),
        side=Side.SELL if order.get("is_ask") else Side.BUY, type=order_type,
        tif=_TIFS.get(str(order.get("time_in_force")), TimeInForce.GTC),
        price=price if price > 0 else None, trigger_price=trigger if trigger > 0 else None,
        qty=qty, filled_qty=filled, avg_price=(quote / filled) if filled > 0 else None, status=status,
        reduce_only=bool(order.get("reduce_only")), ts=_ms(ts), recv_ts=recv_ts, reason=reason)


def fill_status(order: dict[str, Any]) -> tuple[str, float]:
    """Return the seed's (fill_status, filled_ratio): none / partial / filled and filled / initial."""
    initial = _dec(order.get("initial_base_amount", "0"), "initial_base_amount")
    filled = _dec(order.get("filled_base_amount", "0"), "filled_base_amount")
    if initial <= 0:
        return ("none", 0.0)
    ratio = filled / initial
    label = "filled" if filled >= initial else "partial" if filled > 0 else "none"
    return label, float(ratio)  # a display ratio (the seed's), never used for an order


def _ms(ts: int) -> int:
    # Lighter mixes seconds and milliseconds across fields; anything below 1e12 is taken as seconds.
    return ts * 1000 if 0 < ts < 1_000_000_000_000 else ts


# --- trades and fills --------------------------------------------------------------------------------


def to_trade(venue: str, spec: MarketSpec, trade: dict[str, Any], recv_ts: int) -> Trade:
    taker_is_ask = not bool(trade.get("is_maker_ask", False))
    return Trade(venue=venue, symbol=spec.symbol, id=str(_get(trade, "trade_id")),
                 price=_dec(_get(trade, "price"), "price"), qty=_dec(_get(trade, "size"), "size"),
                 side=Side.SELL if taker_is_ask else Side.BUY, ts=_ms(_int(trade.get("timestamp", 0), "timestamp")),
                 recv_ts=recv_ts)


def to_fill(venue: str, spec: MarketSpec, trade: dict[str, Any], account_index: int,
            client_id_of: Callable[[int | None], str | None], quote: str, recv_ts: int) -> Fill | None:
    """Return our side of a trade as a `Fill` (None: the trade is not ours)."""
    is_ask = _int(trade.get("ask_account_id", -1), "ask_account_id") == account_index
    is_bid = _int(trade.get("bid_account_id", -1), "bid_account_id") == account_index
    if not (is_ask or is_bid):
        return None
    side = Side.SELL if is_ask else Side.BUY
    maker = bool(trade.get("is_maker_ask")) == is_ask
    prefix = "ask" if is_ask else "bid"
    fee_field = "maker_fee" if maker else "taker_fee"
    price = _dec(_get(trade, "price"), "price")
    qty = _dec(_get(trade, "size"), "size")
    fee_rate = _dec(trade.get(fee_field, "0") or "0", fee_field)
    return Fill(venue=venue, symbol=spec.symbol, order_id=str(_get(trade, f"{prefix}_id")),
                client_order_id=client_id_of(_int(trade.get(f"{prefix}_client_id", 0), f"{prefix}_client_id")),
                trade_id=f"{_get(trade, 'trade_id')}:{prefix}", side=side, price=price, qty=qty,
                fee=fee_rate, fee_asset=quote, liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
                ts=_ms(_int(trade.get("timestamp", 0), "timestamp")), recv_ts=recv_ts)


# --- market data -------------------------------------------------------------------------------------


def _levels(rows: Iterable[dict[str, Any]], size_key: str) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((_dec(_get(r, "price"), "price"), _dec(_get(r, size_key), size_key)) for r in rows)


def to_depth(venue: str, spec: MarketSpec, answer: dict[str, Any], now: int) -> Depth:
    """Return an ``orderBookOrders`` answer as a `Depth` (orders aggregated per price)."""
    def aggregate(rows: list[dict[str, Any]], reverse: bool) -> tuple[tuple[Decimal, Decimal], ...]:
        sums: dict[Decimal, Decimal] = {}
        for price, size in _levels(rows, "remaining_base_amount"):
            sums[price] = sums.get(price, ZERO) + size
        return tuple(sorted(sums.items(), reverse=reverse))

    bids, asks = _get(answer, "bids"), _get(answer, "asks")
    if not isinstance(bids, list) or not isinstance(asks, list):
        raise LighterParseError("bids/asks are not lists")
    return Depth(venue=venue, symbol=spec.symbol, bids=aggregate(bids, True), asks=aggregate(asks, False),
                 seq=0, ts=now, recv_ts=now)


def to_klines(venue: str, spec: MarketSpec, interval: str, answer: dict[str, Any], now: int,
              interval_ms: int) -> list[Kline]:
    rows = _get(answer, "c")
    if not isinstance(rows, list):
        raise LighterParseError("candles 'c' is not a list")
    out = []
    for row in rows:
        open_ts = _ms(_int(_get(row, "t"), "t"))
        out.append(Kline(venue=venue, symbol=spec.symbol, interval=interval, open_ts=open_ts,
                         open=_dec(_get(row, "o"), "o"), high=_dec(_get(row, "h"), "h"), low=_dec(_get(row, "l"), "l"),
                         close=_dec(_get(row, "c"), "c"), volume=_dec(row.get("v", 0), "v"),
                         closed=open_ts + interval_ms <= now))
    return out


def to_ticker(venue: str, spec: MarketSpec, details: dict[str, Any], now: int) -> Ticker:
    """Return a market's ``orderBookDetails`` row as a `Ticker` (its daily_* statistics)."""
    last = _dec(_get(details, "last_trade_price"), "last_trade_price")
    return Ticker(venue=venue, symbol=spec.symbol, last=last,
                  open=last - _dec(details.get("daily_price_change", 0), "daily_price_change"),
                  high=_dec(details.get("daily_price_high", last), "daily_price_high"),
                  low=_dec(details.get("daily_price_low", last), "daily_price_low"),
                  volume=_dec(details.get("daily_base_token_volume", 0), "daily_base_token_volume"),
                  quote_volume=_dec(details.get("daily_quote_token_volume", 0), "daily_quote_token_volume"), ts=now)


# --- account -----------------------------------------------------------------------------------------


def to_balances(venue: str, account: dict[str, Any], quote: str, now: int) -> list[Balance]:
    collateral = _dec(account.get("collateral", "0"), "collateral")
    available = _dec(account.get("available_balance", collateral), "available_balance")
    return [Balance(venue=venue, asset=quote, free=available, locked=max(collateral - available, ZERO), ts=now)]


def to_positions(venue: str, account: dict[str, Any], spec_of: Callable[[int], MarketSpec | None],
                 now: int) -> list[Position]:
    out = []
    for row in account.get("positions") or []:
        spec = spec_of(_int(_get(row, "market_id"), "market_id"))
        if spec is None:
            continue
        size = _dec(_get(row, "position"), "position")
        sign = _int(row.get("sign", 1), "sign")
        qty = size if sign >= 0 else -size
        fraction = _dec(row.get("initial_margin_fraction", "0") or "0", "initial_margin_fraction")
        leverage = int(Decimal(100) / fraction) if fraction > 0 else 0
        value = _dec(row.get("position_value", "0"), "position_value")
        mark = (value / size) if size else ZERO
        out.append(Position(venue=venue, symbol=spec.symbol, qty=qty,
                            entry_price=_dec(row.get("avg_entry_price", "0"), "avg_entry_price"), mark_price=mark,
                            unrealized_pnl=_dec(row.get("unrealized_pnl", "0"), "unrealized_pnl"), leverage=leverage,
                            margin_type=MarginType.ISOLATED if _int(row.get("margin_mode", 0), "margin_mode") == 1
                            else MarginType.CROSS, ts=now))
    return out
