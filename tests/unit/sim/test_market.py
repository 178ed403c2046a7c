"""The synthetic market: reproducible from its seed, keeps a sane book, candles that match the tape."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gateway.core.enums import OrderType, Side
from gateway.core.events import Bbo, Depth, Kline, MarkPrice, Ticker, Trade
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import HOUSE, SyntheticMarket, build_engine
from gateway.venues.sim.matching import MatchingEngine

T0 = 1_700_000_000_000
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"


def new_market(seed: int = 7, depth_levels: int = 10) -> tuple[SyntheticMarket, MatchingEngine]:
    settings = SimSettings(seed=seed, depth_levels=depth_levels)
    engine = build_engine("sim", settings)
    return SyntheticMarket("sim", settings, engine), engine


def run(market: SyntheticMarket, steps: int, spacing_ms: int = 1_000) -> list:
    events: list = []
    for i in range(steps):
        for symbol in market.feeds:
            result = market.step(symbol, T0 + i * spacing_ms)
            events += result.engine_events
            events += result.market_events
    return events


def test_same_seed_gives_the_same_events() -> None:
    first, _ = new_market(seed=3)
    second, _ = new_market(seed=3)
    assert run(first, 150) == run(second, 150)


def test_different_seeds_give_different_markets() -> None:
    first, _ = new_market(seed=3)
    second, _ = new_market(seed=4)
    trades = [[e for e in run(m, 150) if type(e) is Trade] for m in (first, second)]
    assert trades[0] != trades[1]


def test_book_stays_uncrossed_and_populated() -> None:
    market, engine = new_market(depth_levels=10)
    for i in range(400):
        for symbol in market.feeds:
            market.step(symbol, T0 + i * 50)
            bids, asks, _ = engine.depth(symbol, 50)
            assert bids[0][0] < asks[0][0]
            assert len(bids) >= 5 and len(asks) >= 5
            assert len(bids) <= 10 + 1 and len(asks) <= 10 + 1  # one level may be a partly-hit leftover


def test_depth_sequence_increases_and_bbo_is_published_only_on_change() -> None:
    market, _ = new_market()
    events = run(market, 200, spacing_ms=50)
    for symbol in market.feeds:
        seqs = [e.seq for e in events if type(e) is Depth and e.symbol == symbol]
        assert seqs == sorted(set(seqs)) and len(seqs) > 100
        assert all(len(e.bids) <= 50 for e in events if type(e) is Depth)
        bbos = [(e.bid, e.bid_qty, e.ask, e.ask_qty) for e in events if type(e) is Bbo and e.symbol == symbol]
        assert all(a != b for a, b in zip(bbos, bbos[1:]))


@pytest.mark.parametrize("symbol", [SPOT, PERP])
def test_ticker_and_klines_match_the_trades(symbol: str) -> None:
    market, _ = new_market()
    events = run(market, 400, spacing_ms=1_000)  # 400 s: several 1m and 5m bars
    trades = [e for e in events if type(e) is Trade and e.symbol == symbol]
    assert len(trades) > 100
    ticker = market.ticker(symbol, T0 + 400_000)
    assert ticker is not None
    assert ticker.last == trades[-1].price
    assert ticker.volume == sum(t.qty for t in trades)
    assert ticker.quote_volume == sum(t.qty * t.price for t in trades)
    assert (ticker.high, ticker.low) == (max(t.price for t in trades), min(t.price for t in trades))
    assert ticker.open == trades[0].price
    assert sum(1 for e in events if type(e) is Ticker and e.symbol == symbol) <= 400
    for interval, span in (("1m", 60_000), ("5m", 300_000)):
        klines = market.klines(symbol, interval, 500)
        assert [k.closed for k in klines] == [True] * (len(klines) - 1) + [False]
        assert sum(k.volume for k in klines) == ticker.volume
        for kline in klines:
            inside = [t for t in trades if kline.open_ts <= t.ts < kline.open_ts + span]
            if inside:
                assert (kline.high, kline.low, kline.close) == (
                    max(t.price for t in inside), min(t.price for t in inside), inside[-1].price)
    published = [e for e in events if type(e) is Kline and e.symbol == symbol and e.interval == "1m" and e.closed]
    assert [k.open_ts for k in published] == [k.open_ts for k in market.klines(symbol, "1m", 500)[:-1]]


def test_perp_mark_price_and_funding_flow() -> None:
    market, engine = new_market()
    events = run(market, 100, spacing_ms=100)
    marks = [e for e in events if type(e) is MarkPrice]
    assert marks and all(e.symbol == PERP for e in marks)
    bid, _, ask, _ = engine.bbo(PERP)
    assert bid is not None and ask is not None
    assert abs(marks[-1].mark_price - (bid + ask) / 2) / marks[-1].mark_price < D("0.01")
    assert all(abs(m.funding_rate) <= D("0.0075") and m.next_funding_ts > m.ts for m in marks)


def test_mark_moves_feed_the_unrealized_pnl_of_positions() -> None:
    market, engine = new_market()
    run(market, 20)
    engine.place("sim", PERP, Side.BUY, OrderType.MARKET, D("0.5"), T0 + 20_000)
    pnl = []
    for i in range(21, 60):
        result = market.step(PERP, T0 + i * 1_000)
        pnl += [e.unrealized_pnl for e in result.engine_events if getattr(e, "account", None) == "sim"
                and hasattr(e, "unrealized_pnl")]
    assert len(set(pnl)) > 3


def test_gateway_trades_reach_the_tape_and_the_candles() -> None:
    market, engine = new_market()
    run(market, 20)
    volume = market.ticker(SPOT, T0 + 20_000).volume  # type: ignore[union-attr]
    events = engine.place("sim", SPOT, Side.BUY, OrderType.MARKET, D("0.5"), T0 + 20_500)
    published = market.observe(events, T0 + 20_500)
    assert sum(e.qty for e in published if type(e) is Trade) == D("0.5")
    assert any(type(e) is Depth for e in published)
    assert market.ticker(SPOT, T0 + 20_500).volume == volume + D("0.5")  # type: ignore[union-attr]


def test_house_account_is_exempt_and_gateway_account_is_funded() -> None:
    _, engine = new_market()
    assert engine.ledger.accounts[HOUSE].house
    assert engine.balance_of("sim", "USDT") == (D(100_000), D(0))


def test_prewarm_fills_book_ticker_and_kline_history() -> None:
    market, engine = new_market()
    market.prewarm(T0, steps=120, spacing_ms=60_000)
    for symbol in market.feeds:
        assert engine.bbo(symbol)[0] is not None
        assert market.ticker(symbol, T0) is not None
        assert len(market.klines(symbol, "1m", 500)) >= 100
        assert market.recent_trades(symbol, 10)
