"""OKX market data (REST answers and WS pushes share field names) -> normalized market events. Pure.

Fact sheet §4 (REST) and §6 (channels). Rows are dicts as decoded by orjson; a missing or malformed
field raises `MalformedRow` (a ValueError) so the shell logs the frame and loses nothing else.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.core.enums import Side
from gateway.core.events import Bbo, Kline, MarkPrice, Ticker, Trade

__all__ = [
    "BARS",
    "MalformedRow",
    "dec",
    "opt_dec",
    "to_bbo",
    "to_kline",
    "to_mark_price",
    "to_ticker",
    "to_trade",
]

# Gateway kline interval -> OKX bar (UTC-aligned where OKX offers both; fact sheet §4 "bar values").
BARS = {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1H", "4h": "4H", "1d": "1Dutc"}


class MalformedRow(ValueError):
    """A venue row lacks a field or has one of the wrong type."""


def dec(row: dict[str, Any], field: str) -> Decimal:
    """Return ``row[field]`` as a Decimal. Raises MalformedRow."""
    try:
        return Decimal(str(row[field]))
    except (KeyError, InvalidOperation, TypeError) as exc:
        raise MalformedRow(f"field {field!r} missing or not a number in {str(row)[:200]}") from exc


def opt_dec(row: dict[str, Any], field: str) -> Decimal | None:
    """Return ``row[field]`` as a Decimal, or None when absent or empty ("")."""
    value = row.get(field)
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedRow(f"field {field!r} is not a number: {value!r}") from exc


def ms(row: dict[str, Any], field: str = "ts", default: int | None = None) -> int:
    """Return ``row[field]`` as integer ms. Raises MalformedRow."""
    value = row.get(field)
    if (value is None or value == "") and default is not None:
        return default
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise MalformedRow(f"field {field!r} is not a timestamp: {value!r}") from exc


def to_ticker(row: dict[str, Any], venue: str, symbol: str) -> Ticker:
    """``tickers`` push or ``/market/ticker`` row -> Ticker (volume: vol24h, quote: spot volCcy24h)."""
    last = dec(row, "last")
    return Ticker(venue, symbol, last, opt_dec(row, "open24h") or last, opt_dec(row, "high24h") or last,
                  opt_dec(row, "low24h") or last, opt_dec(row, "vol24h") or Decimal(0),
                  opt_dec(row, "volCcy24h") or Decimal(0), ms(row))


def to_bbo(row: dict[str, Any], venue: str, symbol: str, recv_ts: int) -> Bbo:
    """``tickers`` row (bidPx/askPx) -> Bbo."""
    return Bbo(venue, symbol, opt_dec(row, "bidPx"), opt_dec(row, "bidSz"), opt_dec(row, "askPx"),
               opt_dec(row, "askSz"), ms(row), recv_ts)


def bbo_from_levels(row: dict[str, Any], venue: str, symbol: str, recv_ts: int) -> Bbo:
    """``bbo-tbt`` / ``books5`` row (bids/asks arrays) -> Bbo."""
    bids, asks = row.get("bids") or [], row.get("asks") or []
    try:
        bid = (Decimal(bids[0][0]), Decimal(bids[0][1])) if bids else (None, None)
        ask = (Decimal(asks[0][0]), Decimal(asks[0][1])) if asks else (None, None)
    except (InvalidOperation, IndexError, TypeError) as exc:
        raise MalformedRow(f"bad levels in {str(row)[:200]}") from exc
    return Bbo(venue, symbol, bid[0], bid[1], ask[0], ask[1], ms(row), recv_ts)


def to_trade(row: dict[str, Any], venue: str, symbol: str, recv_ts: int) -> Trade:
    """``trades`` push or ``/market/trades`` row -> Trade (``side`` is the taker's)."""
    side = row.get("side")
    if side not in ("buy", "sell"):
        raise MalformedRow(f"trade side {side!r}")
    return Trade(venue, symbol, str(row.get("tradeId") or ""), dec(row, "px"), dec(row, "sz"),
                 Side.BUY if side == "buy" else Side.SELL, ms(row), recv_ts)


def to_kline(row: list[Any], venue: str, symbol: str, interval: str) -> Kline:
    """Candle row ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` -> Kline."""
    if not isinstance(row, list) or len(row) < 6:
        raise MalformedRow(f"candle row {str(row)[:120]}")
    try:
        return Kline(venue, symbol, interval, int(row[0]), Decimal(row[1]), Decimal(row[2]), Decimal(row[3]),
                     Decimal(row[4]), Decimal(row[5]), len(row) > 8 and str(row[8]) == "1")
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise MalformedRow(f"candle row {str(row)[:120]}") from exc


def to_mark_price(row: dict[str, Any], venue: str, symbol: str, funding: dict[str, Any] | None) -> MarkPrice:
    """``mark-price`` row, with the last ``funding-rate`` row of the instrument (if any) -> MarkPrice."""
    mark = dec(row, "markPx")
    funding = funding or {}
    return MarkPrice(venue, symbol, mark, opt_dec(row, "idxPx") or mark,
                     opt_dec(funding, "fundingRate") or Decimal(0),
                     ms(funding, "nextFundingTime", default=0) or ms(funding, "fundingTime", default=0), ms(row))
