"""The Binance dialect's REST API: spot ``/api/v3`` and USD-M futures ``/fapi/v1`` market data, a signed read.

Every request under ``/api/`` or ``/fapi/`` passes one middleware, in this order: the injected delay,
injected 418 / 429 answers, the per-IP weight limiter of its market (429 with ``Retry-After``, escalating
to a 418 ban: see `limits`), then the handler; every answer carries ``X-MBX-USED-WEIGHT-<n><unit>``.
Errors use Binance's shape ``{"code", "msg"}`` (fact sheet §2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.core.events import KLINE_INTERVALS
from gateway.simserver.binance import render
from gateway.simserver.binance.limits import Admission, check_signed

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["EXTRA_HEADERS", "ApiError", "Endpoint", "build_routes", "rest_middleware"]

EXTRA_HEADERS = web.RequestKey("binance_extra_headers", dict)  # headers a handler adds to its answer

_USDM_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


class ApiError(Exception):
    """A Binance error answer."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass(frozen=True, slots=True)
class Endpoint:
    market: str  # spot | usdm
    weight: Callable[[web.Request], int]
    handler: Callable[[BinanceDialect, str, web.Request], Awaitable[Any]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _retry_after(seconds: float | None) -> str:
    seconds = seconds or 0.0
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:.3f}"


