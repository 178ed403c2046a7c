"""Lighter's own brackets: grouped orders (OTO / OCO / OTOCO) recorded as virtual orders.

`place` signs one CreateGroupedOrders tx (fact sheet §4: a parent LIMIT or MARKET, and SL / TP children
on the opposite side, reduce-only, base amount 0 so they follow the executed parent size, equal expiries)
and records a `virtual.VirtualOrder` with every leg's client order index before the venue has assigned
order indexes. The reconciliation loop (the seed's ``start_reconcile_loop``) reads open and closed
orders and fills in the real indexes (`virtual.reconcile`). Every leg, children included, carries a
unique client order index: ``<entry id>``, ``<entry id>-tp``, ``<entry id>-sl`` hashed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, GatewayError, OrderRejected
from gateway.core.ports import OrderRequest
from gateway.venues.lighter.constants import GROUPING_OCO, GROUPING_OTO, GROUPING_OTOCO
from gateway.venues.lighter.execution import plan_order
from gateway.venues.lighter.virtual import VirtualLeg, VirtualOrder, reconcile

if TYPE_CHECKING:
    from gateway.venues.lighter.adapter import LighterAdapter

__all__ = ["GroupedOrders", "GroupedPlacement"]

log = structlog.get_logger("gateway.venues.lighter")


@dataclass(frozen=True, slots=True)
class GroupedPlacement:
    """What `GroupedOrders.place` answers: the virtual order and the legs' client order ids."""

    virtual: VirtualOrder
    entry_client_order_id: str | None
    take_profit_client_order_id: str | None
    stop_loss_client_order_id: str | None
    tx_hash: str


