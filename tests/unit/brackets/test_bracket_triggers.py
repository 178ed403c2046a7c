"""The trigger index: each source/side rule, and agreement with a brute-force scan over random prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brackets_testkit import D
from gateway.core.enums import Side
from gateway.orders.brackets import LegName, TriggerDirection, TriggerIndex, TriggerSource, is_crossed, watch_rule
from gateway.orders.brackets.triggers import Watch, watched_price

V, SYM = "sim", "BTC/USDT:USDT"
LAST, MARK, BBO = TriggerSource.LAST, TriggerSource.MARK, TriggerSource.BBO


def arm(index: TriggerIndex, key: str, exit_side: Side, leg: LegName, trigger: str, source: TriggerSource) -> None:
    index.add(key, venue=V, symbol=SYM, source=source, exit_side=exit_side,
              direction=watch_rule(exit_side, leg), trigger_price=D(trigger))


def test_watch_rules_for_longs_and_shorts() -> None:
    assert watch_rule(Side.SELL, LegName.TP) is TriggerDirection.RISE  # long TP: sell when price >= trigger
    assert watch_rule(Side.SELL, LegName.SL) is TriggerDirection.FALL  # long SL: sell when price <= trigger
    assert watch_rule(Side.BUY, LegName.TP) is TriggerDirection.FALL  # short TP: buy when price <= trigger
    assert watch_rule(Side.BUY, LegName.SL) is TriggerDirection.RISE  # short SL: buy when price >= trigger
    assert watched_price(BBO, Side.SELL) is Watch.BID and watched_price(BBO, Side.BUY) is Watch.ASK
    assert watched_price(LAST, Side.SELL) is Watch.PRICE and watched_price(MARK, Side.BUY) is Watch.PRICE


@pytest.mark.parametrize("source", [LAST, MARK])
def test_long_legs_on_a_single_price_source(source: TriggerSource) -> None:
    index = TriggerIndex()
    arm(index, "sl", Side.SELL, LegName.SL, "95", source)
    arm(index, "tp", Side.SELL, LegName.TP, "110", source)
    other = MARK if source is LAST else LAST
    assert index.on_price(V, SYM, other, D(1)) == []  # another source's price never fires
    assert index.on_price(V, SYM, source, D("95.01")) == []
    assert index.on_price(V, SYM, source, D("109.99")) == []
    assert index.on_price(V, SYM, source, D("95")) == ["sl"]  # inclusive
    assert index.on_price(V, SYM, source, D("94")) == []  # forgotten once fired
    assert index.on_price(V, SYM, source, D("120")) == ["tp"]  # a gap through the trigger fires too
    assert len(index) == 0


def test_short_legs_on_last_are_mirrored() -> None:
    index = TriggerIndex()
    arm(index, "sl", Side.BUY, LegName.SL, "105", LAST)
    arm(index, "tp", Side.BUY, LegName.TP, "90", LAST)
    assert index.on_price(V, SYM, LAST, D("104.9")) == []
    assert index.on_price(V, SYM, LAST, D("105")) == ["sl"]
    assert index.on_price(V, SYM, LAST, D("90.1")) == []
    assert index.on_price(V, SYM, LAST, D("89")) == ["tp"]


def test_bbo_sells_watch_the_bid_and_buys_watch_the_ask() -> None:
    index = TriggerIndex()
    arm(index, "long-sl", Side.SELL, LegName.SL, "95", BBO)  # fires when bid <= 95
    arm(index, "long-tp", Side.SELL, LegName.TP, "110", BBO)  # fires when bid >= 110
    arm(index, "short-sl", Side.BUY, LegName.SL, "105", BBO)  # fires when ask >= 105
    arm(index, "short-tp", Side.BUY, LegName.TP, "90", BBO)  # fires when ask <= 90
    assert index.on_bbo(V, SYM, D("96"), D("94")) == []  # the ask at 94 must not fire the long's stop
    assert index.on_bbo(V, SYM, D("95"), D("104")) == ["long-sl"]
    assert index.on_bbo(V, SYM, D("111"), D("104.9")) == ["long-tp"]  # bid >= 110; ask below 105
    assert index.on_bbo(V, SYM, D("106"), None) == []  # no ask: buys wait
    assert index.on_bbo(V, SYM, None, D("105")) == ["short-sl"]
    assert index.on_bbo(V, SYM, D("89"), D("90")) == ["short-tp"]
    with pytest.raises(ValueError):
        index.on_price(V, SYM, BBO, D(1))


def test_re_adding_moves_a_key_and_removing_is_idempotent() -> None:
    index = TriggerIndex()
    arm(index, "k", Side.SELL, LegName.SL, "95", LAST)
    arm(index, "k", Side.SELL, LegName.SL, "90", LAST)
    assert index.on_price(V, SYM, LAST, D("94")) == []
    assert index.remove("k") and not index.remove("k") and "k" not in index
    assert index.on_price(V, SYM, LAST, D("80")) == []


def test_many_removals_compact_without_losing_live_keys() -> None:
    index = TriggerIndex()
    for n in range(300):
        arm(index, n, Side.SELL, LegName.SL, str(50 + n), LAST)
    for n in range(300):
        if n % 3:
            index.remove(n)
    assert len(index) == 100
    assert sorted(index.on_price(V, SYM, LAST, D(200))) == [n for n in range(300) if n % 3 == 0 and 50 + n >= 200]
    assert sorted(index.on_price(V, SYM, LAST, D(0))) == [n for n in range(300) if n % 3 == 0 and 50 + n < 200]
    assert len(index) == 0


prices = st.integers(min_value=900, max_value=1100).map(lambda n: Decimal(n) / 10)
sources = st.sampled_from([LAST, MARK, BBO])
ops = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 40), sources, st.sampled_from([Side.BUY, Side.SELL]),
              st.sampled_from([LegName.TP, LegName.SL]), prices),
    st.tuples(st.just("remove"), st.integers(0, 40)),
    st.tuples(st.just("price"), st.sampled_from([LAST, MARK]), prices),
    st.tuples(st.just("bbo"), st.one_of(st.none(), prices), st.one_of(st.none(), prices)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=120))
def test_index_agrees_with_a_brute_force_scan(steps: list[tuple]) -> None:
    index = TriggerIndex()
    model: dict[int, tuple[TriggerSource, Side, TriggerDirection, Decimal]] = {}
    for step in steps:
        if step[0] == "add":
            _, key, source, exit_side, leg, level = step
            index.add(key, venue=V, symbol=SYM, source=source, exit_side=exit_side,
                      direction=watch_rule(exit_side, leg), trigger_price=level)
            model[key] = (source, exit_side, watch_rule(exit_side, leg), level)
        elif step[0] == "remove":
            assert index.remove(step[1]) == (model.pop(step[1], None) is not None)
        elif step[0] == "price":
            _, source, price = step
            expected = {k for k, (src, _, d, lv) in model.items() if src is source and is_crossed(d, lv, price)}
            fired = index.on_price(V, SYM, source, price)
            assert len(fired) == len(set(fired)) and set(fired) == expected
            for k in expected:
                del model[k]
        else:
            _, bid, ask = step
            expected = set()
            for k, (src, side, d, lv) in model.items():
                seen = bid if side is Side.SELL else ask
                if src is BBO and seen is not None and is_crossed(d, lv, seen):
                    expected.add(k)
            fired = index.on_bbo(V, SYM, bid, ask)
            assert len(fired) == len(set(fired)) and set(fired) == expected
            for k in expected:
                del model[k]
        assert len(index) == len(model)
