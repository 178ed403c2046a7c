"""Run a gateway with a simulated exchange inside another program: backtests, notebooks, tests.

Two faces of one thing:

- `EmbeddedExchange` — asyncio: ``async with EmbeddedExchange() as exchange:`` (or ``await start()`` /
  ``await stop()``), every operation awaitable.
- `BackgroundExchange` — synchronous, in the style of the seed's ``MockExchange``: it runs an
  `EmbeddedExchange` on its own event loop in a background thread; ``start()``, ``stop()`` and every
  operation block until done.

What runs is a whole gateway (`gateway.app.Gateway`): the strategy WebSocket (`ws_url`), the REST API
and ops server (`rest_url`: ``/api/v1/...``, ``/health``, ``/admin/...``), the order manager and its
journal (in a temporary directory unless `data_dir` is given), in front of **one** sim exchange:

- The exchange's own venue (`name`, default ``sim``) is the default venue, so unprefixed market streams
  and params (``BTCUSDT@trade``, ``GET /api/v1/depth?symbol=BTCUSDT``) mean its market. Its account is
  the exchange's own and starts empty; no key is given for it.
- Each user (`create_user`) is one more account on the same exchange, as a venue named after the user,
  with a fresh random API key scoped to that account (``read`` and ``trade``): its orders rest in and
  take from the same books as every other user's (and the synthetic market's, unless
  ``synthetic_market=False``). A key scoped to one account uses it when a request names none, so the
  seed's REST and WebSocket examples run unchanged with the user's key.
- Every account venue carries the same market data under its own name (``user1:BTC/USDT@trade`` is
  ``sim:BTC/USDT@trade``); the market itself is stepped once.

Symbols, users and balances live in memory for the life of the exchange.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Coroutine, Iterable, Mapping
from decimal import Decimal
from typing import Any, Self, TypeVar

import structlog
from pydantic import SecretStr

from gateway.api.config import ApiSettings, HttpSettings, Permission
from gateway.api.fmz.config import FmzSettings
from gateway.app import Gateway
from gateway.config import Settings
from gateway.core.clock import Clock, SystemClock
from gateway.core.instruments import Instrument
from gateway.sim_admin import SimAdminError, SimUser, symbol_spec
from gateway.venues.sim.adapter import SimAdapter
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from gateway.venues.sim.exchange import SimExchange

__all__ = ["BackgroundExchange", "EmbeddedExchange"]

log = structlog.get_logger("gateway.embedded")

T = TypeVar("T")


class EmbeddedExchange:
    """A gateway in front of one in-memory sim exchange, in this process (see the module docstring).

    Args:
        host: the address the WebSocket and HTTP servers listen on.
        ws_port: the strategy WebSocket's port (0: one the OS picks; read `ws_url`).
        rest_port: the ops HTTP server's port, which serves the REST API (0: the OS picks; `rest_url`).
        name: the exchange's own venue name (the default venue).
        symbols: listed at start: ``"BTCUSDT"``, ``"BTC/USDT"`` or full `SimSymbolSettings`.
        seed: the synthetic market's seed.
        maker_fee, taker_fee: fee rates.
        message_rate: synthetic market steps per second per symbol.
        latency_ms: artificial venue latency of every request.
        synthetic_market: run house makers and takers around a random walk; False: only the users'
            own orders make the books and the tape.
        prewarm_steps: synthetic steps run (back-dated) at start and for each new symbol.
        admin_key: the ops server's ``X-Admin-Key`` (default: a random one, read `admin_key`).
        data_dir: where the gateway keeps its journal (default: a temporary directory, removed at stop).
        log_level: configure the gateway's logs to stderr at this level; None leaves logging alone.
        clock: the gateway clock (tests).
        settings: further `Settings` sections, e.g. ``market=MarketSettings(stale_after_ms=2000)``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ws_port: int = 0,
        rest_port: int = 0,
        name: str = "sim",
        symbols: Iterable[str | SimSymbolSettings] = (),
        seed: int = 42,
        maker_fee: Decimal | str = Decimal("0.0002"),
        taker_fee: Decimal | str = Decimal("0.0004"),
        message_rate: float = 20.0,
        latency_ms: float = 0.0,
        synthetic_market: bool = True,
        prewarm_steps: int = 300,
        admin_key: str | None = None,
        data_dir: str | None = None,
        log_level: str | None = "warning",
        clock: Clock | None = None,
        **settings: Any,
    ):
        self._host = host
        self._ports = (ws_port, rest_port)
        self._admin_key = admin_key or _random_key()
        self._data_dir = data_dir
        self._temp_dir: str | None = None
        self._log_level = log_level
        self._settings = settings
        self._clock = clock or SystemClock()
        self.name = name
        # The exchange's settings: symbols come and go through the exchange itself (none at first).
        self._sim = SimSettings(seed=seed, maker_fee=Decimal(maker_fee), taker_fee=Decimal(taker_fee),
                                message_rate=message_rate, latency_ms=latency_ms, balances={})
        self._sim = self._sim.model_copy(update={"symbols": []})
        self.exchange = SimExchange(name, self._sim, self._clock, prewarm_steps=prewarm_steps,
                                    synthetic_market=synthetic_market)
        self._venue = SimAdapter(name, self._sim, self._clock, exchange=self.exchange, balances={})
        for symbol in symbols:
            self.exchange.add_symbol(symbol if isinstance(symbol, SimSymbolSettings) else symbol_spec(symbol))
        self._gateway: Gateway | None = None
        self._state = "new"  # new -> running -> stopped (an exchange runs once)

    # --- lifecycle ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the exchange and the gateway; return once both listen and every account is reconciled.

        Raises:
            RuntimeError: it was started before.
            OSError: a chosen port is taken.
        """
        if self._state != "new":
            raise RuntimeError("an EmbeddedExchange starts once; make a new one")
        self._state = "running"
        if self._log_level is not None:
            from gateway.logconfig import configure_logging

            configure_logging(self._log_level, "console", stream=sys.stderr)
        data_dir = self._data_dir
        if data_dir is None:
            data_dir = self._temp_dir = tempfile.mkdtemp(prefix="gateway-embedded-")
        ws_port, rest_port = self._ports
        settings = Settings(
            venues={self.name: self._sim}, default_venue=self.name,
            api=ApiSettings(host=self._host, port=ws_port),
            http=HttpSettings(host=self._host, port=rest_port, admin_key=SecretStr(self._admin_key)),
            fmz=FmzSettings(enabled=False),
            persistence={"data_dir": data_dir},  # type: ignore[arg-type]
            **self._settings,
        )
        gateway = Gateway(settings, self._clock, venues={self.name: self._venue})
        try:
            await gateway.start()
        except BaseException:
            self._state = "stopped"
            self._remove_temp_dir()
            raise
        self._gateway = gateway
        log.info("embedded.started", ws_url=self.ws_url, rest_url=self.rest_url)

    async def stop(self) -> None:
        """Stop the gateway and the exchange (idempotent), within the settings' ``shutdown_timeout_s``."""
        gateway, self._gateway = self._gateway, None
        self._state = "stopped"
        if gateway is None:
            return
        try:
            async with asyncio.timeout(gateway.settings.shutdown_timeout_s):
                await gateway.stop()
        except TimeoutError:
            log.error("embedded.stop_timeout", deadline_s=gateway.settings.shutdown_timeout_s)
        finally:
            self._remove_temp_dir()

    @property
    def is_running(self) -> bool:
        return self._gateway is not None

    @property
    def gateway(self) -> Gateway:
        """The running gateway (for what this class does not wrap)."""
        if self._gateway is None:
            raise RuntimeError("the exchange is not running: start it first")
        return self._gateway

    @property
    def ws_url(self) -> str:
        """The strategy WebSocket, e.g. ``ws://127.0.0.1:8765/ws``."""
        gateway = self.gateway
        return f"ws://{_url_host(self._host)}:{gateway.api.port}{gateway.settings.api.path}"

    @property
    def rest_url(self) -> str:
        """The REST API's base (``{rest_url}/api/v1/...``), which is also the ops server's."""
        return f"http://{_url_host(self._host)}:{self.gateway.ops.port}"

    @property
    def admin_key(self) -> str:
        """The ``X-Admin-Key`` of the ops server's ``/admin/*`` endpoints."""
        return self._admin_key

    # --- operations -----------------------------------------------------------------------------------

    async def register_symbol(self, symbol: str, base: str | None = None, quote: str | None = None,
                              **overrides: Any) -> Instrument:
        """List a symbol for every user: ``register_symbol("BTCUSDT", "BTC", "USDT")``, or unified
        ``register_symbol("ETH/USDT")``, ``register_symbol("BTC/USDT:USDT")`` (a perp).

        Overrides: ``native, start_price, tick_size, step_size, min_qty, min_notional, volatility``.
        Defaults: the sim's own listing of BTC/USDT, ETH/USDT and BTC/USDT:USDT; for other symbols a
        start price of 100 and sizes derived from the start price. Listing a symbol again with no
        overrides returns it. Works before `start` too.

        Raises:
            SimAdminError: invalid values, or a conflicting listing.
        """
        return self.register_symbol_now(symbol, base, quote, **overrides)

    def register_symbol_now(self, symbol: str, base: str | None = None, quote: str | None = None,
                            **overrides: Any) -> Instrument:
        """`register_symbol`, synchronously: call it before `start` or on the exchange's own loop."""
        if self._gateway is not None:
            return self._gateway.sim.register_symbol(symbol, base, quote, **overrides)
        native = overrides.pop("native", None)
        spec = symbol_spec(symbol, base, quote, native=native, **overrides)
        if spec.symbol not in self._venue.instruments:
            try:
                self.exchange.add_symbol(spec)
            except ValueError as exc:
                raise SimAdminError(str(exc)) from None
        return self._venue.instruments[spec.symbol]

    async def create_user(self, user_id: str, name: str | None = None, *,
                          balances: Mapping[str, Decimal | str | float] | None = None,
                          permissions: Iterable[Permission | str] | None = None,
                          api_key: str | None = None) -> str:
        """Open account `user_id` on the exchange and return its API key (fresh and random by default).

        The user trades as account (and venue) `user_id`; its key may read and trade that account only.

        Raises:
            SimAdminError: a bad or taken id, bad balances or key.
            RuntimeError: the exchange is not running.
        """
        return (await self.gateway.sim.create_user(user_id, name, api_key=api_key, permissions=permissions,
                                                   balances=balances)).api_key

    def users(self) -> list[SimUser]:
        """The users created so far, with their keys."""
        return self.gateway.sim.users() if self._gateway is not None else []

    async def deposit(self, user_id: str, asset: str, amount: Decimal | str | float) -> dict[str, Any]:
        """Credit `amount` of `asset` to the user's free balance; return ``{account, asset, free, locked}``.

        Raises:
            SimAdminError: an unknown user, a bad asset or amount.
        """
        return await self.gateway.sim.deposit(user_id, asset, amount)

    async def withdraw(self, user_id: str, asset: str, amount: Decimal | str | float) -> dict[str, Any]:
        """Debit `amount` of `asset` from the user's free balance; return the balance as `deposit` does.

        Raises:
            SimAdminError: code ``INSUFFICIENT_BALANCE`` when `amount` is above the free balance (funds
                held by open orders are not free); nothing changes then.
        """
        return await self.gateway.sim.withdraw(user_id, asset, amount)

    async def balances(self, user_id: str) -> dict[str, dict[str, Decimal]]:
        """Return ``{asset: {"free": ..., "locked": ...}}`` of the user's account."""
        return self.gateway.sim.balances(user_id)

    def _remove_temp_dir(self) -> None:
        temp, self._temp_dir = self._temp_dir, None
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