def rest_middleware(dialect: BinanceDialect) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Return the middleware described in the module docstring."""

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        endpoint: Endpoint | None = request.match_info.route.resource and dialect.endpoints.get(
            request.match_info.route.resource.canonical)
        if endpoint is None:
            return await handler(request)
        faults = dialect.faults
        if faults.rest_delay_ms:
            await asyncio.sleep(faults.rest_delay_ms / 1000)
        limiter = dialect.limiters[endpoint.market]
        ip = request.remote or "?"
        now = dialect.now_ms()
        dialect.requests += 1
        if faults.answer_418 > 0:
            faults.answer_418 -= 1
            admission = limiter.ban(ip, now, faults.ban_s)
        elif faults.answer_429 > 0:
            faults.answer_429 -= 1
            admission = limiter.penalize(ip, now, faults.retry_after_s)
        else:
            admission = limiter.admit(ip, endpoint.weight(request), now)
        headers = {dialect.weight_header: str(admission.used)}
        if admission.status != 200:
            return _limited(admission, ip, now, headers)
        try:
            body = await endpoint.handler(dialect, endpoint.market, request)
        except ApiError as exc:
            headers.update(request.get(EXTRA_HEADERS, {}))
            return web.Response(body=orjson.dumps(render.error(exc.code, exc.msg)), status=exc.status,
                                content_type="application/json", headers=headers)
        headers.update(request.get(EXTRA_HEADERS, {}))  # e.g. X-MBX-ORDER-COUNT-* of an order
        return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)

    return middleware


def _limited(admission: Admission, ip: str, now: int, headers: dict[str, str]) -> web.Response:
    headers = {**headers, "Retry-After": _retry_after(admission.retry_after_s)}
    if admission.status == 418:
        until = now + int((admission.retry_after_s or 0) * 1000)
        msg = f"Way too many requests; IP({ip}) banned until {until}. Please use the websocket for live updates to avoid bans."
    else:
        msg = (f"Too many requests; current limit of IP({ip}) request weight is exceeded. "
               "Please use WebSocket Streams for live updates to avoid polling the API.")
    return web.Response(body=orjson.dumps(render.error(-1003, msg)), status=admission.status,
                        content_type="application/json", headers=headers)


# --- parameters ---------------------------------------------------------------------------------------


def _param(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def _int(request: web.Request, name: str, default: int | None) -> int | None:
    value = request.query.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.") from None


def _limit(request: web.Request, default: int, maximum: int) -> int:
    limit = _int(request, "limit", default)
    assert limit is not None
    return max(1, min(limit, maximum))


# --- handlers -----------------------------------------------------------------------------------------


async def _ping(d: BinanceDialect, market: str, request: web.Request) -> Any:
    return {}


async def _time(d: BinanceDialect, market: str, request: web.Request) -> Any:
    return {"serverTime": d.now_ms()}


async def _exchange_info(d: BinanceDialect, market: str, request: web.Request) -> Any:
    s = d.settings
    limit = s.usdm_weight_limit if market == "usdm" else s.spot_weight_limit
    orders = s.usdm_order_limits if market == "usdm" else s.spot_order_limits
    return render.exchange_info(d.instruments_of(market), market == "usdm", d.now_ms(), limit, s.weight_interval_s,
                                orders)


async def _depth(d: BinanceDialect, market: str, request: web.Request) -> Any:
    symbol = d.symbol_of(market, _param(request, "symbol"))
    if market == "usdm":
        limit = _int(request, "limit", 500)
        if limit not in _USDM_DEPTH_LIMITS:
            raise ApiError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is "
                                       "'5, 10, 20, 50, 100, 500, 1000'.")
    else:
        limit = _limit(request, 100, 5_000)
    last_id, bids, asks = d.feeds[symbol].snapshot(limit or 100)
    return render.depth_snapshot(last_id, bids, asks, market == "usdm", d.now_ms())


async def _trades(d: BinanceDialect, market: str, request: web.Request) -> Any:
    symbol = d.symbol_of(market, _param(request, "symbol"))
    return [render.rest_trade(t) for t in d.market.recent_trades(symbol, _limit(request, 500, 1_000))]


async def _klines(d: BinanceDialect, market: str, request: web.Request) -> Any:
    symbol = d.symbol_of(market, _param(request, "symbol"))
    interval = _param(request, "interval")
    if interval not in KLINE_INTERVALS:
        raise ApiError(400, -1120, "Invalid interval.")
    limit = _limit(request, 500, 1_500 if market == "usdm" else 1_000)
    klines = d.market.klines(symbol, interval, limit, _int(request, "startTime", None), _int(request, "endTime", None))
    return [render.kline_row(k) for k in klines]


async def _ticker_24h(d: BinanceDialect, market: str, request: web.Request) -> Any:
    wanted = request.query.get("symbol")
    symbols = [d.symbol_of(market, wanted)] if wanted else [i.symbol for i in d.instruments_of(market)]
    now = d.now_ms()
    answers = []
    for symbol in symbols:
        ticker = d.market.ticker(symbol, now)
        native = render.native_of(d.engine.instruments[symbol])
        if ticker is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        answers.append(render.ticker_24h(ticker, native))
    return answers[0] if wanted else answers


async def _account(d: BinanceDialect, market: str, request: web.Request) -> Any:
    body = (await request.read()).decode()
    check = check_signed(request.rel_url.raw_query_string, body, request.headers.get("X-MBX-APIKEY"), d.keys,
                         d.now_ms())
    if check.code:
        raise ApiError(401 if check.code == -2015 else 400, check.code, check.msg)
    now = d.now_ms()
    balances = d.engine.balances(d.USER, now)
    if market == "spot":
        return {"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": False,
                "canDeposit": False, "updateTime": now, "accountType": "SPOT", "permissions": ["SPOT"], "uid": 1,
                "balances": [{"asset": b.asset, "free": format(b.free, "f"), "locked": format(b.locked, "f")}
                             for b in balances]}
    return [{"accountAlias": "SimUser", "asset": b.asset, "balance": format(b.free + b.locked, "f"),
             "crossWalletBalance": format(b.free + b.locked, "f"), "crossUnPnl": "0",
             "availableBalance": format(b.free, "f"), "maxWithdrawAmount": format(b.free, "f"),
             "marginAvailable": True, "updateTime": now} for b in balances]


def _depth_weight(market: str) -> Callable[[web.Request], int]:
    def weight(request: web.Request) -> int:
        try:
            limit = int(request.query.get("limit", "500" if market == "usdm" else "100"))
        except ValueError:
            return 1
        if market == "usdm":
            return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250

    return weight


def _fixed(weight: int, without_symbol: int | None = None) -> Callable[[web.Request], int]:
    if without_symbol is None:
        return lambda request: weight
    return lambda request: weight if "symbol" in request.query else without_symbol


def build_routes() -> dict[str, Endpoint]:
    """Return path -> endpoint for both markets (weights: fact sheet §2, §4; usdm trades/ticker unverified)."""
    spot = {
        "/api/v3/ping": Endpoint("spot", _fixed(1), _ping),
        "/api/v3/time": Endpoint("spot", _fixed(1), _time),
        "/api/v3/exchangeInfo": Endpoint("spot", _fixed(20), _exchange_info),
        "/api/v3/depth": Endpoint("spot", _depth_weight("spot"), _depth),
        "/api/v3/trades": Endpoint("spot", _fixed(25), _trades),
        "/api/v3/klines": Endpoint("spot", _fixed(2), _klines),
        "/api/v3/ticker/24hr": Endpoint("spot", _fixed(2, 80), _ticker_24h),
        "/api/v3/account": Endpoint("spot", _fixed(20), _account),
    }
    usdm = {
        "/fapi/v1/ping": Endpoint("usdm", _fixed(1), _ping),
        "/fapi/v1/time": Endpoint("usdm", _fixed(1), _time),
        "/fapi/v1/exchangeInfo": Endpoint("usdm", _fixed(1), _exchange_info),
        "/fapi/v1/depth": Endpoint("usdm", _depth_weight("usdm"), _depth),
        "/fapi/v1/trades": Endpoint("usdm", _fixed(5), _trades),
        "/fapi/v1/klines": Endpoint("usdm", _fixed(2), _klines),
        "/fapi/v1/ticker/24hr": Endpoint("usdm", _fixed(1, 40), _ticker_24h),
        "/fapi/v2/balance": Endpoint("usdm", _fixed(5), _account),
        "/fapi/v3/balance": Endpoint("usdm", _fixed(5), _account),
    }
    return {**spot, **usdm}