class GroupedOrders:
    """The session's grouped orders and their reconciliation."""

    def __init__(self, adapter: LighterAdapter):
        self._a = adapter
        self.virtuals: dict[str, VirtualOrder] = {}
        self.last_result: dict[str, int] = {"total": 0, "updated": 0, "matched": 0}
        self.reconciled = asyncio.Event()  # set after every pass of the loop (tests, status)
        self.bad_rows = 0  # venue rows reconcile could not read (logged, skipped)

    async def place(self, entry: OrderRequest | None, *, take_profit: Decimal | None = None,
                    stop_loss: Decimal | None = None, tp_sl_market: bool = True,
                    oco_side: Side | None = None, oco_qty: Decimal | None = None,
                    oco_symbol: str | None = None, client_order_id: str | None = None) -> GroupedPlacement:
        """Place an entry with TP and/or SL legs (OTO / OTOCO), or only TP + SL on a position (OCO).

        For OCO pass ``entry=None`` with ``oco_symbol``, ``oco_side`` (the closing side), ``oco_qty`` and
        ``client_order_id`` (the group's id).

        Raises:
            OrderRejected: a leg is missing, or a value does not fit Lighter's rules.
        """
        a = self._a
        execution = a.trading()
        if take_profit is None and stop_loss is None:
            raise OrderRejected("a grouped order needs a take-profit or a stop-loss", code=ErrorCode.INVALID_PARAMS)
        symbol = entry.symbol if entry is not None else oco_symbol
        if symbol is None:
            raise OrderRejected("an OCO needs a symbol", code=ErrorCode.INVALID_PARAMS)
        spec = a.spec(symbol)
        expiry = a.group_expiry_ms()
        requests: list[OrderRequest] = []
        roles: list[str] = []
        if entry is not None:
            worst = await a.worst_price(symbol, entry.side) if entry.type is OrderType.MARKET else None
            base_id = entry.client_order_id
            close_side = entry.side.opposite
            leg_qty = Decimal(0)  # children follow the executed parent size
            requests.append(entry)
            roles.append("entry")
        else:
            if oco_side is None or oco_qty is None or client_order_id is None:
                raise OrderRejected("an OCO needs a side, a qty and a client order id", code=ErrorCode.INVALID_PARAMS)
            worst, base_id, close_side, leg_qty = None, client_order_id, oco_side, oco_qty
        for role, trigger, limit_type, market_type in (
                ("tp", take_profit, OrderType.TAKE_PROFIT_LIMIT, OrderType.TAKE_PROFIT),
                ("sl", stop_loss, OrderType.STOP_LIMIT, OrderType.STOP)):
            if trigger is None:
                continue
            price = spec.tick * (trigger / spec.tick).to_integral_value()
            requests.append(OrderRequest(symbol=symbol, side=close_side, type=market_type if tp_sl_market else limit_type,
                                         qty=leg_qty, client_order_id=f"{base_id}-{role}", price=price,
                                         trigger_price=price, tif=TimeInForce.GTC, reduce_only=True))
            roles.append(role)
        grouping = GROUPING_OCO if entry is None else GROUPING_OTOCO if len(requests) == 3 else GROUPING_OTO
        if grouping == GROUPING_OCO and len(requests) != 2:
            raise OrderRejected("an OCO needs both a take-profit and a stop-loss", code=ErrorCode.INVALID_PARAMS)
        plans = []
        for request in requests:
            plan = plan_order(_sized(request, spec.step), spec, a.ids.index_of(request.client_order_id),
                              worst=worst if request is entry else None, gtt_expiry=expiry)
            if request is not entry:  # children: base amount 0 (OTO/OTOCO), IOC when at market, one expiry
                from dataclasses import replace

                plan = replace(plan, base_amount=0 if entry is not None else plan.base_amount, order_expiry=expiry)
            plans.append(plan)
        signed = await execution.place_group(grouping, plans, requests)
        virtual = VirtualOrder(virtual_id=base_id, symbol=symbol, market_id=spec.market_id,
                               grouping={GROUPING_OTO: "oto", GROUPING_OCO: "oco", GROUPING_OTOCO: "otoco"}[grouping],
                               created_ms=a.now_ms(), tx_hash=signed.tx_hash)
        for role, plan in zip(roles, plans, strict=True):
            virtual.legs.append(VirtualLeg(role=role, client_order_index=plan.client_order_index, is_ask=plan.is_ask,
                                           reduce_only=plan.reduce_only, price=spec.price_of(plan.price),
                                           trigger_price=spec.price_of(plan.trigger_price) if plan.trigger_price else None))
        self.virtuals[virtual.virtual_id] = virtual
        ids = {role: request.client_order_id for role, request in zip(roles, requests, strict=True)}
        return GroupedPlacement(virtual, ids.get("entry"), ids.get("tp"), ids.get("sl"), signed.tx_hash)

    def get(self, virtual_id: str) -> dict[str, Any] | None:
        """The seed's ``get_virtual_order``."""
        found = self.virtuals.get(virtual_id)
        return found.to_public() if found is not None else None

    def list(self) -> dict[str, dict[str, Any]]:
        """The seed's ``list_virtual_orders``."""
        return {vid: v.to_public() for vid, v in self.virtuals.items()}

    async def reconcile(self, include_closed: bool = True, closed_limit: int = 100,
                        include_entry: bool = True) -> dict[str, int]:
        """The seed's ``reconcile_virtual_orders``: match legs to the venue's open (and closed) orders."""
        a = self._a
        assert a.queries is not None
        unresolved = [v for v in self.virtuals.values() if not _settled(v)]
        if not unresolved:
            self.last_result = {"total": len(self.virtuals), "updated": 0, "matched": 0}
            return self.last_result
        orders: list[dict[str, Any]] = []
        for market in sorted({v.market_id for v in unresolved}):
            orders += await a.queries.active_orders(market)
            if include_closed:
                orders += await a.queries.inactive_orders(market, limit=closed_limit, max_pages=1)
        result = reconcile(unresolved, orders, int(a.settings.match_window_s * 1000), include_entry,
                           on_bad=self._bad_row)
        self.last_result = {**result, "total": len(self.virtuals)}
        return self.last_result

    async def run_reconcile_loop(self) -> None:
        """Reconcile every ``reconcile_interval_s`` (the seed's start_reconcile_loop; stops with the session)."""
        while True:
            await asyncio.sleep(self._a.settings.reconcile_interval_s)
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except GatewayError as exc:
                log.warning("lighter.reconcile_failed", venue=self._a.name, error=repr(exc))
            except Exception as exc:  # the loop outlives any one failed round (the next one tries again)
                log.exception("lighter.reconcile_failed", venue=self._a.name, error=repr(exc)[:300])
            self.reconciled.set()

    def _bad_row(self, row: Any, reason: str) -> None:
        self.bad_rows += 1
        log.warning("lighter.reconcile_bad_row", venue=self._a.name, reason=reason, row=str(row)[:200],
                    bad_rows=self.bad_rows)


def _sized(request: OrderRequest, step: Decimal) -> OrderRequest:
    # plan_order scales the qty; a child's qty of 0 is not a valid size, so plan it with one step and
    # zero the base amount afterwards.
    if request.qty > 0:
        return request
    from dataclasses import replace

    return replace(request, qty=step)


def _settled(virtual: VirtualOrder) -> bool:
    final = ("filled",)
    return virtual.is_resolved and all((leg.status or "").startswith("canceled") or leg.status in final
                                       for leg in virtual.legs)
