"""Review fixes of the Lighter session's background loops: garbage from the venue, a signing failure or a
dropped socket never ends the poller or the reconcile loop (each is logged and the rest goes on); the
stream keeps its error frames bounded and forgets a dropped connection."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from websockets.exceptions import ConnectionClosedError

from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side
from gateway.core.events import OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.venues.lighter.execution import PendingOrder
from gateway.venues.lighter.signer import SigningError
from gateway.venues.lighter.stream import LighterStream
from gateway.venues.lighter.userfeed import UserFeed

T0 = 1_700_000_000_000


class _Rest:
    async def get(self, path: str, params: dict[str, Any], **kw: Any) -> Any:
        return {"bids": [{"price": "not-a-price"}], "asks": [], "trades": []}  # -> decimal.InvalidOperation


class _Queries:
    def __init__(self) -> None:
        self.calls = 0

    async def orders_by_client_index(self, indexes: list[int]) -> list[dict[str, Any]]:
        self.calls += 1
        return [{"market_index": "zero", "order_index": []}]  # unreadable: logged and skipped


class _Stream:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def resubscribe_account(self) -> None:
        self.calls += 1
        raise self.error


def _adapter(stream: _Stream, due: Any = lambda: True) -> SimpleNamespace:
    sink = SimpleNamespace(user=[])
    sink.on_user = sink.user.append
    request = OrderRequest("ETH/USDC:USDC", Side.BUY, OrderType.LIMIT, Decimal(1), "p1", price=Decimal(3000))
    return SimpleNamespace(
        name="lighter", settings=SimpleNamespace(poll_interval_s=0.0, markets_refresh_s=3600.0,
                                                 pending_reject_after_s=1.0, pending_poll_s=0.0),
        specs={"ETH/USDC:USDC": None}, cache=SimpleNamespace(is_fresh=lambda symbol, now: False, on_quote=lambda *a, **k: None),
        spec=lambda symbol: SimpleNamespace(market_id=0), rest=_Rest(), now_ms=lambda: T0 + 10_000,
        execution=SimpleNamespace(pending={5: PendingOrder(request, 5, T0, "ab" * 32)}), queries=_Queries(),
        stream=stream, is_token_due=due, spec_of_market=lambda market: None, grouped_sizes={},
        ids=SimpleNamespace(client_order_id_of=lambda index: None), sink=sink, load_markets=_no_markets)


async def _no_markets() -> None:
    return None


async def test_one_poll_step_survives_garbage_quotes_bad_rows_and_a_signing_failure() -> None:
    adapter = _adapter(_Stream(SigningError("no key")))
    feed = UserFeed(adapter)  # type: ignore[arg-type]
    await feed.poll_step(0.0)
    # the garbage quote (InvalidOperation) and the failed token renewal were logged, and did not stop the
    # pending lookup: the unreadable row was skipped and the overdue order reported UNKNOWN
    assert feed.poll_failures == 2 and feed.bad_reports == 1 and adapter.queries.calls == 1
    assert adapter.stream.calls == 1
    [update] = adapter.sink.user
    assert isinstance(update, OrderUpdate) and update.status is OrderStatus.UNKNOWN
    assert update.client_order_id == "p1" and adapter.execution.pending == {}


async def test_the_poller_keeps_running_after_failures_of_any_kind() -> None:
    rounds = asyncio.Event()
    stream = _Stream(ConnectionClosedError(None, None))

    def due() -> bool:
        if stream.calls >= 3:
            rounds.set()
        return True

    adapter = _adapter(stream, due)
    feed = UserFeed(adapter)  # type: ignore[arg-type]
    task = asyncio.create_task(feed.run_poller())
    try:
        await asyncio.wait_for(rounds.wait(), 5.0)
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()  # ended by the cancel, never by an error
    assert feed.poll_failures >= 3 * 2


def test_stream_error_frames_are_bounded_and_a_drop_forgets_the_connection() -> None:
    states: list[ConnectionState] = []
    stream = LighterStream("lighter", "ws://127.0.0.1:1/stream", [], lambda c, f, s: None,
                           on_state=lambda state, reason: states.append(state))
    for i in range(50):
        stream._on_message(f'{{"type": "error", "code": {i}, "message": "bad"}}')
    assert len(stream.errors) == 20 and stream.errors[-1]["code"] == 49 and stream.errors[0]["code"] == 30
    stream._conn = object()  # type: ignore[assignment]
    stream._state(ConnectionState.RECONNECTING, "closed")
    assert stream._conn is None and states == [ConnectionState.RECONNECTING]