class BackgroundExchange:
    """An `EmbeddedExchange` on its own event loop in a background thread, with a blocking API.

    Takes the arguments of `EmbeddedExchange`. Use ``with BackgroundExchange() as exchange:`` or
    ``exchange.start()`` ... ``exchange.stop()``. Every method blocks until done (at most `timeout`
    seconds) and raises what the `EmbeddedExchange` method raised. Call it from any thread but its own.
    """

    def __init__(self, *, timeout: float = 30.0, **kwargs: Any):
        self.timeout = timeout
        self._exchange = EmbeddedExchange(**kwargs)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._finished: concurrent.futures.Future[None] = concurrent.futures.Future()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def embedded(self) -> EmbeddedExchange:
        """The `EmbeddedExchange` it runs (its coroutines belong to the background loop)."""
        return self._exchange

    def start(self) -> None:
        """Start the exchange in a background thread; return once it serves.

        Raises:
            RuntimeError: started before.
            TimeoutError: it did not start within `timeout`.
        """
        if self._thread is not None:
            raise RuntimeError("a BackgroundExchange starts once; make a new one")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(started),),
                                        name=f"embedded-exchange:{self._exchange.name}", daemon=True)
        self._thread.start()
        started.result(self.timeout)

    def stop(self) -> None:
        """Stop the exchange and join its thread (idempotent)."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or stop_event is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(self.timeout)
        self._finished.result(self.timeout)

    async def _serve(self, started: concurrent.futures.Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            await self._exchange.start()
        except BaseException as exc:
            started.set_exception(exc)
            self._finished.set_result(None)
            return
        started.set_result(None)
        try:
            await self._stop_event.wait()
        finally:
            try:
                await self._exchange.stop()
            except BaseException as exc:
                self._finished.set_exception(exc)
            else:
                self._finished.set_result(None)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or self._thread is None or not self._thread.is_alive():
            coroutine.close()
            raise RuntimeError("the exchange is not running: start it first")
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("use the EmbeddedExchange (embedded) from the exchange's own loop")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(self.timeout)

    # --- the EmbeddedExchange's API, blocking ----------------------------------------------------------

    @property
    def ws_url(self) -> str:
        return self._exchange.ws_url

    @property
    def rest_url(self) -> str:
        return self._exchange.rest_url

    @property
    def admin_key(self) -> str:
        return self._exchange.admin_key

    @property
    def is_running(self) -> bool:
        return self._exchange.is_running

    def register_symbol(self, symbol: str, base: str | None = None, quote: str | None = None,
                        **overrides: Any) -> Instrument:
        """See `EmbeddedExchange.register_symbol` (works before `start` too)."""
        if self._thread is None:
            return self._exchange.register_symbol_now(symbol, base, quote, **overrides)
        return self._call(self._exchange.register_symbol(symbol, base, quote, **overrides))

    def create_user(self, user_id: str, name: str | None = None, **kwargs: Any) -> str:
        """See `EmbeddedExchange.create_user`: returns the user's API key."""
        return self._call(self._exchange.create_user(user_id, name, **kwargs))

    def users(self) -> list[SimUser]:
        return self._call(_wrap(self._exchange.users))

    def deposit(self, user_id: str, asset: str, amount: Decimal | str | float) -> dict[str, Any]:
        return self._call(self._exchange.deposit(user_id, asset, amount))

    def withdraw(self, user_id: str, asset: str, amount: Decimal | str | float) -> dict[str, Any]:
        return self._call(self._exchange.withdraw(user_id, asset, amount))

    def balances(self, user_id: str) -> dict[str, dict[str, Decimal]]:
        return self._call(self._exchange.balances(user_id))


async def _wrap(function: Any) -> Any:
    return function()


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _random_key() -> str:
    return secrets.token_urlsafe(24)
