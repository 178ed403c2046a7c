"""The slicing decisions: scenarios, and properties over random parents and fill behaviour."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.enums import OrderStatus, TimeInForce
from gateway.orders.algo.engine import (
    CancelChild,
    ChildReport,
    MarketSnapshot,
    PlaceChild,
    advance,
    cancel,
    min_qty_at,
    on_cancel_failed,
    on_child_report,
    pause,
    resume,
    size_child,
)
from gateway.orders.algo.model import AlgoState, ChildRole
from gateway.orders.algo.schedule import linear_fraction
from tests.unit.algo.algo_testkit import MARKET, RULES, T0, TUNING, Venue, new_algo, run

D = Decimal


def test_twap_on_a_cooperating_market_completes_exactly_on_schedule() -> None:
    algo = new_algo(qty=D("1"), duration_ms=10_000, slice_ms=1_000)
    venue = Venue()
    slice_ = D("0.1")

    def on_schedule(a, now):
        expected = a.target * linear_fraction(a.start_ts, a.end_ts, now)
        assert expected - slice_ <= a.done <= expected + slice_, (now - T0, a.done)

    run(algo, venue, check=on_schedule)
    assert algo.state is AlgoState.COMPLETED and algo.filled_qty == D("1")
    assert len(venue.placed) == 10 and all(c.tif is TimeInForce.POST_ONLY for c in venue.placed)
    assert all(c.price == D("100.01") for c in venue.placed)  # one tick inside the spread: the touch alone


def test_maker_left_behind_is_canceled_and_the_shortfall_taken() -> None:
    algo = new_algo(qty=D("1"), duration_ms=10_000, slice_ms=2_000)
    venue = Venue(maker=lambda child, now: D(0))  # nobody trades with our resting orders
    run(algo, venue)
    assert algo.state is AlgoState.COMPLETED and algo.filled_qty == D("1")
    takers = [c for c in venue.placed if c.tif is TimeInForce.IOC]
    assert takers and all(c.price == MARKET.ask for c in takers)


def test_low_tolerance_lets_it_fall_behind_before_taking() -> None:
    algo = new_algo(qty=D("1"), duration_ms=10_000, slice_ms=1_000, low_tolerance=D("0.35"))
    venue = Venue(maker=lambda child, now: D(0))

    def within(a, now):
        done_by_now = a.target * (linear_fraction(a.start_ts, a.end_ts, now) - D("0.1"))
        assert a.done >= done_by_now - D("0.35") - D("0.1"), (now - T0, a.done)

    run(algo, venue, check=within)
    takes = [c for c in venue.placed if c.tif is TimeInForce.IOC]
    assert algo.state is AlgoState.COMPLETED and len(takes) < 10


def test_must_complete_false_never_chases_and_expires() -> None:
    algo = new_algo(qty=D("1"), duration_ms=5_000, slice_ms=1_000, must_complete=False)
    venue = Venue(maker=lambda child, now: D("0.5") if child.client_order_id.endswith("-a1") else D(0))
    run(algo, venue)
    assert algo.state is AlgoState.EXPIRED and D(0) < algo.filled_qty < D(1)
    assert not [c for c in venue.placed if c.tif is TimeInForce.IOC]


def test_taking_mode_with_enable_make_false() -> None:
    algo = new_algo(qty=D("0.5"), duration_ms=5_000, slice_ms=1_000, enable_make=False)
    venue = Venue()
    run(algo, venue)
    assert algo.state is AlgoState.COMPLETED and all(c.tif is TimeInForce.IOC for c in venue.placed)
    assert algo.maker_rate == 0


def test_limit_price_stops_taking_and_caps_the_maker_price() -> None:
    algo = new_algo(qty=D("1"), duration_ms=4_000, slice_ms=1_000, limit_price=D("99.5"), enable_make=False)
    venue = Venue()
    run(algo, venue, limit_ms=10_000)
    assert not venue.placed and algo.state is AlgoState.EXPIRED  # the ask is above the limit all along
    algo = new_algo(qty=D("1"), duration_ms=4_000, slice_ms=1_000, limit_price=D("99.5"))
    venue = Venue(maker=lambda child, now: D(0))
    run(algo, venue, limit_ms=10_000)
    assert venue.placed and all(c.price <= D("99.5") and c.tif is TimeInForce.POST_ONLY for c in venue.placed)


def test_an_outbid_maker_is_repriced_after_reprice_ms() -> None:
    algo = new_algo(qty=D("1"), duration_ms=10_000, slice_ms=5_000, low_tolerance=D("0.9"))
    step = advance(algo, T0, MARKET, RULES, TUNING)
    placed = step.intents[0]
    assert isinstance(placed, PlaceChild) and placed.price == D("100.01")
    on_child_report(algo, ChildReport(placed.client_order_id, OrderStatus.NEW, D(0), None, "o1"), T0)
    higher = MarketSnapshot(D("100.05"), D("100.10"))
    assert not advance(algo, T0 + 100, higher, RULES, TUNING).intents  # not yet
    step = advance(algo, T0 + TUNING.reprice_ms, higher, RULES, TUNING)
    assert [type(i) for i in step.intents] == [CancelChild]


def test_pov_follows_the_tape_within_its_limits() -> None:
    algo = new_algo(algorithm="POV", qty=D("10"), duration_ms=20_000, pov_limit=D("0.1"), pov_min_limit=D("0.05"))
    advance(algo, T0, MARKET, RULES, TUNING)
    assert algo.state is AlgoState.RUNNING and not algo.children  # no volume yet: nothing due
    venue = Venue(maker=lambda child, now: D(0))  # nobody fills our makers: only the floor's takes fill
    for i in range(1, 50):
        now = T0 + i * 100
        algo.market_volume += D("1")  # 1 traded per tick
        for _ in range(5):
            while venue.reports:
                on_child_report(algo, venue.reports.pop(0), now)
            for intent in advance(algo, now, MARKET, RULES, TUNING).intents:
                venue.on_intent(intent, now)
        volume = algo.market_volume
        assert algo.filled_qty <= D("0.1") * volume + RULES.min_qty
        assert algo.filled_qty >= D("0.05") * volume - D("0.1")  # at most one tick of volume behind the floor
    assert D("2.4") <= algo.filled_qty <= D("5")


def test_pause_resume_cancel() -> None:
    algo = new_algo(qty=D("1"), duration_ms=10_000, slice_ms=1_000)
    step = advance(algo, T0, MARKET, RULES, TUNING)
    cid = step.intents[0].client_order_id  # type: ignore[union-attr]
    on_child_report(algo, ChildReport(cid, OrderStatus.NEW, D(0), None, "o1"), T0)
    step = pause(algo, T0 + 10)
    assert algo.state is AlgoState.PAUSED and [type(i) for i in step.intents] == [CancelChild]
    assert not advance(algo, T0 + 20, MARKET, RULES, TUNING).intents  # the cancel is already asked
    on_child_report(algo, ChildReport(cid, OrderStatus.CANCELED, D(0), None), T0 + 30)
    assert not advance(algo, T0 + 3_000, MARKET, RULES, TUNING).intents  # paused: nothing new
    assert resume(algo, T0 + 3_000).changed and algo.state is AlgoState.RUNNING
    step = advance(algo, T0 + 3_000, MARKET, RULES, TUNING)
    assert isinstance(step.intents[0], PlaceChild) and step.intents[0].tif is TimeInForce.IOC  # catching up
    assert step.intents[0].qty == D("0.3")
    step = cancel(algo, T0 + 3_010)
    assert algo.state is AlgoState.CANCELED and [type(i) for i in step.intents] == [CancelChild]
    assert not cancel(algo, T0 + 3_020).changed  # idempotent
    on_child_report(algo, ChildReport(step.intents[0].client_order_id, OrderStatus.FILLED, D("0.3"), D("100.1")), 1)
    assert algo.filled_qty == D("0.3") and algo.state is AlgoState.CANCELED  # the raced fill counts


@pytest.mark.parametrize("command", [cancel, pause])
def test_a_cancel_that_raced_the_childs_own_placement_is_asked_again_once_the_child_is_acknowledged(command) -> None:
    algo = new_algo(qty=D("1"))
    cid = advance(algo, T0, MARKET, RULES, TUNING).intents[0].client_order_id  # type: ignore[union-attr]
    step = command(algo, T0 + 1)  # the placement has not been answered yet
    assert [type(i) for i in step.intents] == [CancelChild]
    on_cancel_failed(algo, cid, "ORDER_NOT_FOUND: order not found", T0 + 2)  # it got there first
    assert not advance(algo, T0 + 3, MARKET, RULES, TUNING).intents  # still unacknowledged: no cancel storm
    on_child_report(algo, ChildReport(cid, OrderStatus.NEW, D(0), None, "o1"), T0 + 4)
    step = advance(algo, T0 + 5, MARKET, RULES, TUNING)
    assert [(type(i), i.client_order_id) for i in step.intents] == [(CancelChild, cid)]
    on_child_report(algo, ChildReport(cid, OrderStatus.CANCELED, D(0), None, "o1"), T0 + 6)
    assert not algo.live_children() and not advance(algo, T0 + 7, MARKET, RULES, TUNING).intents


def test_a_late_fill_of_a_canceled_child_still_counts_and_never_revives_it() -> None:
    algo = new_algo(qty=D("1"))
    cid = advance(algo, T0, MARKET, RULES, TUNING).intents[0].client_order_id  # type: ignore[union-attr]
    on_child_report(algo, ChildReport(cid, OrderStatus.CANCELED, D(0), None), T0)
    on_child_report(algo, ChildReport(cid, OrderStatus.NEW, D(0), None), T0)  # stale
    assert algo.children[0].status is OrderStatus.CANCELED
    on_child_report(algo, ChildReport(cid, OrderStatus.FILLED, D("0.1"), D("100")), T0)
    assert algo.children[0].status is OrderStatus.FILLED and algo.filled_qty == D("0.1")
    on_child_report(algo, ChildReport(cid, OrderStatus.PARTIALLY_FILLED, D("0.05"), D("100")), T0)
    assert algo.filled_qty == D("0.1")  # older than what was folded


def test_tail_merge_and_tail_end() -> None:
    rules = RULES.__class__(tick=D("0.01"), step=D("0.001"), min_qty=D("0.01"), min_notional=D("0"))
    algo = new_algo(qty=D("0.105"))
    assert size_child(algo, D("0.1"), D("100"), rules, strict=False, tail=True) == D("0.105")  # 0.005 merged
    assert size_child(algo, D("0.1"), D("100"), rules, strict=False, tail=False) == D("0.1")
    assert size_child(algo, D("0.004"), D("100"), rules, strict=True, tail=True) is None  # below min: wait
    assert size_child(algo, D("0.006"), D("100"), rules, strict=False, tail=True) == D("0.01")  # bumped
    assert size_child(algo, D("0.004"), D("100"), rules, strict=False, tail=True) is None  # under half: wait
    assert min_qty_at(RULES.__class__(D("0.01"), D("0.001"), D("0.001"), D("5")), D("100")) == D("0.05")


def test_a_remainder_below_the_minimum_ends_completed_with_the_tail_named() -> None:
    algo = new_algo(qty=D("1"), tail_order_protection=False)
    rules = RULES.__class__(tick=D("0.01"), step=D("0.001"), min_qty=D("0.01"), min_notional=D("0"))
    cid = advance(algo, T0, MARKET, rules, TUNING).intents[0].client_order_id  # type: ignore[union-attr]
    on_child_report(algo, ChildReport(cid, OrderStatus.CANCELED, D("0.995"), D("100")), T0)
    advance(algo, T0 + 1, MARKET, rules, TUNING)
    assert algo.state is AlgoState.COMPLETED and "tail below the venue minimum" in (algo.reason or "")


def test_refused_children_fail_the_parent() -> None:
    algo = new_algo(qty=D("1"))
    for i in range(TUNING.max_rejects):
        step = advance(algo, T0 + i * 1000, MARKET, RULES, TUNING)
        on_child_report(algo, ChildReport(step.intents[0].client_order_id, OrderStatus.REJECTED, D(0), None,  # type: ignore[union-attr]
                                          reason="insufficient balance"), T0 + i * 1000)
    advance(algo, T0 + 100_000, MARKET, RULES, TUNING)
    assert algo.state is AlgoState.FAILED and "insufficient balance" in (algo.reason or "")


def test_a_parent_waits_for_its_start_time_and_expires_if_it_never_ran() -> None:
    algo = new_algo(qty=D("1"), start_time=T0 + 5_000)
    assert not advance(algo, T0, MARKET, RULES, TUNING).intents and algo.state is AlgoState.PENDING
    assert advance(algo, T0 + 5_000, MARKET, RULES, TUNING).intents and algo.state is AlgoState.RUNNING
    late = new_algo(qty=D("1"), start_time=T0 + 5_000)
    advance(late, late.end_ts, MARKET, RULES, TUNING)
    assert late.state is AlgoState.EXPIRED


# --- properties ---------------------------------------------------------------------------------------------

fractions = st.sampled_from([D(0), D("0.1"), D("0.33"), D("0.5"), D("0.9"), D(1)])


@st.composite
def parents(draw):
    params = {
        "qty": D(draw(st.integers(1, 5000))) / 1000,
        "duration_ms": draw(st.integers(2, 30)) * 1000,
        "slice_ms": draw(st.sampled_from([300, 1000, 2500])),
        "up_tolerance": draw(st.sampled_from([None, D("0.05"), D("0.2")])),
        "low_tolerance": draw(st.sampled_from([None, D("0.05"), D("0.2")])),
        "strict_up_bound": draw(st.booleans()),
        "tail_order_protection": draw(st.booleans()),
        "enable_make": draw(st.booleans()),
    }
    return {k: v for k, v in params.items() if v is not None}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # ~0.5 s each
@given(parents(), st.lists(fractions, min_size=1, max_size=8), st.lists(fractions, min_size=1, max_size=8),
       st.booleans())
def test_never_over_fills_whatever_the_venue_does(params, maker_fills, taker_fills, must_complete) -> None:
    algo = new_algo(must_complete=must_complete, **params)
    venue = Venue(maker=lambda child, now: maker_fills[(now // 100) % len(maker_fills)],
                  taker=lambda child, now: taker_fills[child.qty.as_tuple().digits[-1] % len(taker_fills)])

    def bounded(a, now):
        working = sum((c.qty - c.filled_qty for c in a.live_children()), D(0))
        assert a.filled_qty + working <= a.qty
        assert len(a.live_children()) <= 1

    run(algo, venue, check=bounded)
    assert algo.is_terminal and algo.filled_qty <= algo.qty
    if must_complete and taker_fills == [D(1)]:
        assert algo.state is AlgoState.COMPLETED and algo.filled_qty == algo.qty  # completes exactly


@settings(max_examples=100, deadline=None)
@given(parents())
def test_tracks_the_schedule_within_tolerance_when_the_market_cooperates(params) -> None:
    algo = new_algo(**params)
    slices = len(algo.schedule)
    slice_ = algo.qty / slices
    up = algo.qty * D(str(params.get("up_tolerance", 0)))
    low = algo.qty * D(str(params.get("low_tolerance", 0)))

    def tracking(a, now):
        line = a.qty * linear_fraction(a.start_ts, a.end_ts, now)
        assert a.done <= line + slice_ + up + RULES.min_qty, (now - T0, a.done, line)
        assert a.done >= line - slice_ - low - RULES.min_qty, (now - T0, a.done, line)

    run(algo, Venue(), check=tracking)
    assert algo.state is AlgoState.COMPLETED and algo.filled_qty == algo.qty


@settings(max_examples=60, deadline=None)
@given(st.integers(10, 5000), st.booleans())
def test_a_notional_parent_never_spends_more_than_its_notional(notional, enable_make) -> None:
    algo = new_algo(qty=None, notional=D(notional), duration_ms=5_000, enable_make=enable_make)
    run(algo, Venue())
    assert algo.filled_notional <= algo.notional
    assert algo.is_terminal and algo.state is AlgoState.COMPLETED
    assert algo.notional - algo.filled_notional < min_qty_at(RULES, MARKET.ask) * MARKET.ask
    assert all(c.role in (ChildRole.MAKER, ChildRole.TAKER) for c in algo.children)


def test_a_post_only_child_refused_for_crossing_is_retried_on_a_fresher_book_and_not_counted() -> None:
    algo = new_algo(qty=D("1"), low_tolerance=D("0.99"))  # never far enough behind to take
    for i in range(3 * TUNING.max_rejects):
        now = T0 + i * TUNING.reject_backoff_ms
        step = advance(algo, now, MARKET, RULES, TUNING)
        assert len(step.intents) == 1
        on_child_report(algo, ChildReport(step.intents[0].client_order_id, OrderStatus.REJECTED, D(0), None,  # type: ignore[union-attr]
                                          reason="post_only_would_take: a post_only order would take liquidity"), now)
        assert not advance(algo, now + 1, MARKET, RULES, TUNING).intents  # the same book: wait
    assert algo.state is AlgoState.RUNNING and algo.rejects == 0
