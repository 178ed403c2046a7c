"""The OKX dialect's REST API: the middleware every ``/api/v5`` request passes, and the public endpoints.

Order of checks (fact sheet §1, §2): the injected delay; the route (unknown: 404); an injected 50011;
for private endpoints the ``OK-ACCESS-*`` signature over ``timestamp + METHOD + path?query + body``
(`auth.check_rest`, 401); a POST body that is empty (50000) or not JSON (50002); the endpoint's own
limit (50011, 429); then the handler. Every answer is ``{"code", "msg", "data"}`` with a string code;
business errors answer HTTP 200 with a non-zero code, request-level ones the status in `ops.HTTP_STATUS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import web

from gateway.simserver.okx import render
from gateway.simserver.okx.auth import check_rest
from gateway.simserver.okx.ops import HTTP_STATUS, RATE_LIMIT_MSG, Outcome, rate_limited
from gateway.simserver.okx.params import ItemError

if TYPE_CHECKING:
    from gateway.simserver.okx.server import OkxDialect

__all__ = ["Call", "build_app", "envelope", "public_routes"]

log = structlog.get_logger("gateway.simserver.okx.rest")


@dataclass(slots=True)
class Call:
    """One REST request as a handler sees it."""

    query: dict[str, str]
    body: Any  # parsed JSON of a POST (dict or list), None on GET
    api_key: str | None

    def q(self, name: str, required: bool = False) -> str:
        value = self.query.get(name, "")
        if required and not value:
            raise ItemError("50014", f"Parameter {name} can not be empty.")
        return value

    def limit(self, default: int = 100, maximum: int = 100) -> int:
        raw = self.query.get("limit", "")
        if not raw:
            return default
        if not raw.isdigit():
            raise ItemError("51000", "Parameter limit error")
        return max(1, min(int(raw), maximum))


Handler = Callable[["OkxDialect", Call], Awaitable[Outcome | list[Any]]]


@dataclass(frozen=True, slots=True)
class Route:
    private: bool
    handler: Handler
    items: bool = False  # the body is order items (limits count them per instId)


def envelope(code: str, msg: str, data: list[Any] | None, status: int | None = None, **extra: Any) -> web.Response:
    body = {"code": code, "msg": msg, "data": data if data is not None else [], **extra}
    return web.Response(body=orjson.dumps(body), status=status or HTTP_STATUS.get(code, 200),
                        content_type="application/json")


def build_app(d: OkxDialect) -> web.Application:
    """The dialect's aiohttp application: REST under ``/api/v5`` and the three WebSocket paths."""
    from gateway.simserver.okx.rest_private import private_routes

    routes: dict[tuple[str, str], Route] = {**public_routes(), **private_routes()}

    async def rest(request: web.Request) -> web.StreamResponse:
        faults = d.faults
        if faults.rest_delay_ms:
            await asyncio.sleep(faults.rest_delay_ms / 1000)
        route = routes.get((request.method, request.path))
        if route is None:
            return envelope("404", "Not Found", None, status=404)
        d.requests += 1
        raw = (await request.read()).decode()
        api_key = None
        if route.private:
            result = check_rest(request.headers, request.method, request.raw_path, raw, d.keys, d.now_ms(),
                                d.settings.environment)
            if not result.ok:
                return envelope(result.code, result.msg, None, status=result.status)
            api_key = result.api_key
        body: Any = None
        if request.method == "POST":
            if not raw.strip():
                return envelope("50000", "Body for POST request cannot be empty.", None)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return envelope("50002", "Json data format error.", None)
        endpoint = request.path.removeprefix("/api/v5/")
        items = (body if isinstance(body, list) else [body]) if route.items and body is not None else None
        now = d.now_ms()
        if rate_limited(d, endpoint, api_key or request.remote or "?", items, now):
            return envelope("50011", RATE_LIMIT_MSG, None, status=429)
        in_time = str(now * 1000)
        try:
            answer = await route.handler(d, Call(dict(request.query), body, api_key))
        except ItemError as exc:
            return envelope(exc.code, exc.msg, None)
        except Exception:  # a dialect bug answers OKX's "system error" (and is logged), never a bare 500 page
            log.exception("dialect.rest_failed", path=request.path)
            return envelope("50026", "System error. Try again later.", None)
        if isinstance(answer, tuple):
            code, msg, data = answer
            extra = {"inTime": in_time, "outTime": str(d.now_ms() * 1000)} if route.items else {}
            return envelope(code, msg, data, **extra)
        return envelope("0", "", answer)

    app = web.Application()
    app.router.add_route("*", "/api/v5/{tail:.*}", rest)
    for kind in ("public", "private", "business"):
        app.router.add_get(f"/ws/v5/{kind}", d.hub.handler(kind))
    return app


