"""`RemoteAlgoBackend`: `algo.*` on an account whose venue executes parents itself (Quantum Execute).

The same `AlgoBackend` contract as the local engine, so `algo.place` answers the same errors for the
seed's rules (`validation.validate_request`), plus QE's own (`check_remote`). Then the parent goes to the
venue (`AlgoVenue.create_parent`) instead of being sliced here.

Idempotency and unknown outcomes: every parent carries a client order id, generated before any I/O when
the strategy gave none. A parent with a strategy-given id is first looked up at the venue (the same
request returns it; another is DUPLICATE_CLIENT_ID). A create that timed out (`VenueTimeout`) is resolved
by reading the parent by that id — never by sending it again.

Journal (`remote_journal.RemoteJournal`, once a store is attached): the intent is committed under its
client order id before the create is sent, the venue's answer and every later progress push after. So
`algo.place` with a known client order id answers the journaled parent without asking QE to create it
again (an intent never answered is first looked up at QE by that id), and `algo.get` / `algos.list`
answer from the journal where QE cannot (unreachable, or a parent it no longer lists) — the venue's
REST catch-up after each (re)connect brings the journal up to date through the same pushes.

It talks to the venue only through `core.algo_ports.AlgoVenue`, so it knows nothing of QE's wire format.

Events: the venue's parent / child / fill events are published on ``<account>@algo`` as
``{"type": "algo", ...public parent}``, ``{"type": "order", "algo_id", "order"}`` and
``{"type": "fill", "algo_id", "fill"}`` (the local engine's shapes).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from gateway.core.algo_ports import AlgoEvent, AlgoVenue, ChildFill, ParentOrder, ParentSpec
from gateway.core.clock import Clock
from gateway.core.enums import MarketType
from gateway.core.errors import (
    ErrorCode,
    LookupFailed,
    OrderRejected,
    RequestError,
    VenueError,
    VenueRejected,
    VenueTimeout,
)
from gateway.core.instruments import Instrument
from gateway.orders.algo.model import AlgoState
from gateway.orders.algo.remote_journal import RemoteJournal
from gateway.orders.algo.remote_views import (
    STATE_OF,
    child_public,
    fill_public,
    public_parent,
    request_record,
    same_parent,
    same_record,
)
from gateway.orders.algo.validation import AlgoRequest, check_boost, validate_request
from gateway.persistence.remote_algos import SUBMITTING, RemoteAlgoStore

__all__ = ["STATE_OF", "RemoteAlgoBackend", "check_remote"]

log = structlog.get_logger("gateway.algos.remote")

PublishFn = Callable[[str, dict[str, Any]], None]

_QTY_ONLY_DERIBIT = frozenset({"BTCUSD", "ETHUSD"})
# algo.update's fields -> QE's V2 update body (fact sheet §5: PUT .../{id}/update)
_UPDATE_FIELDS = {
    "qty": "totalQuantity", "notional": "orderNotional", "up_tolerance": "upTolerance",
    "low_tolerance": "lowTolerance", "maker_rate_limit": "makerRateLimit", "pov_limit": "povLimit",
    "pov_min_limit": "povMinLimit", "worst_price": "worstPrice", "enable_make": "enableMake",
    "strict_up_bound": "strictUpBound", "tail_order_protection": "tailOrderProtection",
    "must_complete": "mustComplete", "execution_duration_s": "executionDurationSeconds",
}


def check_remote(request: AlgoRequest, exchange: str, instrument: Instrument) -> None:
    """QE's rules beyond the seed's table (fact sheet §6.1-§6.2).

    Raises:
        OrderRejected: NOT_SUPPORTED (Boost outside Binance BTCUSDT / ETHUSDT perpetuals).
        RequestError: INVALID_PARAMS (coin-margined Binance perpetuals and Deribit BTCUSD / ETHUSD take a
            quantity only, a whole number of contracts on Binance; a USDT-settled perpetual is margin type U).
    """
    check_boost(request, exchange.lower(), instrument.type, instrument.native)
    if instrument.type is MarketType.PERP:
        if request.margin_type == "C":
            if exchange == "Binance":
                if request.notional is not None:
                    raise RequestError("coin-margined Binance perpetuals take qty (contracts), not notional",
                                       details={"field": "notional"})
                if request.qty is not None and request.qty != request.qty.to_integral_value():
                    raise RequestError("coin-margined Binance perpetuals take a whole number of contracts",
                                       details={"field": "qty"})
        elif instrument.settle not in (None, instrument.quote):
            raise RequestError(f"{instrument.symbol} is coin-margined: margin_type must be C",
                               details={"field": "margin_type"})
    if exchange == "Deribit" and instrument.native.upper() in _QTY_ONLY_DERIBIT and request.notional is not None:
        raise RequestError("Deribit BTCUSD / ETHUSD take qty (in USD), not notional", details={"field": "notional"})


class RemoteAlgoBackend:
    """Execute `algo.*` for accounts whose venue is an `AlgoVenue` of kind ``qe``.

    Args:
        venues: venue sessions by name (= account name); only those that are `AlgoVenue`s are served.
        publish: called with `(account, data)` for ``<account>@algo``; must not block.
        clock: time source.
        min_duration_s: ``execution_duration_s`` must exceed this (QE: 10).
    """

    name = "qe"

    def __init__(self, venues: Mapping[str, Any], publish: PublishFn, clock: Clock, *, min_duration_s: int = 10):
        self._venues = venues
        self._publish = publish
        self._clock = clock
        self._min_duration_s = min_duration_s
        self.journal = RemoteJournal(clock)
        for venue in venues.values():
            if self._is_algo_venue(venue):
                venue.bind_algo(self)

    def attach_store(self, store: RemoteAlgoStore) -> None:
        """Journal parents in `store` from now on (before the venues' first catch-up, so it is recorded)."""
        self.journal.attach(store)

    async def stop(self) -> None:
        """Write the queued journal records (call before the store closes)."""
        await self.journal.stop()

    # --- AlgoSink ------------------------------------------------------------------------------------------

    def on_algo(self, account: str, event: AlgoEvent) -> None:
        """Publish a venue event on ``<account>@algo``."""
        if isinstance(event, ParentOrder):
            data = {"type": "algo", **self._public(account, event)}
            self.journal.note(account, data)
        elif isinstance(event, ChildFill):
            data = {"type": "fill", "algo_id": event.parent_id, "fill": fill_public(event)}
        else:
            data = {"type": "order", "algo_id": event.parent_id, "order": child_public(event)}
        try:
            self._publish(account, data)
        except Exception:
            log.exception("algos.publish_failed")

    # --- AlgoBackend -------------------------------------------------------------------------------------

    def serves(self, account: str) -> bool:
        return self._is_algo_venue(self._venues.get(account))

    async def place(self, strategy: str | None, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, then create the parent at the venue (idempotent on client_order_id).

        Raises:
            GatewayError: INVALID_PARAMS (a rule of the seed's table or QE's), UNKNOWN_SYMBOL, NOT_SUPPORTED,
                DUPLICATE_CLIENT_ID, VENUE_REJECTED, TIMEOUT (the create's outcome is still unknown).
        """
        venue = self._venue(account)
        instrument = self._instrument(venue, str(params.get("symbol") or ""))
        request = validate_request(params, account=account, symbol=instrument.symbol, market_type=instrument.type,
                                   now_ms=self._clock.now_ms(),
                                   min_duration_s=getattr(venue.settings, "min_duration_s", self._min_duration_s))
        exchange = venue.settings.exchange
        check_remote(request, exchange, instrument)
        client_order_id = request.client_order_id or f"gw{self._clock.now_ms():x}{secrets.token_hex(4)}"
        wanted = request_record(request, instrument)
        if request.client_order_id is not None:
            known = await self._known_place(account, venue, request, instrument, wanted)
            if known is not None:
                return known
        await self.journal.intent(strategy, account, client_order_id, instrument.symbol, wanted)
        spec = ParentSpec(
            api_key_id=await venue.default_api_key_id(), exchange=exchange,
            market_type="PERP" if instrument.type is MarketType.PERP else "SPOT", symbol=instrument.native,
            side=request.side.value, algorithm=request.algorithm.value, duration_s=request.duration_ms // 1000,
            qty=request.qty, notional=request.notional, start_ms=request.start_ms,
            client_order_id=client_order_id, options=request.to_record())
        try:
            parent = await venue.create_parent(spec)
        except VenueTimeout:
            found = await venue.get_parent(client_order_id=client_order_id)
            if found is None:
                raise  # still unknown: the journaled intent is resolved by its id on the next look
            parent = found
        except VenueRejected as exc:
            await self.journal.forget_intent(account, client_order_id, exc.message)
            raise
        public = self._public(account, parent)
        await self.journal.answered(account, public, request=wanted, strategy=strategy)
        return public

    async def _known_place(self, account: str, venue: Any, request: AlgoRequest, instrument: Instrument,
                           wanted: dict[str, Any]) -> dict[str, Any] | None:
        """The parent a strategy-given client order id already names (journal first, then QE), or None.

        Raises:
            OrderRejected: DUPLICATE_CLIENT_ID when it names a different request.
        """
        cid = request.client_order_id
        assert cid is not None
        row = await self.journal.by_client_order_id(account, cid)
        if row is not None and row.state != "failed":
            if not same_record(row.request, wanted):
                raise OrderRejected(f"client_order_id {cid!r} is used by another algo order",
                                    code=ErrorCode.DUPLICATE_CLIENT_ID)
            if row.algo_id is not None and row.record is not None:
                return {**row.record, "source": "journal"}  # known: QE is not asked to create it again
        existing = await venue.get_parent(client_order_id=cid)
        if existing is None:
            return None  # never created (or refused): create it now
        if row is None and not same_parent(existing, request, instrument):
            raise OrderRejected(f"client_order_id {cid!r} is used by another algo order",
                                code=ErrorCode.DUPLICATE_CLIENT_ID)
        public = self._public(account, existing)
        await self.journal.answered(account, public, request=wanted)
        return public

    async def cancel(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                     reason: str | None = None) -> dict[str, Any]:
        venue, parent = await self._find(account, algo_id, client_order_id)
        if STATE_OF.get(parent.status, AlgoState.RUNNING).is_terminal:
            return self._public(account, parent)  # idempotent, like the local engine
        await venue.cancel_parent(parent.parent_id, reason)
        return await self.get(account, parent.parent_id)

    async def pause(self, account: str, algo_id: str | None, client_order_id: str | None = None) -> dict[str, Any]:
        venue, parent = await self._find(account, algo_id, client_order_id)
        await venue.pause_parent(parent.parent_id)
        return await self.get(account, parent.parent_id)

    async def resume(self, account: str, algo_id: str | None, client_order_id: str | None = None
                     ) -> dict[str, Any]:
        venue, parent = await self._find(account, algo_id, client_order_id)
        await venue.resume_parent(parent.parent_id)
        return await self.get(account, parent.parent_id)

    async def update(self, account: str, algo_id: str | None, client_order_id: str | None,
                     fields: Mapping[str, Any]) -> dict[str, Any]:
        """Change a running parent (QE's update of a master order); `fields` in the API's snake_case names.

        Raises:
            RequestError: INVALID_PARAMS (nothing to change, or a field QE cannot update).
            VenueRejected: QE refused (e.g. the parent has ended, or a value breaks a rule).
        """
        wire = {_UPDATE_FIELDS[k]: v for k, v in fields.items() if k in _UPDATE_FIELDS and v is not None}
        unknown = sorted(set(fields) - set(_UPDATE_FIELDS))
        if unknown or not wire:
            raise RequestError(f"algo.update changes some of {', '.join(_UPDATE_FIELDS)}"
                               + (f"; not {', '.join(unknown)}" if unknown else ""), details={"field": "fields"})
        venue, parent = await self._find(account, algo_id, client_order_id)
        await venue.update_parent(parent.parent_id, wire)
        return await self.get(account, parent.parent_id)

    async def batch_cancel(self, account: str, algo_ids: list[str], reason: str | None = None) -> dict[str, Any]:
        """Cancel several parents in one QE request; answer which were canceled and why the others were not."""
        venue = self._venue(account)
        reply = await venue.batch_cancel(list(algo_ids), reason)
        failed = [{"algo_id": str(f.get("masterOrderId") or ""), "reason": str(f.get("reason") or "")}
                  for f in reply.get("failedOrders") or [] if isinstance(f, dict)]
        refused = {f["algo_id"] for f in failed}
        return {"canceled": [a for a in algo_ids if a not in refused], "failed": failed,
                "success_count": int(reply.get("successCount") or 0)}

    async def get(self, account: str, algo_id: str | None, client_order_id: str | None = None) -> dict[str, Any]:
        """QE's view (journaled on the way); the journal's when QE is unreachable or no longer has it.

        Raises:
            LookupFailed: ORDER_NOT_FOUND (neither QE nor the journal knows it).
            VenueError: QE failed and the journal has no record of it.
        """
        venue = self._venue(account)
        if algo_id is None and client_order_id is None:
            raise RequestError("give algo_id or client_order_id", details={"field": "algo_id"})
        row = await (self.journal.by_algo_id(account, algo_id) if algo_id is not None
                     else self.journal.by_client_order_id(account, client_order_id or ""))
        parent_id = algo_id or (row.algo_id if row is not None else None)
        try:
            parent = await venue.get_parent(parent_id, client_order_id if parent_id is None else None)
        except VenueError as exc:
            if row is None or row.record is None:
                raise
            log.warning("algos.answered_from_journal", account=account, algo_id=row.algo_id, error=exc.message)
            return {**row.record, "source": "journal"}
        if parent is not None:
            public = self._public(account, parent)
            await self.journal.answered(account, public)
            return public
        if row is not None and row.record is not None:
            return {**row.record, "source": "journal"}
        raise LookupFailed("algo order not found", code=ErrorCode.ORDER_NOT_FOUND,
                           details={"algo_id": algo_id, "client_order_id": client_order_id})

    async def list(self, account: str, *, open_only: bool = False, state: str | None = None,
                   limit: int = 500) -> list[dict[str, Any]]:
        """QE's list (journaled on the way) merged with the journal's parents QE did not list (or all of
        them, when QE is unreachable), newest first."""
        venue = self._venue(account)
        found: list[dict[str, Any]] = []
        page = 1
        try:
            while len(found) < limit:
                result = await venue.list_parents(open_only=open_only, page=page, page_size=100)
                found += [self._public(account, p) for p in result.items]
                if len(result.items) < 100:
                    break
                page += 1
        except VenueError as exc:
            if not self.journal.attached:
                raise
            log.warning("algos.listed_from_journal", account=account, error=exc.message)
        for public in found:
            self.journal.note(account, public)
        listed = {p["algo_id"] for p in found}
        found += [{**r.record, "source": "journal"} for r in await self.journal.list(account, open_only=open_only,
                                                                                      limit=limit)
                  if r.record is not None and r.algo_id not in listed and r.state != SUBMITTING]
        found = [p for p in found if state is None or str(p.get("state")) == state]
        found.sort(key=lambda p: (int(p.get("created_ts") or 0), str(p.get("algo_id") or "")), reverse=True)
        return found[:limit]

    async def fills(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                    limit: int = 500) -> list[dict[str, Any]]:
        """Return the parent's child orders that filled: QE reports a child's cumulative fill, not each one."""
        venue, parent = await self._find(account, algo_id, client_order_id)
        children = await venue.parent_children(parent.parent_id)
        found = [{**child_public(c), "algo_id": parent.parent_id} for c in children if c.filled_qty > 0]
        found.sort(key=lambda f: (f["ts"] or 0, f["order_id"]))
        return found[:limit]

    async def exchange_apis(self, account: str) -> list[dict[str, Any]]:
        return await self._venue(account).exchange_apis()

    async def trading_pairs(self, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._venue(account).trading_pairs(params)

    # --- helpers ------------------------------------------------------------------------------------------

    @staticmethod
    def _is_algo_venue(venue: Any) -> bool:
        return venue is not None and getattr(venue, "kind", None) == "qe" and isinstance(venue, AlgoVenue)

    def _venue(self, account: str) -> Any:
        venue = self._venues.get(account)
        if not self._is_algo_venue(venue):
            raise LookupFailed(f"{account!r} is not a Quantum Execute account", code=ErrorCode.UNKNOWN_VENUE)
        return venue

    def _instrument(self, venue: Any, symbol: str) -> Instrument:
        if not symbol:
            raise RequestError("symbol is required", details={"field": "symbol"})
        instruments: dict[str, Instrument] = venue.algo_instruments
        found = instruments.get(symbol) or next((i for i in instruments.values() if i.native == symbol), None)
        if found is None:
            raise LookupFailed(f"unknown symbol {symbol!r} on {venue.name}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"symbol": symbol})
        return found

    async def _find(self, account: str, algo_id: str | None, client_order_id: str | None) -> tuple[Any, ParentOrder]:
        venue = self._venue(account)
        if algo_id is None and client_order_id is None:
            raise RequestError("give algo_id or client_order_id", details={"field": "algo_id"})
        parent = await venue.get_parent(algo_id, None if algo_id is not None else client_order_id)
        if parent is None:
            raise LookupFailed("algo order not found", code=ErrorCode.ORDER_NOT_FOUND,
                               details={"algo_id": algo_id, "client_order_id": client_order_id})
        return venue, parent

    def _public(self, account: str, p: ParentOrder) -> dict[str, Any]:
        return public_parent(account, p, getattr(self._venues.get(account), "algo_instruments", {}))
