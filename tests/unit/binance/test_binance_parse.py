"""Table-driven: fixture frames -> wire structs -> the gateway's events. No event loop."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from binance_fixtures import load

from gateway.core.enums import Side
from gateway.core.events import Bbo, Kline, MarkPrice, Trade
from gateway.venues.binance import parse
from gateway.venues.binance.schemas import (
    ControlReply,
    DepthUpdate,
    StreamFrame,
    decode_depth_snapshot,
    decode_kline_rows,
    decode_market_message,
    decode_rest_trades,
    decode_server_time,
    decode_stream_frame,
    decode_ticker_24h,
)

RECV = 1_700_000_000_999


def _message(name: str, channel: str):
    frame = decode_stream_frame(load("ws", name))
    assert isinstance(frame, StreamFrame)
    return decode_market_message(frame.data, channel)


@pytest.mark.parametrize(
    ("name", "channel", "to_event", "expected"),
    [
        ("trade_spot", "trade", lambda m: parse.to_trade(m, "bn", "BTC/USDT", RECV),
         Trade("bn", "BTC/USDT", "12345", D("0.001"), D(100), Side.SELL, 1700000000120, RECV)),
        ("agg_trade_usdm", "aggTrade", lambda m: parse.to_trade(m, "bn", "BTC/USDT:USDT", RECV),
         Trade("bn", "BTC/USDT:USDT", "5933014", D("0.001"), D(100), Side.BUY, 1700000000120, RECV)),
        ("book_ticker_spot", "bookTicker", lambda m: parse.to_bbo(m, "bn", "BNB/USDT", RECV),
         Bbo("bn", "BNB/USDT", D("25.3519"), D("31.21"), D("25.3652"), D("40.66"), RECV, RECV)),
        ("book_ticker_usdm", "bookTicker", lambda m: parse.to_bbo(m, "bn", "BTC/USDT:USDT", RECV),
         Bbo("bn", "BTC/USDT:USDT", D("25.3519"), D("31.21"), D("25.3652"), D("40.66"), 1568014460891, RECV)),
        ("kline_spot", "kline", lambda m: parse.to_kline(m, "bn", "BTC/USDT"),
         Kline("bn", "BTC/USDT", "1m", 1699999980000, D("0.0010"), D("0.0025"), D("0.0015"), D("0.0020"), D(1000),
               False)),
        ("mark_price_usdm", "markPriceUpdate", lambda m: parse.to_mark_price(m, "bn", "BTC/USDT:USDT"),
         MarkPrice("bn", "BTC/USDT:USDT", D("11794.15"), D("11784.62659091"), D("0.00038167"), 1562306400000,
                   1562305380000)),
    ],
)
def test_stream_frames_become_events(name: str, channel: str, to_event, expected) -> None:
    assert to_event(_message(name, channel)) == expected


@pytest.mark.parametrize(
    ("name", "U", "u", "pu", "bids", "asks"),
    [
        ("depth_update_spot", 157, 160, None, [(D("0.0024"), D(10)), (D("0.0023"), D(0))],
         [(D("0.0026"), D(100))]),
        ("depth_update_usdm", 390497796, 390497878, 390497794, [(D("7403.89"), D("0.002")), (D("7403.90"), D("3.906"))],
         [(D("7405.96"), D("3.340")), (D("7406.63"), D(0))]),
    ],
)
def test_depth_updates_keep_their_ids_and_levels(name, U, u, pu, bids, asks) -> None:
    msg = _message(name, "depthUpdate")
    assert isinstance(msg, DepthUpdate)
    assert (msg.U, msg.u, msg.pu) == (U, u, pu)
    assert parse.to_levels(msg.b) == bids
    assert parse.to_levels(msg.a) == asks


@pytest.mark.parametrize(("name", "result", "error"), [
    ("subscribe_reply", None, None),
    ("control_error", None, {"code": 2, "msg": "Invalid request: unknown method 'SUBSCRIBED'"}),
])
def test_control_replies(name: str, result, error) -> None:
    reply = decode_stream_frame(load("ws", name))
    assert isinstance(reply, ControlReply)
    assert (reply.result, reply.error) == (result, error)


def test_unknown_event_types_are_ignored() -> None:
    assert decode_market_message({"e": "forceOrder", "E": 1}, "forceOrder") is None


@pytest.mark.parametrize(("name", "last_id", "ts"), [("depth_spot", 1027024, None), ("depth_usdm", 1027024, 1589436922959)])
def test_depth_snapshots(name: str, last_id: int, ts) -> None:
    snap = decode_depth_snapshot(load("http", name))
    assert (snap.lastUpdateId, snap.T) == (last_id, ts)
    assert parse.to_levels(snap.bids) == [(D(4), D(431))]


def test_rest_trades_klines_ticker_time() -> None:
    trades = parse.to_rest_trades(decode_rest_trades(load("http", "trades_spot")), "bn", "BNB/BTC", RECV)
    assert trades == [Trade("bn", "BNB/BTC", "28457", D("4.000001"), D(12), Side.SELL, 1499865549590, RECV)]
    rows = decode_kline_rows(load("http", "klines_spot"))
    klines = parse.to_klines(rows, "bn", "ETH/BTC", "1d", now_ms=1499644799999)
    assert klines[0].open == D("0.0163479") and not klines[0].closed
    assert parse.to_klines(rows, "bn", "ETH/BTC", "1d", now_ms=1499644800000)[0].closed
    ticker = parse.to_ticker(decode_ticker_24h(load("http", "ticker_24h_spot")), "bn", "BNB/BTC")
    assert (ticker.last, ticker.open, ticker.volume, ticker.ts) == (D("4.000002"), D(99), D("8913.3"), 1499869899040)
    assert decode_server_time(load("http", "time")).serverTime == 1499827319559


def test_an_empty_book_side_has_no_bbo_price() -> None:
    msg = decode_market_message({"u": 1, "s": "X", "b": "0", "B": "0", "a": "2", "A": "1"}, "bookTicker")
    bbo = parse.to_bbo(msg, "bn", "X/Y", RECV)
    assert (bbo.bid, bbo.bid_qty, bbo.ask) == (None, None, D(2))
