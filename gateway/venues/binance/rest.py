"""The Binance REST client: signing, weight accounting, 429 / 418 handling, server-time re-sync.

One `BinanceRest` per venue session; its `HostBudget` is shared with every other session calling the
same host (fact sheet §2: limits are per IP). Each call:

1. waits for its weight in the host budget (which also holds every caller back while a 429's
   ``Retry-After`` runs, and refuses every call while a 418 ban lasts);
2. signs, if it is a SIGNED endpoint, over exactly the query string it sends (§1.1), with ``timestamp``
   = local time + the server-time offset, and ``recvWindow``;
3. folds the ``X-MBX-USED-WEIGHT-*`` headers of the answer into the budget;
4. on 429: pauses the host for ``Retry-After`` and retries (the request was not executed); on 418:
   bans the host, loudly, and raises; on -1021: re-syncs the offset from ``/time`` once and retries;
   a read failing with a network error, 5xx or -1001/-1007/-1008 is retried with backoff; anything
   else raises (see `common.retry.classify`).

Orders also spend the account's ORDERS budget (fact sheet §2, §4: counted per account, e.g. usdm 300 / 10 s
and 1200 / min): an order call (``orders=1``) first takes one unit from ``order_budget``, waiting at most
``order_wait_s`` for the next window, else it is refused here (`VenueRateLimited`, nothing sent). The
``X-MBX-ORDER-COUNT-<n><unit>`` headers of every answer are folded into that budget (the venue's count
includes orders of other processes of the account), and a -1015 "Too many new orders" answer fills the
window, raises `VenueRateLimited` and is not retried (it is the account's limit, not the IP's: the host
is not paused).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from gateway.core.clock import Clock
from gateway.core.errors import VenueError, VenueRateLimited, VenueRejected
from gateway.venues.binance.auth import Signer, encode_params, signed_query
from gateway.venues.binance.errors import INVALID_TIMESTAMP, TRANSIENT_READ_CODES, decode_error
from gateway.venues.binance.instruments import count_interval_ms, used_weights
from gateway.venues.binance.schemas import (
    DepthSnapshot,
    ExchangeInfo,
    KlineRow,
    RestTrade,
    Ticker24h,
    decode_depth_snapshot,
    decode_exchange_info,
    decode_kline_rows,
    decode_rest_trades,
    decode_server_time,
    decode_ticker_24h,
)
from gateway.venues.common.http import IDEMPOTENT, HttpClient, parse_retry_after, to_venue_error
from gateway.venues.common.ratelimit import ORDERS, WEIGHT, HostBudget, HostBudgets, RateLimit
from gateway.venues.common.retry import DEFAULT_BACKOFF, Backoff, Fatal, classify
from gateway.venues.common.timesync import TimeOffset

__all__ = ["PATHS", "BinanceRest", "MarketPaths", "Params", "account_order_budget", "depth_weight", "klines_weight"]

Params = Mapping[str, object] | Sequence[tuple[str, object]]  # a sequence keeps the order sent
_ORDER_COUNT_HEADER = "x-mbx-order-count-"
TOO_MANY_ORDERS = -1015


@dataclass(frozen=True, slots=True)
class MarketPaths:
    """The REST paths of one market (fact sheet §2 spot, §4 futures)."""

    ping: str
    time: str
    exchange_info: str
    depth: str
    trades: str
    klines: str
    ticker_24h: str
    account: str  # a SIGNED read: spot account, futures balances


PATHS = {
    "spot": MarketPaths("/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/trades",
                        "/api/v3/klines", "/api/v3/ticker/24hr", "/api/v3/account"),
    "usdm": MarketPaths("/fapi/v1/ping", "/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/depth",
                        "/fapi/v1/trades", "/fapi/v1/klines", "/fapi/v1/ticker/24hr", "/fapi/v3/balance"),
}

# Request weights (fact sheet §2 and §4; the usdm trades and 24h-ticker weights are unverified).
_WEIGHTS = {
    "spot": {"ping": 1, "time": 1, "exchange_info": 20, "trades": 25, "klines": 2, "ticker_24h": 2, "account": 20},
    "usdm": {"ping": 1, "time": 1, "exchange_info": 1, "trades": 5, "ticker_24h": 1, "account": 5},
}


def account_order_budget(budgets: HostBudgets, host: str, api_key: str,
                         limits: list[tuple[int, int]]) -> HostBudget:
    """Return the ORDERS budget of the account behind `api_key` on `host` (shared by every session of that
    account: Binance counts orders per account). Named by a hash of the key, never the key itself."""
    account = hashlib.sha256(api_key.encode()).hexdigest()[:10]
    return budgets.budget(f"{host}#orders:{account}", [RateLimit(ORDERS, ms, n) for ms, n in limits])


def depth_weight(market: str, limit: int) -> int:
    """Return the weight of a depth snapshot of `limit` levels (fact sheet §2, §4)."""
    if market == "usdm":
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def klines_weight(market: str, limit: int) -> int:
    """Return the weight of a klines request (fact sheet §2: spot 2; §4: futures by limit)."""
    if market == "spot":
        return 2
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


class BinanceRest:
    """Binance REST for one session.

    Args:
        venue: the venue name errors carry.
        market: ``spot`` or ``usdm``.
        http: the transport.
        base_url: REST base, e.g. ``https://api.binance.com``.
        budget: the host's shared budget.
        clock: local time.
        offset: the server-time offset (shared with the session's other users of server time).
        api_key: sent as ``X-MBX-APIKEY`` (None: only public endpoints work).
        signer: signs SIGNED requests.
        recv_window_ms: ``recvWindow`` of signed requests.
        max_retries: retries of one call (429s and, for reads, transient failures).
        backoff: the delay policy of retried reads.
        rng: the jitter source.
    """

    def __init__(
        self,
        venue: str,
        market: str,
        http: HttpClient,
        base_url: str,
        budget: HostBudget,
        clock: Clock,
        offset: TimeOffset,
        *,
        api_key: str | None = None,
        signer: Signer | None = None,
        recv_window_ms: int = 5_000,
        max_retries: int = 4,
        backoff: Backoff = DEFAULT_BACKOFF,
        rng: random.Random | None = None,
        order_budget: HostBudget | None = None,
        order_wait_s: float = 1.0,
    ):
        self.venue = venue
        self.market = market
        self.paths = PATHS[market]
        self._weights = _WEIGHTS[market]
        self._http = http
        self._base = base_url.rstrip("/")
        self.budget = budget
        self._clock = clock
        self.offset = offset
        self._api_key = api_key
        self._signer = signer
        self._recv_window = recv_window_ms
        self._max_retries = max_retries
        self._backoff = backoff
        self._rng = rng or random.Random()
        self.requests = 0
        self.retries = 0
        self.time_resyncs = 0
        self.order_counts: dict[str, int] = {}  # interval (e.g. 10S, 1D) -> the venue's order count
        self.order_budget = order_budget
        self._order_wait_s = order_wait_s
        self.orders_refused = 0  # orders refused before sending (ORDERS budget) or by Binance (-1015)
        self._log = structlog.get_logger("gateway.venues.binance.rest").bind(venue=venue)

    # --- endpoints ----------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.call("GET", self.paths.ping, weight=self._weights["ping"])

    async def sync_time(self) -> int:
        """Sample the server time once; fold it into the offset and return the offset now in use."""
        sent = self._clock.now_ms()
        data = await self.call("GET", self.paths.time, weight=self._weights["time"])
        received = self._clock.now_ms()
        offset = self.offset.on_sample(sent, decode_server_time(data).serverTime, received)
        self._log.debug("rest.time_synced", offset_ms=offset, rtt_ms=received - sent)
        return offset

    async def exchange_info(self) -> ExchangeInfo:
        return decode_exchange_info(await self.call("GET", self.paths.exchange_info,
                                                    weight=self._weights["exchange_info"]))

    async def depth(self, native: str, limit: int) -> DepthSnapshot:
        data = await self.call("GET", self.paths.depth, {"symbol": native, "limit": limit},
                               weight=depth_weight(self.market, limit))
        return decode_depth_snapshot(data)

    async def trades(self, native: str, limit: int) -> list[RestTrade]:
        data = await self.call("GET", self.paths.trades, {"symbol": native, "limit": limit},
                               weight=self._weights["trades"])
        return decode_rest_trades(data)

    async def klines(
        self, native: str, interval: str, limit: int, start: int | None = None, end: int | None = None
    ) -> list[KlineRow]:
        params = {"symbol": native, "interval": interval, "limit": limit, "startTime": start, "endTime": end}
        data = await self.call("GET", self.paths.klines, params, weight=klines_weight(self.market, limit))
        return decode_kline_rows(data)

    async def ticker_24h(self, native: str) -> Ticker24h:
        data = await self.call("GET", self.paths.ticker_24h, {"symbol": native}, weight=self._weights["ticker_24h"])
        return decode_ticker_24h(data)

    async def account(self) -> Any:
        """Return the SIGNED account read (spot ``/api/v3/account``, futures ``/fapi/v3/balance``) as JSON."""
        return await self.call("GET", self.paths.account, {}, weight=self._weights["account"], signed=True)

    # --- the call -----------------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, params: Params | None = None, *, weight: int = 1,
        signed: bool = False, api_key_only: bool = False, orders: int = 0,
    ) -> Any:
        """Send one request (with the retries the module docstring lists) and return its decoded JSON.

        Raises:
            VenueRateLimited: still rate limited after the retries, or banned (details ``banned``).
            VenueRejected: Binance refused the request; ``venue_code`` is its code.
            VenueUnavailable: network or venue failure that the retries did not overcome.
            VenueTimeout: a write got no answer; its outcome is unknown.
        """
        method = method.upper()
        idempotent = method in IDEMPOTENT
        attempt = 0
        resynced = False
        if orders:
            await self.take_orders(orders)
        while True:
            await self.budget.acquire({WEIGHT: weight})
            if api_key_only and not self._api_key:
                raise VenueRejected("this session has no API key", venue=self.venue, venue_code="no_credentials")
            headers = {"X-MBX-APIKEY": self._api_key} if self._api_key else None
            query = self._query(params, signed)
            url = f"{self._base}{path}?{query}" if query else f"{self._base}{path}"
            self.requests += 1
            error: VenueError
            try:
                response = await self._http.send(method, url, headers=headers)
            except VenueError as exc:
                error = exc
            else:
                now = self._clock.now_ms()
                for interval_ms, used in used_weights(response.headers):
                    self.budget.observe_used(WEIGHT, interval_ms, used, now)
                self._fold_order_counts(response.headers, now)
                if 200 <= response.status < 300:
                    return orjson.loads(response.body) if response.body else None
                error = to_venue_error(response, self.venue, method, path, decode_error)
                if error.venue_code == TOO_MANY_ORDERS:  # the account's ORDERS limit: not the host's
                    self._orders_exhausted(now)
                    raise VenueRateLimited(f"{error.message} (the account's ORDERS limit)", venue=self.venue,
                                           venue_code=TOO_MANY_ORDERS, venue_message=error.venue_message,
                                           retry_after_s=parse_retry_after(response.headers.get("Retry-After")))
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if response.status == 429:
                    self.budget.on_rate_limited(retry_after, now)
                elif response.status == 418:
                    self.budget.on_banned(retry_after, now)
                    raise error
                if signed and not resynced and isinstance(error, VenueRejected) \
                        and error.venue_code == INVALID_TIMESTAMP:
                    resynced = True
                    self.time_resyncs += 1
                    self._log.warning("rest.timestamp_rejected", path=path, offset_ms=self.offset.offset_ms)
                    self.offset.reset()
                    await self.sync_time()
                    continue
            attempt += 1
            verdict = classify(error, attempt, self._backoff, self._rng, max_attempts=self._max_retries + 1,
                               transient_codes=TRANSIENT_READ_CODES if idempotent else ())
            retryable = idempotent or isinstance(error, VenueRateLimited)  # a 429 was not executed
            if isinstance(verdict, Fatal) or not retryable:
                raise error
            self.retries += 1
            if not isinstance(error, VenueRateLimited):  # a 429's wait is the budget's pause
                await asyncio.sleep(verdict.after_s)

    async def take_orders(self, orders: int) -> None:
        """Spend `orders` units of the ORDERS budget, waiting at most ``order_wait_s`` for them.

        Raises:
            VenueRateLimited: the budget has no room soon enough (nothing is sent).
        """
        budget = self.order_budget
        if budget is None:
            return
        waited = 0.0
        while True:
            wait = budget.reserve({ORDERS: orders}, self._clock.now_ms())
            if not wait:
                return
            if waited + wait > self._order_wait_s:
                self.orders_refused += 1
                raise VenueRateLimited(f"the account's ORDERS limit is reached; room again in {wait:.1f}s",
                                       venue=self.venue, retry_after_s=round(wait, 3), venue_code="orders_budget")
            waited += wait
            await asyncio.sleep(wait)

    def fold_order_count(self, interval_ms: int, count: int, now_ms: int) -> None:
        """Fold the venue's order count of one ORDERS window (a header, or a WebSocket API ``rateLimits``)."""
        if self.order_budget is not None:
            self.order_budget.observe_used(ORDERS, interval_ms, count, now_ms)

    def _fold_order_counts(self, headers: Mapping[str, str], now: int) -> None:
        for name, value in headers.items():  # X-MBX-ORDER-COUNT-10S, -1M, -1D (fact sheet §2)
            if not name.lower().startswith(_ORDER_COUNT_HEADER) or not value.isdigit():
                continue
            spec = name[len(_ORDER_COUNT_HEADER):].upper()
            self.order_counts[spec] = int(value)
            interval = count_interval_ms(spec)
            if interval is not None:
                self.fold_order_count(interval, int(value), now)

    def _orders_exhausted(self, now: int) -> None:
        # Binance said the account is over a limit: treat every ORDERS window as full until it rolls.
        self.orders_refused += 1
        if self.order_budget is not None:
            for limit in self.order_budget.limits:
                if limit.kind == ORDERS:
                    self.order_budget.observe_used(ORDERS, limit.interval_ms, limit.limit, now)

    def _query(self, params: Params | None, signed: bool) -> str:
        if not signed:
            return encode_params(params or {})
        if self._signer is None:
            raise VenueRejected("this session has no API secret: signed endpoints are unavailable",
                                venue=self.venue, venue_code="no_credentials")
        timestamp = self.offset.server_now(self._clock.now_ms())
        return signed_query(params or {}, self._signer, timestamp, self._recv_window)
