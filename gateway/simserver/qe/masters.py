"""The dialect's master orders: QE's parameter rules, executed as real child orders on the sim engine. Pure.

A V2 create body is checked with the same rules the gateway checks (`orders.algo.validation`, the
seed's table) plus QE's own (exchange whitelist, a bound ``apiKeyId``, a listed pair, V2 refusing
``limitPrice``), then run by the local engine's pure core (`orders.algo.engine.advance`): every child is
a LIMIT order (post-only maker or IOC taker) on the `MatchingEngine`, so fills are the engine's fills.

`MasterBook` is driven by its owner: `tick(now)` after each market step, `on_engine(events, now)` with
every engine event of the user's account. Both return the pushes to send: ("master", record) and
("order", record) in QE's V2 camelCase (`render`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.core.enums import MarketType, OrderType, Side
from gateway.core.errors import GatewayError
from gateway.core.instruments import Instrument
from gateway.orders.algo.engine import (
    CancelChild,
    ChildReport,
    Intent,
    MarketSnapshot,
    PlaceChild,
    SizeRules,
    Step,
    Tuning,
    advance,
    cancel,
    on_child_refused,
    on_child_report,
    on_market_volume,
    pause,
    resume,
)
from gateway.orders.algo.model import Algo, Algorithm
from gateway.orders.algo.schedule import even_schedule, slice_count
from gateway.orders.algo.sizing import min_qty_at
from gateway.orders.algo.validation import check_boost, validate_request
from gateway.simserver.qe import render
from gateway.venues.qe.config import EXCHANGES
from gateway.venues.sim.matching import MatchingEngine, OrderRefused
from gateway.venues.sim.records import FillEvent, OrderEvent, TradeEvent

__all__ = ["BoundAccount", "DialectError", "MasterBook", "Push"]

Push = tuple[str, dict[str, Any]]  # ("master" | "order", V2 record)

# V2 body field -> the validation's param name (fact sheet §6.2)
_FIELDS = {
    "totalQuantity": "qty", "orderNotional": "notional", "executionDurationSeconds": "execution_duration_s",
    "startTimeMs": "start_time", "worstPrice": "worst_price", "makerRateLimit": "maker_rate_limit",
    "povLimit": "pov_limit", "povMinLimit": "pov_min_limit", "upTolerance": "up_tolerance",
    "lowTolerance": "low_tolerance", "mustComplete": "must_complete", "strictUpBound": "strict_up_bound",
    "tailOrderProtection": "tail_order_protection", "enableMake": "enable_make",
    "isTargetPosition": "is_target_position", "reduceOnly": "reduce_only", "isMargin": "is_margin",
    "marginType": "margin_type", "notes": "notes", "clientOrderId": "client_order_id",
}
_UPDATABLE = {"upTolerance", "lowTolerance", "makerRateLimit", "povLimit", "povMinLimit", "worstPrice",
              "mustComplete", "strictUpBound", "tailOrderProtection", "enableMake"}


class DialectError(Exception):
    """A request QE refuses: answered with the envelope, ``code`` and ``message``."""

    def __init__(self, code: int, message: str, reason: str = "BAD_REQUEST"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BoundAccount:
    """An exchange account bound to the QE user (ExchangeApiV2Info)."""

    api_key_id: str
    exchange: str
    account_name: str
    is_default: bool = True


@dataclass(slots=True)
class _Master:
    algo: Algo
    rules: SizeRules
    instrument: Instrument
    api_key_id: str
    exchange: str
    children: dict[str, dict[str, Any]] = field(default_factory=dict)  # child client id -> V2 record


class MasterBook:
    """Every master order of the dialect's one user (see the module docstring)."""

    def __init__(self, engine: MatchingEngine, account: str, accounts: list[BoundAccount], *,
                 tuning: Tuning, slice_ms: int, min_duration_s: int):
        self.engine = engine
        self.account = account
        self.accounts = {a.api_key_id: a for a in accounts}
        self._tuning = tuning
        self._slice_ms = slice_ms
        self._min_duration_s = min_duration_s
        self.masters: dict[str, _Master] = {}
        self._by_client: dict[str, str] = {}
        self._child_owner: dict[str, str] = {}  # child client order id -> master id
        self._next = 0
        self.pending_events: list[Any] = []  # engine events of child calls, for the owner to publish

    # --- requests -----------------------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any], now: int) -> tuple[_Master, list[Push]]:
        """Validate and start a master order. Raises DialectError (400) naming the rule broken."""
        account = self._bound(body)
        exchange = str(body.get("exchange") or "")
        if exchange not in EXCHANGES:
            raise DialectError(400, f"exchange must be one of {', '.join(EXCHANGES)}")
        if exchange != account.exchange:
            raise DialectError(400, f"apiKeyId {account.api_key_id} is a {account.exchange} account")
        if "limitPrice" in body or "limitPriceString" in body:
            raise DialectError(400, "limitPrice is not accepted by V2: use worstPrice")
        if "executionDurationSeconds" not in body:
            raise DialectError(400, "executionDurationSeconds is required")
        instrument = self._instrument(str(body.get("symbol") or ""), str(body.get("marketType") or ""))
        params = {_FIELDS[k]: (str(v) if isinstance(v, float) else v) for k, v in body.items() if k in _FIELDS}
        params.update(algorithm=body.get("algorithm"), side=str(body.get("side") or "").lower())
        try:
            request = validate_request(params, account=self.account, symbol=instrument.symbol,
                                       market_type=instrument.type, now_ms=now, min_duration_s=self._min_duration_s)
            check_boost(request, exchange.lower(), instrument.type, instrument.native)
        except GatewayError as exc:
            raise DialectError(400, exc.message) from None
        if request.client_order_id is not None and request.client_order_id in self._by_client:
            raise DialectError(400, f"clientOrderId {request.client_order_id} already exists", "DUPLICATE")
        side, qty = request.side, request.qty
        if request.is_target_position:
            held = sum((p.qty for p in self.engine.positions(self.account, now) if p.symbol == instrument.symbol),
                       Decimal(0))
            delta = request.side.sign * (request.qty or Decimal(0)) - held
            if delta == 0:
                raise DialectError(400, "the position is already at the target")
            side, qty = (Side.BUY, delta) if delta > 0 else (Side.SELL, -delta)
        rules = SizeRules.of(instrument, True)
        reference = self._snapshot(instrument.symbol).reference(side) or Decimal(1)
        minimum = min_qty_at(rules, reference)
        if qty is not None:
            qty = instrument.round_qty(qty)
            if qty < minimum:
                raise DialectError(400, f"totalQuantity is below the exchange minimum {minimum}")
        elif request.notional is not None and request.notional < minimum * reference:
            raise DialectError(400, f"orderNotional is below the exchange minimum {minimum * reference}")
        target = qty if qty is not None else request.notional
        assert target is not None
        schedule: tuple[Decimal, ...] = ()
        if request.algorithm is not Algorithm.POV:
            unit = minimum if qty is not None else minimum * reference
            schedule = even_schedule(slice_count(request.duration_ms, self._slice_ms, 500, target, unit))
        self._next += 1
        master_id = f"mo{now:x}{self._next:04d}"
        algo = Algo(algo_id=master_id, account=self.account, venue="qe", symbol=instrument.symbol, side=side,
                    algorithm=request.algorithm, qty=qty, notional=request.notional, start_ts=request.start_ms,
                    end_ts=request.end_ms, created_ts=now, updated_ts=now, params=request.to_record(),
                    schedule=schedule, profile="pov" if not schedule else "even",
                    client_order_id=request.client_order_id)
        master = _Master(algo, rules, instrument, account.api_key_id, exchange)
        self.masters[master_id] = master
        if request.client_order_id is not None:
            self._by_client[request.client_order_id] = master_id
        return master, [("master", render.master(master.algo, master.instrument, master.api_key_id, exchange))]

    def action(self, master_id: str, action: str, body: Mapping[str, Any], now: int) -> list[Push]:
        """cancel / pause / resume / update one master order. Raises DialectError (404, 400)."""
        master = self.get(master_id)
        algo = master.algo
        if action == "update":
            step = self._update(master, body, now)
        elif algo.is_terminal:
            raise DialectError(400, f"master order {master_id} is {render.status_of(algo)}")
        elif action == "cancel":
            step = cancel(algo, now, str(body.get("reason") or "canceled by request"))
        elif action == "pause":
            step = pause(algo, now)
        else:
            step = resume(algo, now)
        return self._run(master, step, now)

    def get(self, master_id: str) -> _Master:
        master = self.masters.get(master_id)
        if master is None:
            raise DialectError(404, f"master order {master_id} not found", "NOT_FOUND")
        return master

    def by_client_order_id(self, client_order_id: str) -> _Master:
        master_id = self._by_client.get(client_order_id)
        if master_id is None:
            raise DialectError(404, f"clientOrderId {client_order_id} not found", "NOT_FOUND")
        return self.masters[master_id]

    # --- driving ------------------------------------------------------------------------------------------

    def tick(self, now: int) -> list[Push]:
        """Let every live master decide (place / cancel children) at `now`."""
        pushes: list[Push] = []
        for master in list(self.masters.values()):
            algo = master.algo
            if algo.is_terminal and not algo.live_children():
                continue
            step = advance(algo, now, self._snapshot(algo.symbol), master.rules, self._tuning)
            pushes += self._run(master, step, now)
        return pushes

    def on_tape(self, events: list[Any]) -> None:
        """Count the tape's volume for POV parents (their denominator)."""
        for event in events:
            if type(event) is TradeEvent:
                for master in self.masters.values():
                    if master.algo.symbol == event.symbol:
                        on_market_volume(master.algo, event.qty, event.qty * event.price)

    def on_engine(self, events: list[Any], now: int) -> list[Push]:
        """Fold the user's order events of children into their masters."""
        pushes: list[Push] = []
        for event in events:
            if type(event) is not OrderEvent or event.account != self.account or event.client_order_id is None:
                continue
            master_id = self._child_owner.get(event.client_order_id)
            if master_id is None:
                continue
            master = self.masters[master_id]
            report = ChildReport(event.client_order_id, event.status, event.filled_qty, event.avg_price,
                                 event.order_id, event.reason)
            step = on_child_report(master.algo, report, now)
            record = render.child(master.algo, master.instrument, event, master.exchange)
            master.children[event.client_order_id] = record
            pushes.append(("order", record))
            if step.changed:
                pushes.append(("master", render.master(master.algo, master.instrument, master.api_key_id,
                                                       master.exchange)))
        return pushes

    def fills_of(self, events: list[Any]) -> list[FillEvent]:
        return [e for e in events if type(e) is FillEvent and e.account == self.account
                and e.client_order_id in self._child_owner]

    # --- internals ----------------------------------------------------------------------------------------

    def _run(self, master: _Master, step: Step, now: int) -> list[Push]:
        pushes: list[Push] = []
        for intent in step.intents:
            pushes += self._execute(master, intent, now)
        if step.changed:
            pushes.append(("master", render.master(master.algo, master.instrument, master.api_key_id,
                                                   master.exchange)))
        return pushes

    def _execute(self, master: _Master, intent: Intent, now: int) -> list[Push]:
        algo = master.algo
        if isinstance(intent, PlaceChild):
            self._child_owner[intent.client_order_id] = algo.algo_id
            try:
                events = self.engine.place(self.account, intent.symbol, intent.side, OrderType.LIMIT, intent.qty, now,
                                           price=intent.price, tif=intent.tif, reduce_only=intent.reduce_only,
                                           client_order_id=intent.client_order_id)
            except OrderRefused as exc:
                return self._run(master, on_child_refused(algo, intent.client_order_id, exc.reason, now), now)
        else:
            assert isinstance(intent, CancelChild)
            try:
                events = self.engine.cancel(self.account, now, client_order_id=intent.client_order_id)
            except OrderRefused:
                return []  # it ended meanwhile: its last report was folded already
        self.pending_events.extend(events)
        return self.on_engine(events, now)

    def _update(self, master: _Master, body: Mapping[str, Any], now: int) -> Step:
        algo = master.algo
        if algo.is_terminal:
            raise DialectError(400, f"master order {algo.algo_id} has ended")
        unknown = set(body) - _UPDATABLE - {"totalQuantity", "executionDurationSeconds", "reason"}
        if unknown:
            raise DialectError(400, f"fields that cannot be updated: {', '.join(sorted(unknown))}")
        params = {**{k: v for k, v in algo.params.items()}, "algorithm": algo.algorithm.value, "side": algo.side.value}
        params.pop("start_ms", None)
        for key in _UPDATABLE & set(body):
            params[_FIELDS[key]] = body[key]
        params["limit_price"] = params.pop("worst_price", params.get("limit_price"))
        if params.get("pov_min_limit") is None:
            params.pop("pov_min_limit")
        params["execution_duration_s"] = int(body.get("executionDurationSeconds") or
                                             max(self._min_duration_s + 1, (algo.end_ts - algo.start_ts) // 1000))
        params["qty" if algo.qty is not None else "notional"] = body.get("totalQuantity") or algo.target
        try:
            request = validate_request(params, account=self.account, symbol=algo.symbol,
                                       market_type=master.instrument.type, now_ms=algo.start_ts,
                                       min_duration_s=self._min_duration_s)
        except GatewayError as exc:
            raise DialectError(400, exc.message) from None
        if request.qty is not None and request.qty < algo.filled_qty:
            raise DialectError(400, "totalQuantity is below what is filled already")
        record = request.to_record()
        algo.params.update({k: record[k] for k in record if k not in ("client_order_id", "notes")})
        algo.qty = request.qty if algo.qty is not None else None
        algo.notional = request.notional if algo.notional is not None else None
        if "executionDurationSeconds" in body:
            algo.end_ts = request.end_ms
        algo.updated_ts = now
        step = Step()
        step.note("updated")
        return step

    def _bound(self, body: Mapping[str, Any]) -> BoundAccount:
        api_key_id = body.get("apiKeyId")
        if not api_key_id:
            raise DialectError(400, "apiKeyId is required")
        account = self.accounts.get(str(api_key_id))
        if account is None:
            raise DialectError(400, f"apiKeyId {api_key_id} is not bound to this user")
        return account

    def _instrument(self, symbol: str, market_type: str) -> Instrument:
        wanted = MarketType.PERP if market_type.upper() == "PERP" else MarketType.SPOT
        if market_type.upper() not in ("SPOT", "PERP"):
            raise DialectError(400, "marketType must be SPOT or PERP")
        for instrument in self.engine.instruments.values():
            if instrument.type is wanted and render.qe_symbol(instrument) == symbol.upper():
                return instrument
        raise DialectError(400, f"{symbol} {market_type} is not a listed trading pair")

    def _snapshot(self, symbol: str) -> MarketSnapshot:
        bid, _, ask, _ = self.engine.bbo(symbol)
        return MarketSnapshot(bid, ask, self.engine.last_price(symbol))
