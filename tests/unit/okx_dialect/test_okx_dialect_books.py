"""Book pushes with OKX sequence ids, the legacy checksum, the instrument mapping and algo bookkeeping."""

from __future__ import annotations

import ast
from decimal import Decimal as D
from pathlib import Path

import pytest

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.simserver.okx.algos import Algo, AlgoBook
from gateway.simserver.okx.books import BookFeed, checksum, level_rows
from gateway.simserver.okx.instruments import build_okx_instruments
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import build_instruments
from gateway.venues.sim.records import OrderEvent


def test_updates_chain_prev_seq_id_and_rebuild_the_book() -> None:
    feed = BookFeed(first_seq_id=10)
    first = feed.update([(D(100), D(1)), (D(99), D(2))], [(D(101), D(1))])
    assert first is not None and (first.prev_seq_id, first.seq_id) == (10, 13)
    second = feed.update([(D(100), D(3))], [(D(101), D(1)), (D(102), D(5))])
    assert second is not None and second.prev_seq_id == first.seq_id and second.seq_id > second.prev_seq_id
    assert sorted(second.bids) == [(D(99), D(0)), (D(100), D(3))] and second.asks == [(D(102), D(5))]
    assert feed.update([(D(100), D(3))], [(D(101), D(1)), (D(102), D(5))]) is None  # no change, no id spent
    assert feed.snapshot(1) == (second.seq_id, [(D(100), D(3))], [(D(101), D(1))])


def test_rows_and_legacy_checksum_vectors() -> None:
    assert level_rows([(D("3366.1"), D(7)), (D(5), D(0))]) == [["3366.1", "7", "0", "1"], ["5", "0", "0", "0"]]
    bids = [(D("3366.1"), D(7)), (D(3366), D(6))]
    asks = [(D("3366.8"), D(9)), (D(3368), D(8))]
    assert checksum(bids, asks) == -1881014294
    assert checksum([(D("3366.1"), D(7))], [(D("3366.8"), D(9)), (D(3368), D(8)), (D(3372), D(8))]) == 831078360


def test_swap_sizes_are_contracts_of_ct_val() -> None:
    instruments = {i.symbol: i for i in build_instruments("user", SimSettings())}
    insts = build_okx_instruments(instruments, {"BTC-USDT-SWAP": D("0.0001")})
    assert sorted(insts) == ["BTC-USDT", "BTC-USDT-SWAP", "ETH-USDT"]
    swap, spot = insts["BTC-USDT-SWAP"], insts["BTC-USDT"]
    assert (swap.inst_type, swap.lot_sz, swap.min_sz) == ("SWAP", D(10), D(10))  # sim step 0.001 BTC
    assert swap.to_qty(D(20)) == D("0.002") and swap.to_sz(D("0.002")) == D(20)
    row = swap.row(125)
    assert (row["ctVal"], row["lotSz"], row["settleCcy"], row["baseCcy"]) == ("0.0001", "10", "USDT", "")
    assert (spot.row(125)["ctVal"], spot.to_qty(D("0.5"))) == ("", D("0.5"))


def _leg(order_id: str, status: OrderStatus, triggered: bool) -> OrderEvent:
    return OrderEvent("user", "BTC/USDT", order_id, None, Side.SELL, OrderType.STOP, TimeInForce.GTC, None,
                      D(90), D(1), D(0), None, status, False, triggered, None, 1, 2)


def test_oco_first_fired_leg_wins_and_the_sibling_is_returned() -> None:
    book = AlgoBook()
    algo = Algo(book.new_id(), "c1", "BTC-USDT", "oco", "sell", "cash", D(1), False, "", {}, 1, 1)
    algo.legs = {"11": "tp", "12": "sl"}
    book.add(algo)
    changed, cancel = book.on_order(_leg("12", OrderStatus.NEW, triggered=True))
    assert changed is algo and cancel == ["11"] and (algo.state, algo.ord_id, algo.actual_side) == ("effective", "12", "sl")
    assert book.on_order(_leg("11", OrderStatus.CANCELED, triggered=False)) == (None, [])  # stays effective
    assert book.find(None, "c1") is algo and book.pending() == [] and book.history() == [algo]


PURE = ["auth", "books", "instruments", "render", "orders_render", "algos", "params", "trading", "account",
        "reports", "limits"]


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_do_no_io(name: str) -> None:
    path = Path(__file__).resolve().parents[3] / "gateway" / "simserver" / "okx" / f"{name}.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    assert not found & {"asyncio", "aiohttp", "websockets", "time", "socket"}
