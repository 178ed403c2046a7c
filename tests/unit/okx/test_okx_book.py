"""seqId/prevSeqId continuity (fact sheet §7), gap reported once, checksum checked only when non-zero."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.venues.okx.book import BookStep, BookSync, checksum_of


def _book() -> BookSync:
    book = BookSync()
    step = book.on_snapshot(10, [["100", "1", "0", "1"], ["99", "2", "0", "1"]], [["101", "3", "0", "1"]], 0, 1)
    assert step.applied and book.is_synced
    return book


def test_docs_sequence_update_keepalive_reset_then_update() -> None:
    book = _book()
    assert book.on_update(15, 10, [["100", "0", "0", "0"]], [["102", "1", "0", "1"]], 0, 2).applied
    assert book.on_update(15, 15, [], [], 0, 3).applied  # keep-alive
    assert book.on_update(3, 15, [["98", "5", "0", "1"]], [], 0, 4).applied  # reset after maintenance
    assert book.on_update(5, 3, [], [["101", "0", "0", "0"]], 0, 5).applied
    bids, asks = book.levels(10)
    assert bids == ((Decimal(99), Decimal(2)), (Decimal(98), Decimal(5)))
    assert asks == ((Decimal(102), Decimal(1)),) and book.seq_id == 5


def test_gap_invalidates_once_and_drops_until_the_next_snapshot() -> None:
    book = _book()
    first = book.on_update(20, 12, [], [], 0, 2)
    assert first.gap and not first.applied and not book.is_synced
    again = book.on_update(21, 20, [], [], 0, 3)
    assert not again.gap and not again.applied  # one resubscribe per gap, not a storm
    assert book.on_snapshot(30, [["1", "1"]], [["2", "1"]], 0, 4).applied and book.is_synced
    assert book.on_update(31, 30, [], [], 0, 5).applied and book.gaps == 1


def test_checksum_vectors_from_the_fact_sheet() -> None:
    assert checksum_of([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")]) == -1881014294
    assert checksum_of([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")]) == 831078360


def test_nonzero_checksum_is_validated_and_zero_is_ignored() -> None:
    book = BookSync()
    bids, asks = [["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]]
    assert book.on_snapshot(1, bids, asks, -1881014294, 1).applied
    assert book.on_update(2, 1, [], [], 0, 2).applied  # checksum 0: deprecated, not checked
    bad = book.on_update(3, 2, [["3366", "1"]], [], 12345, 3)
    assert bad.gap and "checksum" in (bad.reason or "")


@pytest.mark.parametrize("garbage", [["abc", "1", "0", "1"], ["100.5", "NaN", "0", "1"], ["-1", "1"], ["100"],
                                     "not a level", ["Infinity", "1"], [None, "1"]])
def test_an_update_with_a_garbage_level_is_refused_whole_and_re_snapshotted(garbage: object) -> None:
    book = _book()
    before = book.levels(10)
    # the first bid level is fine, the ask is garbage: nothing of the update may be applied
    step = book.on_update(11, 10, [["100", "0", "0", "0"]], [["102", "1", "0", "1"], garbage], 0, 2)
    assert step.gap and not step.applied and "unreadable" in (step.reason or "")
    assert not book.is_synced and book.levels(10) == before and book.seq_id == 10
    assert book.on_snapshot(20, [["100", "1"]], [["101", "1"]], 0, 3).applied and book.is_synced


def test_a_garbage_snapshot_leaves_the_book_invalid_and_asks_for_another() -> None:
    book = _book()
    step = book.on_snapshot(20, [["100", "x"]], [["101", "1"]], 0, 3)
    assert step.gap and not step.applied and not book.is_synced
    assert book.on_update(21, 20, [], [], 0, 4) == BookStep(False)  # dropped until a good snapshot
    assert book.on_snapshot(30, [["100", "1"]], [["101", "1"]], 0, 5).applied and book.is_synced
