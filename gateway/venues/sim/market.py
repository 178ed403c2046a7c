"""The synthetic market of the sim exchange: house makers and takers trading around a random walk. Pure.

Reproducible: each symbol draws from its own ``random.Random(f"{seed}:{symbol}")``, and time comes in as
`now_ms`, so the same seed and the same step times give the same events.

Each `SyntheticMarket.step` moves one symbol's mid by a log-normal step (``volatility``, with a weak pull
back to the start price), re-quotes the makers (``depth_levels`` orders per side on a fixed grid of
1 bp spacing around the mid, replacing those that filled or fell on the wrong side), sometimes lets a
taker send a market order, and, for perps, moves the mark price (the mid smoothed), the index price
(smoothed slower) and the funding rate, paying funding every 8 hours. It returns the engine events
and the market events (`gateway.core.events`) to publish.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.core.enums import MarketType, OrderType, Side
from gateway.core.events import Bbo, Depth, Kline, MarketEvent, MarkPrice, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.symbols import parse_symbol
from gateway.venues.sim.candles import CandleSeries
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from gateway.venues.sim.matching import BookEvent, EngineEvent, MatchingEngine, OrderRefused, TradeEvent

__all__ = [
    "HOUSE", "PUBLISHED_DEPTH", "StepResult", "SyntheticMarket", "build_engine", "build_instrument", "build_instruments",
]

HOUSE = "house"
PUBLISHED_DEPTH = 50
FUNDING_INTERVAL_MS = 8 * 3_600_000
_TAKER_PROBABILITY = 0.6
_LEVEL_NOTIONAL = 20_000.0  # average notional a maker quotes per level, in quote units
_MEAN_REVERSION = 1e-6  # per step, on the log distance from the start price
_MARK_ALPHA = 0.3
_INDEX_ALPHA = 0.05
_RATE_STEP = Decimal("1e-8")
_BASE_FUNDING = 0.0001


def build_instrument(venue: str, spec: SimSymbolSettings) -> Instrument:
    """Return the instrument `spec` describes, named for `venue`."""
    parsed = parse_symbol(spec.symbol)
    return Instrument(
        venue=venue, symbol=spec.symbol, native=spec.native_name, base=parsed.base, quote=parsed.quote,
        type=parsed.market_type, tick_size=spec.tick_size, step_size=spec.step_size, min_qty=spec.min_qty,
        min_notional=spec.min_notional, settle=parsed.settle,
    )


def build_instruments(venue: str, settings: SimSettings) -> list[Instrument]:
    """Return the instruments `settings` lists, named for `venue`."""
    return [build_instrument(venue, spec) for spec in settings.symbols]


def build_engine(venue: str, settings: SimSettings) -> MatchingEngine:
    """Return an engine with `settings`' instruments, the house account and account `venue` funded."""
    engine = MatchingEngine(build_instruments(venue, settings), settings.maker_fee, settings.taker_fee,
                            settings.default_leverage)
    engine.open_account(HOUSE, house=True)
    engine.open_account(venue, dict(settings.balances))
    return engine


@dataclass(slots=True)
class StepResult:
    engine_events: list[EngineEvent] = field(default_factory=list)
    market_events: list[MarketEvent] = field(default_factory=list)


class _Feed:
    """The synthetic state of one symbol."""

    def __init__(self, venue: str, spec: SimSymbolSettings, instrument: Instrument, seed: int, levels: int,
                 start_price: Decimal):
        self.instrument = instrument
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.volatility = spec.volatility
        self.start = float(start_price)
        self.mid = self.start
        self.tick = instrument.tick_size
        self.tick_f = float(instrument.tick_size)
        self.step_f = float(instrument.step_size)
        self.min_units = max(1, math.ceil(float(instrument.min_qty) / self.step_f))
        self.spacing = max(1, round(self.start * 0.0001 / self.tick_f))
        self.levels = levels
        self.bids: dict[int, str] = {}  # price in ticks -> house order id
        self.asks: dict[int, str] = {}
        self.candles = CandleSeries(venue, spec.symbol)
        self.trades: deque[Trade] = deque(maxlen=1_000)
        self.bbo: tuple[Decimal | None, ...] = ()
        self.depth_seq = -1
        self.is_perp = instrument.type is MarketType.PERP
        self.mark = self.index = self.start
        self.mark_price: Decimal | None = None
        self.index_price: Decimal | None = None
        self.funding_rate = Decimal(0)
        self.next_funding_ts = 0

    def price(self, ticks: int) -> Decimal:
        return Decimal(ticks) * self.tick

    def size(self, price_f: float, scale: float) -> Decimal:
        units = int(_LEVEL_NOTIONAL * scale / price_f / self.step_f)
        return Decimal(max(self.min_units, units)) * self.instrument.step_size


