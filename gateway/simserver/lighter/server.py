"""`LighterFake`: Lighter's REST (``/api/v1/...``) and WebSocket (``/stream``) over the sim engine.

- sendTx takes the form fields ``tx_type`` / ``tx_info``; the tx is decoded and checked (`txcheck`):
  registered key, signature envelope, expiry, the exact next nonce (else 400 code 21104), order rules.
  An accepted tx consumes its nonce and answers ``{code: 200, tx_hash}`` without an order index; the
  sequencer executes it ``execution_delay_ms`` later (`ledger`), which is when the order index exists.
- Reads: orderBookDetails / orderBooks, orderBookOrders, recentTrades, trades, candles, account,
  accountActiveOrders / accountInactiveOrders (cursor paging) / accountOrders (client indexes),
  nextNonce, apikeys. Account reads need a valid ``authorization`` token.
- Stream: ``order_book/<m>`` (snapshot then diffs), ``account_all_orders/<a>`` and
  ``account_all_trades/<a>`` (with ``auth``); ping / pong; channels echoed with a colon.
- Faults (`LighterFaults`): nonce errors, rejections after acceptance, lost sendTx answers, a held
  sequencer, dropping streams.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Self

import orjson
import structlog
from aiohttp import web

from gateway.core.clock import Clock, SystemClock
from gateway.core.events import KLINE_INTERVALS, Kline
from gateway.simserver.hosting import start_app
from gateway.simserver.lighter import txcheck
from gateway.simserver.lighter.ledger import Ledger, MarketInfo
from gateway.simserver.lighter.txcheck import ApiError
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from gateway.venues.sim.market import SyntheticMarket, build_engine

__all__ = ["FakeSettings", "LighterFake", "LighterFaults"]

log = structlog.get_logger("gateway.simserver.lighter")


def _default_sim() -> SimSettings:
    return SimSettings(message_rate=20, balances={"USDC": Decimal(1_000_000)}, symbols=[
        SimSymbolSettings(symbol="ETH/USDC:USDC", native="ETH", start_price=Decimal(3000), tick_size=Decimal("0.01"),
                          step_size=Decimal("0.0001"), min_qty=Decimal("0.0001"), min_notional=Decimal(10)),
        SimSymbolSettings(symbol="BTC/USDC:USDC", native="BTC", start_price=Decimal(65000), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.00001"), min_qty=Decimal("0.00001"), min_notional=Decimal(10))])


@dataclass(frozen=True)
class FakeSettings:
    """How the fake behaves.

    Attributes:
        sim: markets (perps, settled in USDC), seed and the funded account's balances.
        account_index: the funded account.
        api_keys: api key index -> public key (hex) registered for the account.
        message_rate: market steps per second (0: only `step` moves the market).
        execution_delay_ms: how long after acceptance the sequencer executes a tx (the order index
            exists only then).
        prewarm_steps: back-dated steps at start (candles, a book).
    """

    sim: SimSettings = field(default_factory=_default_sim)
    account_index: int = 7
    api_keys: dict[int, str] = field(default_factory=lambda: {3: "00"})
    message_rate: float = 20.0
    execution_delay_ms: float = 30.0
    prewarm_steps: int = 120


@dataclass
class LighterFaults:
    nonce_errors: int = 0  # next N sendTx are refused with 21104 "invalid nonce" (nonce not consumed)
    reject_after_accept: int = 0  # next N accepted orders end canceled-margin-not-allowed at execution
    reject_status: str = "canceled-margin-not-allowed"
    lose_answers: int = 0  # next N accepted sendTx: the tx is taken (nonce consumed), the connection dropped


class LighterFake:
    """The Lighter fake (an async context manager); `rest_url` / `stream_url` once entered."""

    def __init__(self, settings: FakeSettings | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None):
        self.settings = s = settings or FakeSettings()
        self.host, self.port = host, port
        self.clock = clock or SystemClock()
        self.faults = LighterFaults()
        self.account = str(s.account_index)
        self.engine = build_engine(self.account, s.sim)
        self.market = SyntheticMarket(self.account, s.sim, self.engine)
        self.markets: dict[int, MarketInfo] = {}
        for i, spec in enumerate(s.sim.symbols):
            inst = self.engine.instruments[spec.symbol]
            self.markets[i] = MarketInfo(i, inst, -inst.step_size.normalize().as_tuple().exponent,  # type: ignore[operator]
                                         -inst.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]
        self.ledger = Ledger(self.engine, self.markets)
        self.keys = {(s.account_index, k): v for k, v in s.api_keys.items()}
        self.next_nonce: dict[tuple[int, int], int] = dict.fromkeys(self.keys, 0)
        self.queue: list[tuple[float, txcheck.Tx]] = []
        self.hold = asyncio.Event()
        self.hold.set()  # clear() holds the sequencer
        self._wake = asyncio.Event()
        self._idle = asyncio.Condition()
        self.accepted = self.refused_nonce = self.executed = 0
        self._subs: dict[web.WebSocketResponse, set[str]] = {}
        self._published: dict[int, tuple[dict[str, str], dict[str, str]]] = {}
        self._offset = 0
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.market.prewarm(self.clock.now_ms(), self.settings.prewarm_steps)
        app = web.Application()
        from gateway.simserver.lighter.routes import add_routes

        add_routes(app, self)
        app.router.add_get("/stream", self._stream)
        self._runner, self.port = await start_app(app, self.host, self.port)
        self._tasks.append(asyncio.create_task(self._sequencer(), name="lighter-fake-sequencer"))
        if self.settings.message_rate > 0:
            self._tasks.append(asyncio.create_task(self._run_market(), name="lighter-fake-market"))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        for ws in list(self._subs):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream"

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # --- sendTx and the sequencer ---------------------------------------------------------------------

    def send_tx(self, tx_type: int, tx_info: str) -> dict[str, Any]:
        """Check and accept one tx (the API server's part). Raises ApiError."""
        if self.faults.nonce_errors > 0:
            self.faults.nonce_errors -= 1
            self.refused_nonce += 1
            raise ApiError(400, txcheck.CODE_INVALID_NONCE, "invalid nonce")
        try:
            tx = txcheck.check_tx(tx_type, tx_info, keys=self.keys, next_nonce=self.next_nonce,
                                  markets=set(self.markets), now_ms=self.now_ms())
        except ApiError as exc:
            if exc.code == txcheck.CODE_INVALID_NONCE:
                self.refused_nonce += 1
            raise
        self.next_nonce[(tx.account, tx.key)] = tx.nonce + 1
        self.accepted += 1
        self.queue.append((asyncio.get_running_loop().time() + self.settings.execution_delay_ms / 1000, tx))
        self._wake.set()
        digest = hashlib.blake2b(tx_info.encode(), digest_size=40).hexdigest()
        return {"code": 200, "message": "", "tx_hash": digest, "predicted_execution_time_ms": self.now_ms() + 30,
                "volume_quota_remaining": 1000}

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait until every accepted tx has been executed."""
        async with asyncio.timeout(timeout_s), self._idle:
            await self._idle.wait_for(lambda: not self.queue)

    async def _sequencer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
            await self.hold.wait()
            due, tx = self.queue[0]
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the sequencer's latency, not a test synchronisation
            self.queue.pop(0)
            try:
                self._execute(tx)
            except Exception:
                log.exception("lighter_fake.execute_failed", tx_type=tx.tx_type)
            self.executed += 1
            if not self.queue:
                async with self._idle:
                    self._idle.notify_all()

    def _execute(self, tx: txcheck.Tx) -> None:
        now, info, ledger = self.now_ms(), tx.info, self.ledger
        events = []
        if tx.tx_type == txcheck.CREATE_ORDER:
            reject = None
            if self.faults.reject_after_accept > 0:
                self.faults.reject_after_accept -= 1
                reject = self.faults.reject_status
            events = ledger.create(tx.account, info, tx.nonce, now, reject=reject)[1]
        elif tx.tx_type == txcheck.GROUPED:
            orders = info["Orders"]
            parent, events = ledger.create(tx.account, orders[0], tx.nonce, now)
            if info["GroupingType"] == 2:  # OCO: both rest now, linked
                second, more = ledger.create(tx.account, orders[1], tx.nonce, now)
                parent.sibling, second.sibling = second.order_index, parent.order_index
                events += more
            else:
                for child in orders[1:]:
                    ledger.create(tx.account, child, tx.nonce, now, parent=parent)
        elif tx.tx_type == txcheck.CANCEL_ORDER:
            events = ledger.cancel(tx.account, info["Index"], now)
        elif tx.tx_type == txcheck.CANCEL_ALL:
            events = ledger.cancel_all(tx.account, now)
        elif tx.tx_type == txcheck.UPDATE_LEVERAGE:
            events = ledger.set_leverage(tx.account, info["MarketIndex"], info["InitialMarginFraction"],
                                         info["MarginMode"], now)
        self._after_engine(events, now)

    def _after_engine(self, events: list[Any], now: int) -> None:
        for _ in range(5):  # grouped follow-ups (children placed, OCO cancels) may cause more
            if not events:
                break
            self.market.observe(events, now)
            events = self.ledger.on_engine(events, now)
        self._publish()

    # --- market ---------------------------------------------------------------------------------------

    def step(self, count: int = 1) -> None:
        """Advance every market `count` steps."""
        for _ in range(count):
            now = self.now_ms()
            for info in self.markets.values():
                result = self.market.step(info.instrument.symbol, now)
                self._after_engine(list(result.engine_events), now)

    async def _run_market(self) -> None:
        period = 1 / self.settings.message_rate
        while True:
            await asyncio.sleep(period)
            try:
                self.step()
            except Exception:
                log.exception("lighter_fake.step_failed")

    def book_levels(self, market_id: int, limit: int = 50) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids, asks, _ = self.engine.depth(self.markets[market_id].instrument.symbol, limit)
        return list(bids), list(asks)

    def candles(self, market_id: int, resolution: str, start: int, end: int, count: int) -> list[Kline]:
        interval = resolution if resolution in KLINE_INTERVALS else "1m"
        return self.market.klines(self.markets[market_id].instrument.symbol, interval, count, start, end)

    # --- stream ---------------------------------------------------------------------------------------

    def drop_streams(self) -> int:
        """Abort every stream connection; return how many."""
        count = 0
        for ws in list(self._subs):
            ws._writer.transport.abort() if ws._writer is not None else None  # type: ignore[union-attr]
            count += 1
        return count

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        from gateway.simserver.lighter.streaming import serve_stream

        return await serve_stream(self, request)

    def _publish(self) -> None:
        from gateway.simserver.lighter.streaming import publish

        publish(self)


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
