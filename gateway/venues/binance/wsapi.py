"""Orders over the WebSocket API, REST as the fallback: USD-M ws-fapi and spot ws-api (fact sheet §5).

One connection to ``ws_api`` (``wss://ws-fapi.binance.com/ws-fapi/v1``, or spot
``wss://ws-api.binance.com:443/ws-api/v3``). Each request is ``{"id", "method", "params"}``. HMAC keys sign
each one (params plus ``apiKey`` and ``timestamp``, sorted by name: §1.4); with an Ed25519 key the
connection logs on once (``session.logon``, `wslogon`) and requests then carry only ``timestamp`` (§1.5).
Decimals travel as JSON strings, integers as JSON integers. Answers ``{"id", "status", "result" | "error"}``
are matched by id.

Methods: ``order.place``, ``order.cancel``, ``order.status`` (both markets); usdm also ``order.modify``,
``algoOrder.place``, ``algoOrder.cancel``. Outcomes follow `execution`: a refusal is `VenueRejected`
(Binance's code); a write whose answer does not come (timeout, or the connection dropped after sending)
is `VenueTimeout` (unknown); a call that could not be sent (not connected) goes over REST instead.
Everything else (lists, account, leverage, spot amends ...) is REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from decimal import Decimal
from typing import Any

import orjson
import structlog
from websockets.asyncio.client import ClientConnection

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import VenueError, VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable
from gateway.core.events import OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.venues.binance.auth import Signer, encode_value, sign_ws_params
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.binance.enums import SIDE
from gateway.venues.binance.execution import NO_SUCH_ORDER, UNKNOWN_OUTCOME, BinanceExecution
from gateway.venues.binance.instruments import interval_ms
from gateway.venues.binance.trading import (
    CLIENT_ID_ALPHABET,
    algo_id_of,
    amend_params,
    check_client_id,
    order_ref,
    place_call,
)
from gateway.venues.binance.user_parse import algo_order_update, rest_order_update
from gateway.venues.binance.user_schemas import AlgoOrder, RestOrder, decode
from gateway.venues.binance.wslogon import logon_request, session_logon, uses_session_logon
from gateway.venues.common.retry import Backoff
from gateway.venues.common.timesync import TimeOffset
from gateway.venues.common.ws import ResilientWebSocket

__all__ = ["WsOrders"]


class WsOrders:
    """The WebSocket API order session of one venue, spot or usdm (see the module docstring)."""

    def __init__(self, venue: str, settings: BinanceSettings, url: str, api_key: str, signer: Signer,
                 offset: TimeOffset, execution: BinanceExecution, clock: Clock, rng: random.Random):
        self.venue = venue
        self._settings = settings
        self._api_key = api_key
        self._signer = signer
        self._offset = offset
        self._rest = execution
        self._clock = clock
        self._market = settings.market
        self._usdm = settings.market == "usdm"
        self._logon = uses_session_logon(signer, settings.ws_session_logon)
        self.logged_on = False
        self.logons = 0
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.requests = 0
        self.fallbacks = 0
        self._log = structlog.get_logger("gateway.venues.binance.wsapi").bind(venue=venue)
        self.connection = ResilientWebSocket(
            f"{venue}:ws-api", venue, lambda: url, self._on_raw, on_state=self._on_state,
            on_open=self._opened if self._logon else None,
            backoff=Backoff(settings.backoff_base_s, settings.backoff_cap_s, floor_s=min(0.05, settings.backoff_base_s)),
            rng=rng, ping_interval_s=settings.ws_ping_interval_s, ping_timeout_s=settings.ws_ping_timeout_s,
            open_timeout_s=settings.request_timeout_s, max_age_s=settings.ws_max_age_s,
        )

    @property
    def is_open(self) -> bool:
        return self.connection.is_open

    async def run(self) -> None:
        await self.connection.run()

    def status(self) -> dict[str, Any]:
        return {"open": self.is_open, "requests": self.requests, "fallbacks_to_rest": self.fallbacks,
                "in_flight": len(self._pending), "session_logon": self._logon, "logons": self.logons}

    async def _opened(self, ws: ClientConnection) -> None:
        # Ed25519: log the fresh connection on before it is reported open (requests then go unsigned).
        request = logon_request(f"logon-{next(self._ids)}", self._api_key, self._signer,
                                self._offset.server_now(self._clock.now_ms()), self._settings.recv_window_ms)
        await session_logon(ws, request, self.venue, self._settings.ws_api_timeout_s)
        self.logged_on = True
        self.logons += 1

    # --- orders -------------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        check_client_id(request.client_order_id,
                        self._settings.client_order_id_alphabet or CLIENT_ID_ALPHABET[self._market],
                        self._settings.client_order_id_max_len)
        call = place_call(request, self._rest.native(request.symbol), self._market,
                          working_type=self._settings.working_type, price_protect=self._settings.price_protect)
        method = "algoOrder.place" if call.algo else "order.place"
        try:
            result = await self.request(method, call.params, write=True)
        except _NotSent:
            return await self._rest.place_order(request)
        if call.algo:
            return algo_order_update(decode(AlgoOrder, result), self.venue, request.symbol, self._clock.now_ms())
        return rest_order_update(decode(RestOrder, result), self.venue, request.symbol, self._market,
                                 self._clock.now_ms())

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        if algo_id_of(order_id) is not None or (self._usdm and order_id is None):  # usdm: maybe an algo order
            return await self._rest.cancel_order(symbol, order_id, client_order_id)
        try:
            result = await self.request("order.cancel", [("symbol", self._rest.native(symbol)),
                                                         *order_ref(order_id, client_order_id)], write=True)
        except _NotSent:
            return await self._rest.cancel_order(symbol, order_id, client_order_id)
        return rest_order_update(decode(RestOrder, result), self.venue, symbol, self._market, self._clock.now_ms())

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        if not self._usdm:  # spot has no amend (REST answers NOT_SUPPORTED)
            return await self._rest.amend_order(symbol, order_id, client_order_id, qty, price)
        current = await self.get_order(symbol, order_id, client_order_id)
        if current is None or algo_id_of(current.order_id) is not None or current.price is None:
            return await self._rest.amend_order(symbol, order_id, client_order_id, qty, price)
        params = amend_params(self._rest.native(symbol), SIDE[current.side], current.order_id, None,
                              qty if qty is not None else current.qty, price if price is not None else current.price)
        try:
            result = await self.request("order.modify", params, write=True)
        except _NotSent:
            return await self._rest.amend_order(symbol, order_id, client_order_id, qty, price)
        return rest_order_update(decode(RestOrder, result), self.venue, symbol, self._market, self._clock.now_ms())

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        if algo_id_of(order_id) is not None:
            return await self._rest.get_order(symbol, order_id, client_order_id)
        try:
            result = await self.request("order.status", [("symbol", self._rest.native(symbol)),
                                                         *order_ref(order_id, client_order_id)], write=False)
        except _NotSent:
            return await self._rest.get_order(symbol, order_id, client_order_id)
        except VenueRejected as exc:
            if exc.venue_code in NO_SUCH_ORDER:  # maybe an algo order (by client id), or none: REST decides
                return await self._rest.get_order(symbol, order_id, client_order_id)
            raise
        update = rest_order_update(decode(RestOrder, result), self.venue, symbol, self._market, self._clock.now_ms())
        return self._rest.links.rewrite(update)  # type: ignore[return-value]

    # --- requests -----------------------------------------------------------------------------------

    async def request(self, method: str, params: list[tuple[str, object]], *, write: bool) -> Any:
        """Send one signed request; return its ``result``.

        Raises:
            _NotSent: there is no open connection (nothing was sent: the caller uses REST).
            VenueRejected / VenueRateLimited: Binance refused it.
            VenueTimeout: a write without an answer (its outcome is unknown).
            VenueUnavailable: a read without an answer.
        """
        rest = self._rest.rest
        if method in _ORDER_WRITES:  # the account's ORDERS budget is shared with REST (refused: not sent)
            await rest.take_orders(1)
        values: dict[str, object] = {k: _wire(k, v) for k, v in params if v is not None}
        values["timestamp"] = self._offset.server_now(self._clock.now_ms())
        values["recvWindow"] = self._settings.recv_window_ms
        if not self.logged_on:  # signed on its own (HMAC keys always; Ed25519 without session.logon)
            values["apiKey"] = self._api_key
            values = sign_ws_params(values, self._signer)
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        text = orjson.dumps({"id": rid, "method": method, "params": values}).decode()
        try:
            try:
                await self.connection.send(text)
            except VenueUnavailable as exc:
                self.fallbacks += 1
                raise _NotSent(method) from exc
            self.requests += 1
            try:
                async with asyncio.timeout(self._settings.ws_api_timeout_s):
                    answer = await future
            except (TimeoutError, ConnectionError) as exc:
                if write:
                    raise VenueTimeout(f"{method}: no answer; the outcome is unknown", venue=self.venue) from exc
                raise VenueUnavailable(f"{method}: no answer", venue=self.venue) from exc
        finally:
            self._pending.pop(rid, None)
        now = self._clock.now_ms()
        for limit in answer.get("rateLimits") or ():  # the account's order counts, as the headers on REST
            if isinstance(limit, dict) and limit.get("rateLimitType") == "ORDERS" and "count" in limit:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    rest.fold_order_count(interval_ms(limit["interval"], int(limit["intervalNum"])),
                                          int(limit["count"]), now)
        return self._result(method, answer, write)

    def _result(self, method: str, answer: dict[str, Any], write: bool) -> Any:
        status = int(answer.get("status") or 0)
        if status == 200:
            return answer.get("result")
        error = answer.get("error") or {}
        code, msg = error.get("code", status), str(error.get("msg", ""))
        if status in (429, 418):
            failure: VenueError = VenueRateLimited(f"{method}: rate limited ({status})", venue=self.venue,
                                                   venue_code=code, venue_message=msg)
            if status == 418:
                failure.details["banned"] = True
            raise failure
        if status >= 500 or (write and code in UNKNOWN_OUTCOME):
            if write:
                raise VenueTimeout(f"{method}: {msg}; the outcome is unknown", venue=self.venue, venue_code=code,
                                   venue_message=msg)
            raise VenueUnavailable(f"{method}: {msg}", venue=self.venue, venue_code=code, venue_message=msg)
        raise VenueRejected(f"{method}: rejected ({code}) {msg}", venue=self.venue, venue_code=code, venue_message=msg)

    def _on_raw(self, raw: str | bytes) -> None:
        frame = orjson.loads(raw)
        future = self._pending.get(frame.get("id")) if isinstance(frame, dict) else None
        if future is not None and not future.done():
            future.set_result(frame)

    def _on_state(self, state: ConnectionState, reason: str | None) -> None:
        if state is not ConnectionState.OPEN:  # answers in flight (and the logon) are lost with the connection
            self.logged_on = False
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(reason or "ws-fapi dropped"))
            self._log.warning("wsapi.down", reason=reason, in_flight=len(self._pending))


_ORDER_WRITES = frozenset({"order.place", "order.modify", "algoOrder.place"})


class _NotSent(Exception):
    """The request never left (no connection): safe to send it another way."""


def _wire(key: str, value: object) -> object:
    # ws-fapi: integers (and order ids) as JSON integers, decimals and the rest as strings (fact sheet §1.4).
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if key == "orderId" and isinstance(value, str) and value.isdigit():
        return int(value)
    return encode_value(value)