class SyntheticMarket:
    """Drives every symbol of an engine with house liquidity and turns engine output into market events.

    Args:
        venue: the venue name market events carry.
        settings: the symbols, seed and depth.
        engine: the engine to trade on (its house account is opened here).
        start_prices: where each symbol's random walk starts and reverts to, instead of the configured
            ``start_price`` (a restart continues from the last traded price).
    """

    def __init__(self, venue: str, settings: SimSettings, engine: MatchingEngine,
                 start_prices: dict[str, Decimal] | None = None):
        self.venue = venue
        self.engine = engine
        self._seed = settings.seed
        self._levels = settings.depth_levels
        engine.open_account(HOUSE, house=True)
        starts = start_prices or {}
        self.feeds = {
            spec.symbol: _Feed(venue, spec, engine.instruments[spec.symbol], settings.seed, settings.depth_levels,
                               starts.get(spec.symbol, spec.start_price))
            for spec in settings.symbols
        }

    def add_symbol(self, spec: SimSymbolSettings) -> None:
        """Drive `spec`'s symbol too, from its ``start_price``; the engine must trade it already."""
        if spec.symbol in self.feeds:
            raise ValueError(f"{spec.symbol!r} is driven already")
        self.feeds[spec.symbol] = _Feed(self.venue, spec, self.engine.instruments[spec.symbol], self._seed,
                                        self._levels, spec.start_price)

    def step(self, symbol: str, now_ms: int) -> StepResult:
        """Advance `symbol` by one step at `now_ms`; return what the engine and the market emitted."""
        feed = self.feeds[symbol]
        engine = self.engine
        rng = feed.rng
        result = StepResult()
        events = result.engine_events
        drift = -_MEAN_REVERSION * math.log(feed.mid / feed.start)
        feed.mid *= math.exp(drift + feed.volatility * rng.gauss(0.0, 1.0))
        if feed.is_perp:
            events += self._move_mark(feed, now_ms)
        events += self._requote(feed, now_ms)
        if rng.random() < _TAKER_PROBABILITY:
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            qty = feed.size(feed.mid, rng.uniform(0.05, 1.2))
            events += engine.place(HOUSE, symbol, side, OrderType.MARKET, qty, now_ms)
        result.market_events = self.publish(symbol, events, now_ms, stepped=True)
        return result

    def prewarm(self, now_ms: int, steps: int = 300, spacing_ms: int = 60_000,
                symbols: list[str] | None = None) -> None:
        """Run `steps` steps of every symbol (or of `symbols`) at back-dated times ending at `now_ms`
        (fills klines)."""
        for i in range(steps, 0, -1):
            for symbol in (self.feeds if symbols is None else symbols):
                self.step(symbol, now_ms - i * spacing_ms)

    def observe(self, events: list[EngineEvent], now_ms: int) -> list[MarketEvent]:
        """Return the market events caused by engine `events` from outside the market (gateway orders)."""
        by_symbol: dict[str, list[EngineEvent]] = {}
        for event in events:
            if type(event) is TradeEvent or type(event) is BookEvent:
                by_symbol.setdefault(event.symbol, []).append(event)
        published: list[MarketEvent] = []
        for symbol, found in by_symbol.items():
            published += self.publish(symbol, found, now_ms, stepped=False)
        return published

    def publish(self, symbol: str, events: list[EngineEvent], now_ms: int, stepped: bool) -> list[MarketEvent]:
        """Turn one symbol's engine `events` into market events and fold its trades into the candles."""
        feed = self.feeds[symbol]
        venue = self.venue
        out: list[MarketEvent] = []
        prints = []
        for event in events:
            if type(event) is TradeEvent:
                trade = Trade(venue, symbol, event.trade_id, event.price, event.qty, event.taker_side, event.ts,
                              now_ms)
                out.append(trade)
                feed.trades.append(trade)
                prints.append((event.price, event.qty))
        seq = self.engine.book_seq(symbol)
        if seq != feed.depth_seq:
            feed.depth_seq = seq
            bids, asks, _ = self.engine.depth(symbol, PUBLISHED_DEPTH)
            out.append(Depth(venue, symbol, bids, asks, seq, now_ms, now_ms))
            bbo = self.engine.bbo(symbol)
            if bbo != feed.bbo:
                feed.bbo = bbo
                out.append(Bbo(venue, symbol, bbo[0], bbo[1], bbo[2], bbo[3], now_ms, now_ms))
        if stepped or prints:
            out += feed.candles.update(now_ms, prints)
        if prints:
            ticker = feed.candles.ticker(now_ms)
            if ticker is not None:
                out.append(ticker)
        if stepped and feed.is_perp and feed.mark_price is not None:
            out.append(MarkPrice(venue, symbol, feed.mark_price, feed.index_price or feed.mark_price,
                                 feed.funding_rate, feed.next_funding_ts, now_ms))
        return out

    # --- queries ------------------------------------------------------------------------------------

    def ticker(self, symbol: str, now_ms: int) -> Ticker | None:
        return self.feeds[symbol].candles.ticker(now_ms)

    def klines(self, symbol: str, interval: str, limit: int, start: int | None = None,
               end: int | None = None) -> list[Kline]:
        return self.feeds[symbol].candles.klines(interval, limit, start, end)

    def recent_trades(self, symbol: str, limit: int) -> list[Trade]:
        trades = self.feeds[symbol].trades
        return list(trades)[-limit:] if limit > 0 else []

    def mark(self, symbol: str) -> MarkPrice | None:
        feed = self.feeds[symbol]
        if feed.mark_price is None:
            return None
        return MarkPrice(self.venue, symbol, feed.mark_price, feed.index_price or feed.mark_price,
                         feed.funding_rate, feed.next_funding_ts, 0)

    # --- internals ----------------------------------------------------------------------------------

    def _move_mark(self, feed: _Feed, now_ms: int) -> list[EngineEvent]:
        feed.mark += _MARK_ALPHA * (feed.mid - feed.mark)
        feed.index += _INDEX_ALPHA * (feed.mid - feed.index)
        premium = (feed.mark - feed.index) / feed.index
        rate = max(-0.0075, min(0.0075, _BASE_FUNDING + premium))
        feed.funding_rate = Decimal(round(rate * 1e8)) * _RATE_STEP
        feed.index_price = feed.price(round(feed.index / feed.tick_f))
        symbol = feed.instrument.symbol
        events: list[EngineEvent] = []
        if not feed.next_funding_ts:
            feed.next_funding_ts = now_ms - now_ms % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS
        while now_ms >= feed.next_funding_ts:
            events += self.engine.apply_funding(symbol, feed.funding_rate, now_ms)
            feed.next_funding_ts += FUNDING_INTERVAL_MS
        mark = feed.price(round(feed.mark / feed.tick_f))
        if mark != feed.mark_price:
            feed.mark_price = mark
            events += self.engine.on_mark(symbol, mark, now_ms)
        return events

    def _requote(self, feed: _Feed, now_ms: int) -> list[EngineEvent]:
        engine = self.engine
        symbol = feed.instrument.symbol
        spacing, levels = feed.spacing, feed.levels
        mid = round(feed.mid / feed.tick_f)
        top_bid = ((mid - 1) // spacing) * spacing
        low_bid = max(spacing, top_bid - (levels - 1) * spacing)
        top_ask = (mid // spacing + 1) * spacing
        high_ask = top_ask + (levels - 1) * spacing
        events: list[EngineEvent] = []
        for quotes, low, high in ((feed.bids, low_bid, top_bid), (feed.asks, top_ask, high_ask)):
            for ticks, order_id in list(quotes.items()):
                if low <= ticks <= high and engine.is_open(order_id):
                    continue
                del quotes[ticks]
                if engine.is_open(order_id):
                    events += engine.cancel(HOUSE, now_ms, order_id=order_id)
        rng = feed.rng
        for quotes, low, high, side in ((feed.bids, low_bid, top_bid, Side.BUY),
                                        (feed.asks, top_ask, high_ask, Side.SELL)):
            for ticks in range(low, high + 1, spacing):
                if ticks in quotes or ticks <= 0:
                    continue
                qty = feed.size(ticks * feed.tick_f, rng.uniform(0.3, 1.7))
                try:
                    placed = engine.place(HOUSE, symbol, side, OrderType.LIMIT, qty, now_ms, price=feed.price(ticks))
                except OrderRefused:  # cannot happen for the house; keep the market running regardless
                    continue
                events += placed
                if engine.is_open(engine.last_order_id):
                    quotes[ticks] = engine.last_order_id
        return events
