"""The local-book algorithm (spot U/u, futures pu): rules one by one, then a property over random streams."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.venues.binance.book import BookDiff, BookSync


def diff(U: int, u: int, pu: int | None = None, bids=(), asks=()) -> BookDiff:
    return BookDiff(U, u, pu, [(D(p), D(q)) for p, q in bids], [(D(p), D(q)) for p, q in asks])


def levels(sync: BookSync) -> tuple[list, list]:
    return sync.book.top(1_000)


# --- spot -------------------------------------------------------------------------------------------


def test_spot_buffers_until_the_snapshot_then_replays_what_it_does_not_cover() -> None:
    sync = BookSync(futures=False)
    assert sync.wants_snapshot
    sync.on_diff(diff(99, 100, bids=[("9", "1")]))  # covered by the snapshot: dropped
    sync.on_diff(diff(101, 103, bids=[("10", "2")]))  # bridges lastUpdateId + 1 = 102
    sync.on_diff(diff(104, 104, asks=[("11", "0")]))
    step = sync.on_snapshot(101, [(D(9), D(5))], [(D(11), D(1)), (D(12), D(1))])
    assert step.changed and not step.needs_snapshot and sync.is_synced
    assert sync.book.seq == 104
    assert levels(sync) == ([(D(10), D(2)), (D(9), D(5))], [(D(12), D(1))])


def test_spot_snapshot_older_than_the_buffer_is_refused_and_the_buffer_kept() -> None:
    sync = BookSync(futures=False)
    sync.on_diff(diff(105, 106, bids=[("10", "1")]))
    assert sync.on_snapshot(100, [], []).needs_snapshot  # 101..104 unknown
    assert sync.stale_snapshots == 1 and sync.buffered == 1
    assert not sync.on_snapshot(104, [], []).needs_snapshot  # boundary: U == lastUpdateId + 1
    assert sync.book.seq == 106


def test_spot_gap_keeps_the_revealing_diff_and_resyncs_from_it() -> None:
    sync = BookSync(futures=False)
    sync.on_snapshot(10, [(D(9), D(1))], [])
    assert sync.on_diff(diff(11, 12, bids=[("9", "2")])).changed
    step = sync.on_diff(diff(15, 16, bids=[("8", "1")]))  # 13..14 lost
    assert step.needs_snapshot and not sync.is_synced and sync.gaps == 1
    sync.on_diff(diff(17, 17, bids=[("7", "1")]))
    sync.on_snapshot(15, [(D(9), D(2)), (D(8), D(4))], [])  # covers 13..15
    assert sync.book.seq == 17
    assert levels(sync)[0] == [(D(9), D(2)), (D(8), D(1)), (D(7), D(1))]  # 15..16 re-applied


def test_spot_old_diffs_are_ignored_once_synced() -> None:
    sync = BookSync(futures=False)
    sync.on_snapshot(10, [], [])
    assert not sync.on_diff(diff(5, 10, bids=[("1", "1")])).changed
    assert sync.is_synced and levels(sync) == ([], [])


def test_a_crossed_book_counts_as_a_gap() -> None:
    sync = BookSync(futures=False)
    sync.on_snapshot(10, [(D(9), D(1))], [(D(10), D(1))])
    assert sync.on_diff(diff(11, 11, bids=[("10", "1")])).needs_snapshot
    assert sync.buffered == 0 and not sync.is_synced


def test_a_gap_inside_the_buffer_keeps_what_follows() -> None:
    sync = BookSync(futures=False)
    for d in (diff(11, 11, bids=[("1", "1")]), diff(14, 14, bids=[("2", "1")]), diff(15, 15, bids=[("3", "1")])):
        sync.on_diff(d)
    assert sync.on_snapshot(10, [], []).needs_snapshot  # 12..13 lost after the first diff
    assert sync.buffered == 2
    sync.on_snapshot(13, [(D(1), D(1))], [])
    assert sync.book.seq == 15 and len(levels(sync)[0]) == 3


def test_the_buffer_is_bounded() -> None:
    sync = BookSync(futures=False, buffer_limit=3)
    for i in range(10):
        sync.on_diff(diff(i, i))
    assert sync.buffered == 3


def test_reset_forgets_book_and_buffer() -> None:
    sync = BookSync(futures=False)
    sync.on_snapshot(1, [(D(1), D(1))], [])
    sync.reset()
    assert sync.wants_snapshot and sync.buffered == 0


# --- futures ----------------------------------------------------------------------------------------


def test_futures_first_diff_must_straddle_last_update_id_then_chain_by_pu() -> None:
    sync = BookSync(futures=True)
    sync.on_diff(diff(90, 95, pu=89, bids=[("1", "1")]))  # u < lastUpdateId: dropped
    sync.on_diff(diff(96, 104, pu=95, bids=[("2", "1")]))  # U <= 100 <= u: the first one processed
    sync.on_diff(diff(110, 120, pu=104, bids=[("3", "1")]))  # U jumps (ids are global); pu chains
    sync.on_snapshot(100, [(D(1), D(7))], [])
    assert sync.book.seq == 120
    assert levels(sync)[0] == [(D(3), D(1)), (D(2), D(1)), (D(1), D(7))]
    assert sync.on_diff(diff(130, 131, pu=125)).needs_snapshot  # pu != 120
    assert sync.buffered == 1


def test_futures_snapshot_applied_before_the_bridging_diff_arrives() -> None:
    sync = BookSync(futures=True)
    sync.on_snapshot(100, [(D(1), D(1))], [])
    assert not sync.on_diff(diff(80, 99, pu=79)).changed  # older
    assert sync.on_diff(diff(99, 101, pu=98, bids=[("2", "1")])).changed  # bridges
    assert sync.on_diff(diff(105, 106, pu=101, bids=[("3", "1")])).changed


def test_futures_diff_continuing_exactly_from_the_snapshot_bridges() -> None:
    sync = BookSync(futures=True)
    sync.on_snapshot(100, [], [])
    assert sync.on_diff(diff(101, 103, pu=100, bids=[("2", "1")])).changed
    assert sync.book.seq == 103


def test_futures_first_diff_starting_after_the_snapshot_is_a_gap() -> None:
    sync = BookSync(futures=True)
    sync.on_snapshot(100, [], [])
    assert sync.on_diff(diff(105, 107, pu=104)).needs_snapshot


# --- property: random streams with injected gaps always end equal to the true book -------------------

change = st.tuples(st.booleans(), st.integers(1, 25), st.integers(0, 4))  # (is bid, distance, qty)
event = st.lists(change, min_size=1, max_size=5)


def _run_stream(futures: bool, data: st.DataObject) -> None:
    events = data.draw(st.lists(event, min_size=1, max_size=80), label="events")
    true_bids: dict[D, D] = {}
    true_asks: dict[D, D] = {}
    first_id = data.draw(st.integers(0, 1_000), label="first id")
    books = {first_id: ({}, {})}  # u -> the true book after the event ending at u
    stream: list[BookDiff] = []
    last = first_id
    for changes in events:
        bids, asks = [], []
        for is_bid, distance, qty in changes:
            price = D(100 - distance) if is_bid else D(100 + distance)
            (bids if is_bid else asks).append((price, D(qty)))
            side = true_bids if is_bid else true_asks
            if qty:
                side[price] = D(qty)
            else:
                side.pop(price, None)
        jump = data.draw(st.integers(0, 3), label="id jump") if futures else 0
        U = last + 1 + jump
        u = U + len(bids) + len(asks) - 1
        stream.append(BookDiff(U, u, last if futures else None, bids, asks))
        books[u] = (dict(true_bids), dict(true_asks))
        last = u
    ids = [first_id] + [d.u for d in stream]

    def snapshot_at(index: int) -> tuple[int, list, list]:
        bids, asks = books[ids[index]]
        return ids[index], sorted(bids.items(), reverse=True), sorted(asks.items())

    sync = BookSync(futures=futures, buffer_limit=data.draw(st.sampled_from([4, 1_000]), label="buffer"))

    def check() -> None:
        if sync.is_synced and not sync._bridging:
            bids, asks = books[sync.book.seq]
            assert sync.book.top(1_000) == (sorted(bids.items(), reverse=True), sorted(asks.items()))

    delivered = 0  # index into ids of the last event the client was sent (0: none)
    for i, d in enumerate(stream, start=1):
        if sync.wants_snapshot and data.draw(st.booleans(), label="answer snapshot now"):
            lag = data.draw(st.integers(-3, 3), label="snapshot lag")  # the REST view may lead or trail
            sync.on_snapshot(*snapshot_at(max(0, min(len(stream), delivered + lag))))
            check()
        delivered = i
        drop = i < len(stream) and data.draw(st.integers(0, 9), label="drop") == 0
        if not drop:
            sync.on_diff(d)
            check()
    for _ in range(50):  # the stream ended: answer snapshot requests (served at the server's latest id)
        if not sync.wants_snapshot:
            break
        sync.on_snapshot(*snapshot_at(len(stream)))
    if futures and sync._bridging:
        assert sync.book.seq == ids[-1]
    assert sync.is_synced
    bids, asks = books[ids[-1]]
    assert sync.book.seq == ids[-1]
    assert sync.book.top(1_000) == (sorted(bids.items(), reverse=True), sorted(asks.items()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_spot_random_streams_with_gaps_end_equal_to_the_true_book(data: st.DataObject) -> None:
    _run_stream(False, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_futures_random_streams_with_gaps_end_equal_to_the_true_book(data: st.DataObject) -> None:
    _run_stream(True, data)


@pytest.mark.parametrize("futures", [False, True])
def test_wants_snapshot_until_synced(futures: bool) -> None:
    sync = BookSync(futures=futures)
    assert sync.wants_snapshot
    sync.on_snapshot(1, [], [])
    assert not sync.wants_snapshot
