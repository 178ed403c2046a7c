"""OKX JSON shapes of the sim's market data: REST rows and WebSocket push items. Pure.

Fact sheet §4 (REST) and §6 (channels): every value is a string; sizes are in contracts on SWAP and in
base currency on SPOT (the caller converts with `OkxInstrument.to_sz`). Candle rows are
``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``, newest first.

Bars: OKX's ``1m 5m 15m 1H 4H`` are the sim's intervals; ``1D``/``1Dutc`` both serve the sim's UTC day
(OKX aligns ``1D`` to UTC+8: a documented difference of the dialect).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.events import Kline, MarkPrice, Ticker, Trade
from gateway.simserver.okx.instruments import OkxInstrument

__all__ = ["BARS", "candle_row", "funding_item", "mark_item", "s", "ticker_item", "trade_item"]

BARS: dict[str, str] = {"1m": "1m", "5m": "5m", "15m": "15m", "1H": "1h", "4H": "4h", "1D": "1d", "1Dutc": "1d"}
_ZERO = Decimal(0)


def s(value: Decimal | None) -> str:
    """A Decimal as OKX sends it: plain notation, "" when absent."""
    if value is None:
        return ""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def ticker_item(inst: OkxInstrument, ticker: Ticker | None, last_trade: Trade | None,
                bbo: tuple[Decimal | None, ...], now_ms: int) -> dict[str, Any]:
    """A ``market/ticker`` row and ``tickers`` push item."""
    bid, bid_qty, ask, ask_qty = (bbo + (None, None, None, None))[:4]
    volume = ticker.volume if ticker else _ZERO
    quote_volume = ticker.quote_volume if ticker else _ZERO
    return {
        "instType": inst.inst_type, "instId": inst.inst_id,
        "last": s(ticker.last if ticker else None), "lastSz": s(inst.to_sz(last_trade.qty)) if last_trade else "",
        "askPx": s(ask), "askSz": s(inst.to_sz(ask_qty)) if ask_qty is not None else "",
        "bidPx": s(bid), "bidSz": s(inst.to_sz(bid_qty)) if bid_qty is not None else "",
        "open24h": s(ticker.open if ticker else None), "high24h": s(ticker.high if ticker else None),
        "low24h": s(ticker.low if ticker else None),
        "sodUtc0": s(ticker.open if ticker else None), "sodUtc8": s(ticker.open if ticker else None),
        # vol24h: contracts (SWAP) / base (SPOT); volCcy24h: base (SWAP) / quote (SPOT) — fact sheet §4
        "vol24h": s(inst.to_sz(volume)), "volCcy24h": s(volume if inst.is_swap else quote_volume),
        "ts": str(now_ms),
    }


def trade_item(inst: OkxInstrument, trade: Trade) -> dict[str, Any]:
    """A ``market/trades`` row and ``trades`` push item (``side`` is the taker's)."""
    return {"instId": inst.inst_id, "tradeId": str(trade.id), "px": s(trade.price),
            "sz": s(inst.to_sz(trade.qty)), "side": str(trade.side), "ts": str(trade.ts), "count": "1"}


def candle_row(inst: OkxInstrument, kline: Kline) -> list[str]:
    volume = kline.volume
    quote = volume * kline.close  # the sim keeps no per-bar quote volume: close * volume approximates it
    return [str(kline.open_ts), s(kline.open), s(kline.high), s(kline.low), s(kline.close),
            s(inst.to_sz(volume)), s(volume if inst.is_swap else quote), s(quote), "1" if kline.closed else "0"]


def mark_item(inst: OkxInstrument, mark: Decimal, ts: int) -> dict[str, Any]:
    return {"instType": inst.inst_type, "instId": inst.inst_id, "markPx": s(mark), "ts": str(ts)}


def funding_item(inst: OkxInstrument, mark: MarkPrice, now_ms: int, interval_ms: int) -> dict[str, Any]:
    """A ``public/funding-rate`` row and ``funding-rate`` push item."""
    return {
        "instType": "SWAP", "instId": inst.inst_id, "fundingRate": s(mark.funding_rate),
        "fundingTime": str(mark.next_funding_ts), "nextFundingTime": str(mark.next_funding_ts + interval_ms),
        "minFundingRate": "-0.0075", "maxFundingRate": "0.0075", "settFundingRate": s(mark.funding_rate),
        "settState": "settled", "premium": "0", "method": "current_period", "formulaType": "withRate",
        "impactValue": "", "interestRate": "0", "sett": "", "ts": str(now_ms),
    }
