from decimal import Decimal as D

import pytest

from gateway.core.book import L2Book, SequenceGap


def lv(*pairs: tuple[str, str]) -> list[tuple[D, D]]:
    return [(D(p), D(q)) for p, q in pairs]


def synced_book() -> L2Book:
    book = L2Book()
    book.apply_snapshot(lv(("100", "1"), ("99", "2")), lv(("101", "1"), ("102", "3")), seq=10)
    return book


def test_snapshot_then_contiguous_diffs() -> None:
    book = synced_book()
    assert book.apply_diff(lv(("100", "0"), ("99.5", "4")), lv(), first_seq=11, last_seq=12)
    assert book.best_bid() == (D("99.5"), D("4"))
    assert book.top(5) == (lv(("99.5", "4"), ("99", "2")), lv(("101", "1"), ("102", "3")))
    assert book.seq == 12


def test_old_diff_is_skipped() -> None:
    book = synced_book()
    assert not book.apply_diff(lv(("100", "0")), lv(), first_seq=5, last_seq=10)
    assert book.best_bid() == (D("100"), D("1"))


def test_diff_overlapping_the_snapshot_applies() -> None:
    book = synced_book()
    assert book.apply_diff(lv(), lv(("101", "0")), first_seq=8, last_seq=11)
    assert book.best_ask() == (D("102"), D("3"))


def test_gap_raises() -> None:
    book = synced_book()
    with pytest.raises(SequenceGap):
        book.apply_diff(lv(), lv(), first_seq=12, last_seq=13)


def test_prev_seq_chain_is_enforced() -> None:
    book = synced_book()
    book.apply_diff(lv(), lv(), first_seq=11, last_seq=15, prev_seq=10)
    with pytest.raises(SequenceGap):
        book.apply_diff(lv(), lv(), first_seq=17, last_seq=18, prev_seq=16)


def test_crossed_book_is_a_gap_and_unsyncs() -> None:
    book = synced_book()
    with pytest.raises(SequenceGap):
        book.apply_diff(lv(("101.5", "1")), lv(), first_seq=11, last_seq=11)
    assert not book.is_synced


def test_diff_before_snapshot_raises() -> None:
    with pytest.raises(SequenceGap):
        L2Book().apply_diff(lv(), lv(), 1, 1)
