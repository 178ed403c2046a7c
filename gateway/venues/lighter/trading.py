"""Order entry of a Lighter session: place, grouped place (the `GroupedOrderVenue` port), cancel, cancel all,
close a position, and the market order's worst price.

Functions of the adapter (as `marketdata`). Every order leaves through `execution.LighterExecution`
(nonce lease, sign, sendTx) and answers PENDING_NEW: sendTx's 200 carries no order index (fact sheet §8).
The order is then in `execution.pending` under its client order index, and `userfeed.UserFeed` reports
it with its real index once the venue shows it (stream or ``accountOrders`` poll). Grouped legs take the
same path, so each leg reaches the order manager under the gateway's own client order id.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from gateway.core.enums import OrderStatus, OrderType, Side
from gateway.core.errors import ErrorCode, LookupFailed, OrderRejected
from gateway.core.events import OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.venues.lighter.constants import GROUPING_OTO, GROUPING_OTOCO
from gateway.venues.lighter.execution import OrderPlan, accepted_update, plan_order
from gateway.venues.lighter.scaling import MarketSpec, ScalingError
from gateway.venues.lighter.scaling import worst_price as bounded_price

if TYPE_CHECKING:
    from gateway.venues.lighter.adapter import LighterAdapter

__all__ = [
    "cancel_all",
    "cancel_order",
    "close_all_positions",
    "conditional_bound",
    "place_group",
    "place_order",
    "with_status",
    "worst_price",
]

_CHILD_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})


async def worst_price(a: LighterAdapter, symbol: str, side: Side, max_slippage: Decimal | None = None) -> Decimal:
    """The seed's ``calulate_worst_acceptable_price``: from the cache; else the last 1m close.

    Raises:
        OrderRejected: VENUE_UNAVAILABLE when no reference price is known at all.
    """
    spec = a.spec(symbol)
    slippage = a.settings.max_slippage if max_slippage is None else max_slippage
    entry = a.cache.get(symbol, a.now_ms())
    bid = ask = last = None
    if entry is not None and not entry["stale"]:
        bid, ask, last = entry["best_bid"], entry["best_ask"], entry["last_trade"]
    if (ask if side is Side.BUY else bid) is None and last is None:
        klines = await a.fetch_klines(symbol, "1m", 1)
        last = klines[-1].close if klines else None
    try:
        return bounded_price(side, spec, best_bid=bid, best_ask=ask, last=last, max_slippage=slippage)
    except ScalingError as exc:
        raise OrderRejected(str(exc), code=ErrorCode.VENUE_UNAVAILABLE) from exc


def conditional_bound(request: OrderRequest, spec: MarketSpec, max_slippage: Decimal) -> Decimal | None:
    """The price bound of a stop / take-profit *market* order: trigger x (1 +- max_slippage), on the tick.

    Lighter executes a triggered market leg as IOC at its price, so the price is the worst it accepts.
    """
    if request.type not in (OrderType.STOP, OrderType.TAKE_PROFIT) or request.trigger_price is None:
        return None
    bound = request.trigger_price * (1 + max_slippage * request.side.sign)
    return spec.tick * (bound / spec.tick).to_integral_value() if bound > 0 else request.trigger_price


async def place_order(a: LighterAdapter, request: OrderRequest) -> OrderUpdate:
    execution = a.trading()
    spec = a.spec(request.symbol)
    worst = (await worst_price(a, request.symbol, request.side) if request.type is OrderType.MARKET
             else conditional_bound(request, spec, a.settings.max_slippage))
    plan = plan_order(request, spec, a.ids.index_of(request.client_order_id), worst=worst,
                      gtt_expiry=a.expiry_ms())
    return await execution.place(request, plan)


async def place_group(a: LighterAdapter, entry: OrderRequest, take_profit: OrderRequest | None,
                      stop_loss: OrderRequest | None) -> list[OrderUpdate]:
    """Send `entry` with its TP / SL children as ONE CreateGroupedOrders tx (OTOCO, or OTO with one child).

    The children go with base amount 0 (the venue sizes them to the entry's executed quantity, fact sheet
    §4) under their own client order indexes; each given order is answered PENDING_NEW under its gateway
    client order id, and is reported with its real index once the venue shows it.

    Raises:
        OrderRejected: the group is not one this venue takes (INVALID_PARAMS), or a value is off the scale.
        VenueError: the venue refused the tx (nothing was placed).
        VenueTimeout: the answer was lost (the group may exist; look the legs up by client order id).
    """
    execution = a.trading()
    children = [c for c in (take_profit, stop_loss) if c is not None]
    _check_group(entry, children)
    spec = a.spec(entry.symbol)
    expiry = a.group_expiry_ms()
    worst = await worst_price(a, entry.symbol, entry.side) if entry.type is OrderType.MARKET else None
    plans: list[OrderPlan] = [plan_order(entry, spec, a.ids.index_of(entry.client_order_id), worst=worst,
                                         gtt_expiry=expiry)]
    for child in children:
        plan = plan_order(child, spec, a.ids.index_of(child.client_order_id),
                          worst=conditional_bound(child, spec, a.settings.max_slippage), gtt_expiry=expiry)
        plans.append(replace(plan, base_amount=0, order_expiry=expiry))  # sized by the venue at execution
    requests = [entry, *children]
    await execution.place_group(GROUPING_OTOCO if len(children) == 2 else GROUPING_OTO, plans, requests)
    for child in children:
        a.grouped_sizes[a.ids.index_of(child.client_order_id)] = child.qty
    now = a.now_ms()
    return [accepted_update(a.name, request, now) for request in requests]


def _check_group(entry: OrderRequest, children: list[OrderRequest]) -> None:
    # The venue's rules for OTO / OTOCO (fact sheet §4): a LIMIT or MARKET parent, children on the other
    # side, reduce-only, conditional, in the same market. Refused here so that nothing is signed.
    problem = None
    if not children:
        problem = "a grouped order needs a take-profit or a stop-loss"
    elif entry.type not in (OrderType.LIMIT, OrderType.MARKET):
        problem = f"the entry of a grouped order is limit or market, not {entry.type.value}"
    elif any(c.symbol != entry.symbol for c in children):
        problem = "grouped orders share one market"
    elif any(c.side is entry.side or not c.reduce_only or c.type not in _CHILD_TYPES for c in children):
        problem = "children are reduce-only stop / take-profit orders on the exit side"
    elif len({entry.client_order_id, *(c.client_order_id for c in children)}) != len(children) + 1:
        problem = "every leg needs its own client order id"
    if problem is not None:
        raise OrderRejected(problem, code=ErrorCode.INVALID_PARAMS)


async def cancel_order(a: LighterAdapter, symbol: str, order_id: str | None = None,
                       client_order_id: str | None = None) -> OrderUpdate:
    execution = a.trading()
    spec = a.spec(symbol)
    current = await a.get_order(symbol, order_id, client_order_id)
    if current is None and client_order_id:
        # Accepted but not executed yet: the sequencer runs txs in nonce order, so a cancel by client
        # order index sent now executes after the placement (fact sheet §4: Index 1..2^48-1).
        pending = execution.pending.get(a.ids.index_of(client_order_id))
        if pending is not None:
            await execution.cancel(spec.market_id, pending.client_order_index)
            a.user.watch(pending.client_order_index, pending.client_order_index)
            return accepted_update(a.name, pending.request, a.now_ms(), OrderStatus.PENDING_CANCEL)
    if current is None:
        raise LookupFailed("no such order at the venue", code=ErrorCode.ORDER_NOT_FOUND)
    if current.status.is_terminal:
        return current
    index = int(order_id) if order_id else a.ids.index_of(client_order_id or "")
    await execution.cancel(spec.market_id, index)
    a.user.watch(a.ids.index_of(current.client_order_id) if current.client_order_id else None, index)
    return with_status(current, OrderStatus.PENDING_CANCEL, a.now_ms())


async def cancel_all(a: LighterAdapter, symbol: str | None = None) -> list[OrderUpdate]:
    execution = a.trading()
    open_now = await a.open_orders(symbol)
    if symbol is None:
        await execution.cancel_all()
    else:
        for update in open_now:
            await execution.cancel(a.spec(symbol).market_id, int(update.order_id or 0))
    now = a.now_ms()
    for update in open_now:
        a.user.watch(None, int(update.order_id or 0))
    return [with_status(u, OrderStatus.PENDING_CANCEL, now) for u in open_now]


async def close_all_positions(a: LighterAdapter, symbol: str, client_order_id: str) -> OrderUpdate | None:
    """The seed's ``close_all_positions_for_symbol`` straight on the venue (None: no position).

    Strategies reach it as ``lighter.close_position``, which goes through the order manager instead.
    """
    position = next((p for p in await a.positions() if p.symbol == symbol and p.qty != 0), None)
    if position is None:
        return None
    side = Side.SELL if position.qty > 0 else Side.BUY
    return await place_order(a, OrderRequest(symbol=symbol, side=side, type=OrderType.MARKET, qty=abs(position.qty),
                                             client_order_id=client_order_id, reduce_only=True))


def with_status(update: OrderUpdate, status: OrderStatus, now: int) -> OrderUpdate:
    return replace(update, status=status, ts=now, recv_ts=now)
