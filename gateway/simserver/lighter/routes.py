"""The fake's REST routes (fact sheet §3 paths and shapes); errors as ``{code, message}``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.simserver.lighter import txcheck
from gateway.simserver.lighter.txcheck import ApiError

if TYPE_CHECKING:
    from gateway.simserver.lighter.server import LighterFake

__all__ = ["add_routes"]

Handler = Callable[["LighterFake", web.Request], Awaitable[dict[str, Any]]]


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    value = request.query.get(name)
    if value is None:
        if default is None:
            raise ApiError(400, 20001, f"missing {name}")
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(400, 20001, f"invalid {name}") from exc


def _auth(fake: LighterFake, request: web.Request) -> int:
    token = request.headers.get("authorization") or request.query.get("auth")
    return txcheck.check_auth_token(token, fake.keys, int(time.time()))


def _market_row(fake: LighterFake, market_id: int) -> dict[str, Any]:
    info = fake.markets[market_id]
    inst = info.instrument
    ticker = fake.market.ticker(inst.symbol, fake.now_ms())
    last = fake.engine.last_price(inst.symbol)
    return {"symbol": inst.native, "market_id": market_id, "market_type": "perp", "status": "active",
            "taker_fee": "0.0000", "maker_fee": "0.0000", "min_base_amount": str(inst.min_qty),
            "min_quote_amount": str(inst.min_notional), "size_decimals": info.size_decimals,
            "price_decimals": info.price_decimals, "supported_size_decimals": info.size_decimals,
            "supported_price_decimals": info.price_decimals, "supported_quote_decimals": 6,
            "last_trade_price": str(last or 0),
            "daily_price_high": str(ticker.high if ticker else last or 0),
            "daily_price_low": str(ticker.low if ticker else last or 0),
            "daily_price_change": str((ticker.last - ticker.open) if ticker else 0),
            "daily_base_token_volume": str(ticker.volume if ticker else 0),
            "daily_quote_token_volume": str(ticker.quote_volume if ticker else 0)}


async def order_book_details(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    wanted = request.query.get("market_id")
    rows = [_market_row(fake, m) for m in fake.markets if wanted is None or str(m) == wanted]
    key = "order_book_details" if request.path.endswith("orderBookDetails") else "order_books"
    return {"code": 200, key: rows}


async def order_book_orders(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    market = _int(request, "market_id")
    if market not in fake.markets:
        raise ApiError(400, 21101, "invalid market_id")
    bids, asks = fake.book_levels(market, max(1, min(_int(request, "limit", 50), 250)))

    def level(price: Any, size: Any) -> dict[str, Any]:
        return {"order_index": 0, "order_id": "0", "owner_account_index": 0, "initial_base_amount": str(size),
                "remaining_base_amount": str(size), "price": str(price), "order_expiry": 0}

    return {"code": 200, "total_bids": len(bids), "bids": [level(p, s) for p, s in bids],
            "total_asks": len(asks), "asks": [level(p, s) for p, s in asks]}


async def recent_trades(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    market = _int(request, "market_id")
    limit = max(1, min(_int(request, "limit", 50), 100))
    trades = fake.market.recent_trades(fake.markets[market].instrument.symbol, limit)
    return {"code": 200, "trades": [{"trade_id": int(t.id) if t.id.isdigit() else i, "price": str(t.price),
                                     "size": str(t.qty), "is_maker_ask": t.side.value == "buy", "market_id": market,
                                     "timestamp": t.ts} for i, t in enumerate(trades)]}


async def candles(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    market = _int(request, "market_id")
    resolution = request.query.get("resolution", "1m")
    rows = fake.candles(market, resolution, _int(request, "start_timestamp", 0),
                        _int(request, "end_timestamp", fake.now_ms()), max(1, min(_int(request, "count_back", 200), 500)))
    return {"code": 200, "r": resolution, "c": [{"t": k.open_ts, "o": str(k.open), "h": str(k.high), "l": str(k.low),
                                                 "c": str(k.close), "v": str(k.volume), "V": "0", "i": 0} for k in rows]}


async def next_nonce(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    pair = (_int(request, "account_index"), _int(request, "api_key_index"))
    if pair not in fake.keys:
        raise ApiError(400, txcheck.CODE_UNKNOWN_KEY, "api key not found")
    return {"code": 200, "nonce": fake.next_nonce[pair]}


async def api_keys(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    account = _int(request, "account_index")
    return {"code": 200, "api_keys": [{"account_index": a, "api_key_index": k, "nonce": fake.next_nonce[(a, k)],
                                       "public_key": pub} for (a, k), pub in fake.keys.items() if a == account]}


async def account(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    index = int(request.query.get("value", "0"))
    if str(index) != fake.account:
        return {"code": 200, "total": 0, "accounts": []}
    now = fake.now_ms()
    free, locked = fake.engine.balance_of(fake.account, "USDC")
    positions = []
    by_symbol = {m.instrument.symbol: m.market_id for m in fake.markets.values()}
    for p in fake.engine.positions(fake.account, now):
        positions.append({"market_id": by_symbol[p.symbol], "symbol": p.symbol.split("/")[0],
                          "sign": -1 if p.qty < 0 else 1, "position": str(abs(p.qty)),
                          "avg_entry_price": str(p.entry_price), "position_value": str(abs(p.qty) * p.mark_price),
                          "unrealized_pnl": str(p.unrealized_pnl), "realized_pnl": str(p.realized_pnl),
                          "initial_margin_fraction": str(100 / p.leverage),
                          "margin_mode": 1 if p.margin_type.value == "isolated" else 0})
    return {"code": 200, "total": 1, "accounts": [{
        "index": index, "account_index": index, "l1_address": "0x0", "account_type": 0, "status": 1,
        "collateral": str(free + locked), "available_balance": str(free), "positions": positions, "assets": []}]}


async def active_orders(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    account_index = _auth(fake, request)
    market = request.query.get("market_id")
    orders = [o.render() for o in fake.ledger.orders.values() if o.account == account_index and o.is_live
              and (market is None or str(o.market.market_id) == market)]
    return {"code": 200, "orders": orders, "next_cursor": None}


async def inactive_orders(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    account_index = _auth(fake, request)
    market = request.query.get("market_id")
    limit = max(1, min(_int(request, "limit", 100), 100))
    start = _int(request, "cursor", 0)
    between = request.query.get("between_timestamps")
    low, high = (int(x) for x in between.split(",")) if between else (0, 2**62)
    ask_filter = request.query.get("ask_filter")  # 0: bids (buys) only, 1: asks (sells) only
    done = [o for o in fake.ledger.orders.values() if o.account == account_index and not o.is_live
            and (market is None or str(o.market.market_id) == market) and low <= o.updated_ms <= high
            and (ask_filter is None or int(o.is_ask) == int(ask_filter))]
    done.sort(key=lambda o: -o.order_index)
    page = done[start:start + limit]
    cursor = str(start + limit) if start + limit < len(done) else None
    return {"code": 200, "orders": [o.render() for o in page], "next_cursor": cursor}


async def account_orders(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    account_index = _auth(fake, request)
    try:
        wanted = [int(x) for x in request.query.get("client_order_indexes", "").split(",") if x]
    except ValueError as exc:
        raise ApiError(400, 20001, "invalid client_order_indexes") from exc
    if len(wanted) > 20:
        raise ApiError(400, 20001, "at most 20 client_order_indexes")
    found = [fake.ledger.by_client.get((account_index, i)) for i in wanted]
    return {"code": 200, "orders": [fake.ledger.orders[i].render() for i in found if i is not None]}


async def trades(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    account_index = int(request.query.get("account_index", "-1"))
    if account_index >= 0:
        _auth(fake, request)
    since = _int(request, "from", 0)
    order = request.query.get("order_index")
    market = request.query.get("market_id")
    rows = [t for t in reversed(fake.ledger.trades) if t["timestamp"] >= since
            and (market is None or str(t["market_id"]) == market)
            and account_index in (t["ask_account_id"], t["bid_account_id"])
            and (order is None or str(t["ask_id"]) == order or str(t["bid_id"]) == order)]
    limit = max(1, min(_int(request, "limit", 100), 100))
    start = _int(request, "cursor", 0)
    cursor = str(start + limit) if start + limit < len(rows) else None
    return {"code": 200, "trades": rows[start:start + limit], "next_cursor": cursor}


async def send_tx(fake: LighterFake, request: web.Request) -> dict[str, Any]:
    form = await request.post()
    try:
        tx_type = int(str(form.get("tx_type", "")))
    except ValueError as exc:
        raise ApiError(400, 20001, "invalid tx_type") from exc
    tx_info = form.get("tx_info")
    if not isinstance(tx_info, str):
        raise ApiError(400, 20001, "missing tx_info")
    answer = fake.send_tx(tx_type, tx_info)
    if fake.faults.lose_answers > 0:  # accepted, and the answer never reaches the client
        fake.faults.lose_answers -= 1
        if request.transport is not None:
            request.transport.abort()
    return answer


_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/orderBookDetails"): order_book_details, ("GET", "/api/v1/orderBooks"): order_book_details,
    ("GET", "/api/v1/orderBookOrders"): order_book_orders, ("GET", "/api/v1/recentTrades"): recent_trades,
    ("GET", "/api/v1/candles"): candles, ("GET", "/api/v1/nextNonce"): next_nonce,
    ("GET", "/api/v1/apikeys"): api_keys, ("GET", "/api/v1/account"): account,
    ("GET", "/api/v1/accountActiveOrders"): active_orders, ("GET", "/api/v1/accountInactiveOrders"): inactive_orders,
    ("GET", "/api/v1/accountOrders"): account_orders, ("GET", "/api/v1/trades"): trades,
    ("POST", "/api/v1/sendTx"): send_tx,
}


def add_routes(app: web.Application, fake: LighterFake) -> None:
    """Register every REST route of the fake on `app`."""
    for (method, path), handler in _ROUTES.items():
        app.router.add_route(method, path, _wrap(fake, handler))


def _wrap(fake: LighterFake, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        from gateway.simserver.lighter.server import dumps

        try:
            body = await handler(fake, request)
            return web.Response(text=dumps(body), content_type="application/json")
        except ApiError as exc:
            return web.Response(status=exc.status, text=dumps({"code": exc.code, "message": exc.message}),
                                content_type="application/json")
        except (KeyError, ValueError) as exc:
            return web.Response(status=400, text=dumps({"code": 20001, "message": f"invalid parameter: {exc}"}),
                                content_type="application/json")

    return route
