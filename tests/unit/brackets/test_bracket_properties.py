"""Property: over random event sequences, no leg is ever armed for more than the open quantity.

The venue is the testkit's SimVenue; intents reach it late (a random one of the queued intents is run at
each `deliver` step), fills come at random on any live order, and the venue enforces reduce-only against
the account's position, as a real venue would. After every step:

- every live leg's armed qty <= entry filled qty - closed qty (and >= 0);
- the legs never closed more than the entry filled;
- a terminal bracket has no live legs and no working entry that it has not asked to cancel.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from brackets_testkit import SYMBOL, T0, D, SimVenue, make, venue_intents
from gateway.core.enums import OrderStatus, Side
from gateway.orders.brackets import (
    Bracket,
    LegMode,
    LegName,
    LegStatus,
    OrderReport,
    PlaceEntry,
    on_cancel_request,
    on_order_report,
    on_position,
    on_trigger,
)

ACTIONS = ["deliver", "deliver", "deliver", "fill_entry", "fill_entry", "fill_leg", "fill_leg", "trigger",
           "venue_cancel", "external_close", "position", "cancel"]


def check(b: Bracket) -> None:
    open_qty = b.entry.filled_qty - b.closed_qty
    assert open_qty >= 0, f"overclosed: {b.closed_qty} > {b.entry.filled_qty}"
    for leg in b.legs:
        assert leg.armed_qty >= 0
        if leg.is_live:
            assert leg.armed_qty <= open_qty, f"{leg.name} armed {leg.armed_qty} > open {open_qty}"
    if b.state.is_terminal:
        assert not any(leg.is_live for leg in b.legs), f"live leg in {b.state}"
        assert b.entry.status.is_terminal or b.entry.status is OrderStatus.PENDING_CANCEL


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_legs_never_exceed_the_open_quantity(data: st.DataObject) -> None:
    mode = data.draw(st.sampled_from([LegMode.NATIVE, LegMode.EMULATED]), label="mode")
    side = data.draw(st.sampled_from([Side.BUY, Side.SELL]), label="side")
    venue = SimVenue(amend=data.draw(st.booleans(), label="amend"))
    b = make(mode=mode, side=side, qty="1")
    queue: list = [PlaceEntry(bracket_id="b1", venue="sim", account="sim", symbol=SYMBOL, client_order_id="b1-en",
                            side=side, type=b.entry.type, qty=b.qty, price=b.entry.price)]
    now = T0

    def fold(report: OrderReport) -> None:
        queue.extend(venue_intents(on_order_report(b, report, now).intents))

    for _ in range(data.draw(st.integers(5, 60), label="steps")):
        now += 1
        action = data.draw(st.sampled_from(ACTIONS))
        if action == "deliver" and queue:
            intent = queue.pop(data.draw(st.integers(0, len(queue) - 1)))
            for report in venue.apply(intent, now):
                fold(report)
        elif action == "fill_entry":
            order = venue.find("b1-en", None)
            if order is not None and not order.update.status.is_terminal:
                left = order.update.qty - order.update.filled_qty
                qty = left * data.draw(st.sampled_from([D("0.25"), D("0.5"), D(1)]))
                fold(OrderReport.from_update(venue.fill(order, qty, now)))
        elif action == "fill_leg":
            live = [o for o in venue.orders.values() if o.update.reduce_only and not o.update.status.is_terminal]
            position = venue.position.get(SYMBOL, D(0)) * side.sign  # what reduce-only still lets close
            if live and position > 0:
                order = data.draw(st.sampled_from(live))
                left = min(order.update.qty - order.update.filled_qty, position)
                qty = left * data.draw(st.sampled_from([D("0.5"), D(1)]))
                if qty > 0:
                    fold(OrderReport.from_update(venue.fill(order, qty, now)))
        elif action == "trigger":
            armed = [leg.name for leg in b.legs if leg.status is LegStatus.ARMED]
            if armed:
                name = data.draw(st.sampled_from(armed))
                queue.extend(venue_intents(on_trigger(b, LegName(name), now).intents))
        elif action == "venue_cancel":
            live = [o for o in venue.orders.values() if not o.update.status.is_terminal]
            if live:
                order = data.draw(st.sampled_from(live))
                fold(OrderReport.from_update(venue.set_status(order, OrderStatus.CANCELED, now)))
        elif action == "external_close":
            venue.position[SYMBOL] = D(0)
        elif action == "position":
            queue.extend(venue_intents(on_position(b, venue.position.get(SYMBOL, D(0)), now, now).intents))
        elif action == "cancel":
            queue.extend(venue_intents(on_cancel_request(b, now).intents))
        check(b)
