"""The service's registry: lookups by venue id and symbol, and the `watched` set the market hook reads."""

from __future__ import annotations

from brackets_testkit import SYMBOL, T0, VENUE, make, rep

from gateway.core.enums import OrderStatus
from gateway.orders.brackets import LegMode, TriggerSource, on_entry_update, on_position, rearm_intents
from gateway.orders.brackets.book import BracketBook


def filled_emulated(bracket_id: str):
    b = make(bracket_id, mode=LegMode.EMULATED, source=TriggerSource.LAST)
    on_entry_update(b, rep(f"{bracket_id}-en", OrderStatus.FILLED, "1", oid=f"E{bracket_id}"), T0)
    return b


def test_watched_follows_the_armed_legs_of_a_symbol() -> None:
    book = BracketBook()
    first, second = filled_emulated("a"), filled_emulated("b")
    for b in (first, second):
        book.add(b, "alpha")
        for arm in rearm_intents(b):
            book.arm(arm)
            book.arm(arm)  # arming again moves the leg, it does not count twice
    assert book.watched == {(VENUE, SYMBOL)} and len(book.index) == 4
    fired = book.index.on_price(VENUE, SYMBOL, TriggerSource.LAST, first.stop_loss.trigger_price)
    assert sorted(fired) == [("a", "sl"), ("b", "sl")]
    book.fired(VENUE, SYMBOL, fired)
    book.disarm(("a", "sl"))  # already gone: a no-op
    assert book.watched == {(VENUE, SYMBOL)}
    book.disarm(("a", "tp"))
    book.disarm(("b", "tp"))
    assert book.watched == set() and len(book.index) == 0


def test_lookups_by_venue_id_and_live_symbol_and_pruning() -> None:
    book = BracketBook()
    b = filled_emulated("c")
    book.add(b, None)
    assert book.by_order_id(VENUE, "Ec") == "c"
    assert [x.bracket_id for x in book.live_on(VENUE, SYMBOL)] == ["c"]
    on_position(b, 0, T0 + 1, T0 + 1)  # closed elsewhere: the bracket ends
    book.put(b)
    assert b.is_terminal and not book.has_live_on(VENUE, SYMBOL)
    assert book.prune(T0) == 0 and book.prune(T0 + 2) == 1
    assert "c" not in book and book.by_order_id(VENUE, "Ec") is None
