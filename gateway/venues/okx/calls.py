"""The shared shell of an OKX session's trading calls: REST/WS writes, per-item answers, paging, symbols.

`OkxCalls` holds what every concern needs (the REST client, the private socket, the symbol map, the
clock) and the helpers that read OKX's answers the one way the fact sheet says (§2: per-item ``sCode``
is authoritative; a missing item on success is itself an error). The concerns build on it:
`account.AccountCalls`, `algo_orders.AlgoCalls` and `execution.OkxExecution` (orders, catch-up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.errors import (
    ErrorCode,
    GatewayError,
    LookupFailed,
    VenueRejected,
    VenueUnavailable,
)
from gateway.venues.okx.config import OkxSettings
from gateway.venues.okx.envelope import (
    UNKNOWN_OUTCOME,
    Envelope,
    item_results,
    to_envelope,
    to_error,
)
from gateway.venues.okx.instruments import SymbolMap
from gateway.venues.okx.parse import MalformedRow
from gateway.venues.okx.rest import OkxRest
from gateway.venues.okx.stream import OkxSocket, reply_error
from gateway.venues.okx.trading import (
    AccountMode,
)

__all__ = ["OkxCalls"]

_PAGE = 100  # rows per page of a history / fills query
log = structlog.get_logger("gateway.venues.okx.execution")


class OkxCalls:
    """State and helpers shared by the trading calls of one OKX session."""

    def __init__(self, venue: str, settings: OkxSettings, rest: OkxRest, symbols: Callable[[], SymbolMap],
                 clock: Clock, ws: Callable[[], OkxSocket | None]):
        self.venue = venue
        self.market = settings.market
        self._settings = settings
        self._rest = rest
        self._symbols = symbols
        self._clock = clock
        self._ws = ws
        self.mode = AccountMode()
        self.td_modes: dict[str, str] = {}  # unified -> tdMode chosen by set_margin_type
        self.leverage: dict[str, int] = {}
        self.ws_orders = 0
        self.rest_orders = 0

    # --- helpers ------------------------------------------------------------------------------------

    async def _write(self, op: str, path: str, args: dict[str, Any] | list[dict[str, Any]], inst_id: str,
                     *, items: bool = False) -> Envelope:
        # Over the private WS when it is logged in (shared limits, lower latency); REST otherwise.
        ws = self._ws() if self._settings.orders_over_ws else None
        if ws is not None and ws.is_open and ws.logged_in:
            try:
                await self._rest.budget(path, inst_id).acquire({"REQUESTS": 1})
                reply = await ws.request(op, args if isinstance(args, list) else [args], self._settings.ws_order_timeout_s)
            except VenueUnavailable:
                pass  # not sent: REST below
            else:
                self.ws_orders += 1
                error = reply_error(self.venue, op, reply)
                if error is not None:
                    raise to_error(self.venue, f"ws {op}", str(error.venue_code), error.venue_message or "",
                                   write=True)
                return to_envelope(reply)
        self.rest_orders += 1
        return await self._rest.call("POST", path, body=args, signed=True, write=True, inst_id=inst_id, items=items)

    def _single(self, envelope: Envelope, what: str) -> Any:
        items = item_results(envelope)
        if not items:
            if envelope.ok:
                raise VenueRejected(f"{what}: OKX answered no item", venue=self.venue, venue_code=envelope.code)
            raise to_error(self.venue, what, envelope.code, envelope.msg, write=True)
        item = items[0]
        if not item.ok:
            raise to_error(self.venue, what, item.s_code, item.s_msg, write=True)
        return item

    def _items_ok(self, envelope: Envelope, what: str, *, tolerate: frozenset[str]) -> None:
        for item in item_results(envelope):
            if not item.ok and item.s_code not in tolerate:
                if item.s_code in UNKNOWN_OUTCOME:
                    raise to_error(self.venue, what, item.s_code, item.s_msg, write=True)
                log.warning("okx.batch_item_failed", what=what, code=item.s_code, msg=item.s_msg)

    def _convert(self, rows: list[dict[str, Any]], convert: Callable[[dict[str, Any], str], Any]) -> list[Any]:
        found = []
        for row in rows:
            symbol = self.unified(str(row.get("instId")))
            if symbol is None:
                continue
            try:
                value = convert(row, symbol)
            except MalformedRow as exc:
                log.warning("okx.bad_row", error=str(exc)[:200])
                continue
            if value is not None:
                found.append(value)
        return found

    def _swap_only(self, what: str) -> None:
        if self.market != "swap":
            raise GatewayError(f"{what} is for swaps (market swap)", code=ErrorCode.NOT_SUPPORTED,
                               details={"venue": self.venue})

    def native(self, symbol: str) -> str:
        try:
            return self._symbols().native(symbol)
        except KeyError:
            raise LookupFailed(f"unknown symbol {symbol!r} on {self.venue}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"venue": self.venue, "symbol": symbol}) from None

    def unified(self, native: str) -> str | None:
        return self._symbols().unified(native)

    def _now(self) -> int:
        return self._clock.now_ms()

    def _server_now(self) -> int:
        return self._rest.offset.server_now(self._clock.now_ms())

    async def _paged(self, path: str, params: dict[str, object], cursor: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(50):  # at most 5,000 rows per catch-up
            query = {**params, "limit": _PAGE, **({"after": after} if after else {})}
            envelope = await self._rest.call("GET", path, query, signed=True)
            page = [r for r in envelope.data if isinstance(r, dict)]
            rows += page
            if len(page) < _PAGE or not page[-1].get(cursor):
                break
            after = str(page[-1][cursor])
        return rows