# --- public endpoints -----------------------------------------------------------------------------------


def _inst(d: OkxDialect, c: Call) -> Any:
    found = d.insts.get(c.q("instId", required=True))
    if found is None:
        raise ItemError("51001", "Instrument ID does not exist.")
    return found


def _of_type(d: OkxDialect, c: Call, name: str = "instType") -> list[Any]:
    inst_type = c.q(name, required=True)
    if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
        raise ItemError("51000", f"Parameter {name} error")
    inst_id = c.q("instId")
    return [i for i in d.insts.values() if i.inst_type == inst_type and inst_id in ("", i.inst_id)]


async def _time(d: OkxDialect, c: Call) -> list[Any]:
    return [{"ts": str(d.now_ms())}]


async def _instruments(d: OkxDialect, c: Call) -> list[Any]:
    return [i.row(125) for i in _of_type(d, c)]


async def _tickers(d: OkxDialect, c: Call) -> list[Any]:
    now = d.now_ms()
    return [d.ticker_item(i, now) for i in _of_type(d, c)]


async def _ticker(d: OkxDialect, c: Call) -> list[Any]:
    return [d.ticker_item(_inst(d, c), d.now_ms())]


async def _books(d: OkxDialect, c: Call) -> list[Any]:
    inst = _inst(d, c)
    raw = c.q("sz") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 400:
        raise ItemError("51000", "Parameter sz error")
    item = d.book_snapshot_item(inst.inst_id, int(raw))
    return [{"asks": item["asks"], "bids": item["bids"], "ts": item["ts"]}]


async def _trades(d: OkxDialect, c: Call) -> list[Any]:
    inst = _inst(d, c)
    trades = d.market.recent_trades(inst.symbol, c.limit(100, 500))
    return [render.trade_item(inst, t) for t in reversed(trades)]


async def _candles(d: OkxDialect, c: Call) -> list[Any]:
    inst = _inst(d, c)
    bar = render.BARS.get(c.q("bar") or "1m")
    if bar is None:
        raise ItemError("51000", "Parameter bar error")
    after, before = c.q("after"), c.q("before")
    if not (after or "0").isdigit() or not (before or "0").isdigit():
        raise ItemError("51000", "Parameter after error")
    klines = d.market.klines(inst.symbol, bar, 1_500)
    rows = [k for k in klines if (not after or k.open_ts < int(after)) and (not before or k.open_ts > int(before))]
    return [render.candle_row(inst, k) for k in reversed(rows)][: c.limit(100, 300)]


async def _mark_price(d: OkxDialect, c: Call) -> list[Any]:
    rows = []
    for inst in _of_type(d, c):
        mark = d.market.mark(inst.symbol)
        if mark is not None:
            rows.append(render.mark_item(inst, mark.mark_price, d.now_ms()))
    return rows


async def _funding_rate(d: OkxDialect, c: Call) -> list[Any]:
    from gateway.venues.sim.market import FUNDING_INTERVAL_MS

    inst_id = c.q("instId", required=True)
    found = [i for i in d.insts.values() if i.is_swap and inst_id in ("ANY", i.inst_id)]
    if not found:
        raise ItemError("51001", "Instrument ID does not exist.")
    rows = []
    for inst in found:
        mark = d.market.mark(inst.symbol)
        if mark is not None:
            rows.append(render.funding_item(inst, mark, d.now_ms(), FUNDING_INTERVAL_MS))
    return rows


def public_routes() -> dict[tuple[str, str], Route]:
    get = {"public/time": _time, "public/instruments": _instruments, "market/tickers": _tickers,
           "market/ticker": _ticker, "market/books": _books, "market/trades": _trades, "market/candles": _candles,
           "market/history-candles": _candles, "public/mark-price": _mark_price,
           "public/funding-rate": _funding_rate}
    return {("GET", f"/api/v5/{path}"): Route(False, handler) for path, handler in get.items()}
