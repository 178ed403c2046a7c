"""Per-connection state: the outbound queue policy, the rate limiter, keys and scopes. No event loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.api.config import Permission, StrategySettings
from gateway.api.session import CLOSE_TRY_AGAIN_LATER, KeyRing, OutboundQueue, Principal, TokenBucket


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def drain(queue: OutboundQueue) -> list[bytes]:
    frames = []
    while (frame := queue.pop()) is not None:
        frames.append(frame)
    return frames


# --- outbound queue -------------------------------------------------------------------------------


def test_frames_come_out_in_order_up_to_the_bound() -> None:
    queue = OutboundQueue(max_frames=4, max_pending_user_frames=64, wake=Wakes())
    for n in range(4):
        queue.deliver(b"t%d" % n, "s@trade", True)
    assert drain(queue) == [b"t0", b"t1", b"t2", b"t3"]
    assert queue.dropped == 0
    assert queue.pop() is None


def test_wake_is_called_only_when_the_queue_becomes_non_empty() -> None:
    wakes = Wakes()
    queue = OutboundQueue(max_frames=8, max_pending_user_frames=64, wake=wakes)
    queue.deliver(b"a", "x", True)
    queue.deliver(b"b", "x", True)
    queue.put(b"r")
    assert wakes.count == 1
    drain(queue)
    queue.deliver(b"c", "x", True)
    assert wakes.count == 2


def test_beyond_the_bound_the_newest_frame_of_a_stream_replaces_the_waiting_one() -> None:
    queue = OutboundQueue(max_frames=3, max_pending_user_frames=64, wake=Wakes())
    queue.deliver(b"a1", "a", True)
    queue.deliver(b"b1", "b", True)
    queue.deliver(b"a2", "a", True)
    queue.deliver(b"a3", "a", True)  # full: replaces a2, the waiting frame of stream a
    queue.deliver(b"b2", "b", True)  # replaces b1
    queue.deliver(b"c1", "c", True)  # nothing of c waits: appended, one frame per stream beyond the bound
    assert queue.dropped == 2
    assert drain(queue) == [b"a1", b"b2", b"a3", b"c1"]


def test_a_popped_frame_is_never_replaced() -> None:
    queue = OutboundQueue(max_frames=2, max_pending_user_frames=64, wake=Wakes())
    queue.deliver(b"a1", "a", True)
    queue.deliver(b"b1", "b", True)
    assert queue.pop() == b"a1"
    queue.deliver(b"b2", "b", True)  # room again: appended, not conflated
    queue.deliver(b"a2", "a", True)  # full; a1 is gone, so a2 is appended
    assert drain(queue) == [b"b1", b"b2", b"a2"]
    assert queue.dropped == 0


def test_non_conflatable_frames_are_never_dropped_and_keep_their_order() -> None:
    queue = OutboundQueue(max_frames=2, max_pending_user_frames=64, wake=Wakes())
    queue.deliver(b"m1", "m", True)
    queue.deliver(b"m2", "m", True)
    for n in range(5):
        queue.deliver(b"o%d" % n, "acct@order", False)
    queue.put(b"response")
    queue.deliver(b"m3", "m", True)  # conflates m2, the last waiting market frame
    assert drain(queue) == [b"m1", b"m3", b"o0", b"o1", b"o2", b"o3", b"o4", b"response"]
    assert queue.user_pending == 0


def test_too_many_unsent_order_events_mark_the_session_for_close_1013() -> None:
    wakes = Wakes()
    queue = OutboundQueue(max_frames=16, max_pending_user_frames=3, wake=wakes)
    for n in range(3):
        queue.deliver(b"o%d" % n, "acct@order", False)
    assert not queue.is_closing()
    queue.deliver(b"o3", "acct@order", False)
    assert queue.close_code == CLOSE_TRY_AGAIN_LATER
    assert queue.close_reason == "slow consumer"
    assert wakes.count == 2  # once for the first frame, once for the close
    queue.deliver(b"m", "m", True)  # ignored once closing
    assert len(queue) == 3


def test_sending_keeps_order_events_under_the_limit() -> None:
    queue = OutboundQueue(max_frames=16, max_pending_user_frames=3, wake=Wakes())
    for n in range(100):
        queue.deliver(b"o%d" % n, "acct@order", False)
        assert queue.pop() == b"o%d" % n
    assert not queue.is_closing()


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "pop"]), max_size=300))
def test_the_queue_stays_bounded_and_keeps_each_streams_order(ops: list[str]) -> None:
    max_frames = 5
    queue = OutboundQueue(max_frames=max_frames, max_pending_user_frames=10_000, wake=Wakes())
    seq = 0
    out: list[bytes] = []
    for stream in ops:
        if stream == "pop":
            frame = queue.pop()
            if frame is not None:
                out.append(frame)
            continue
        seq += 1
        conflatable = stream != "d"  # d is an order stream: never conflated
        queue.deliver(f"{stream}:{seq}:{int(conflatable)}".encode(), stream, conflatable)
        assert len(queue) <= max_frames + 4 + queue.user_pending
    out.extend(drain(queue))
    for stream in "abcd":
        seqs = [int(f.split(b":")[1]) for f in out if f.startswith(stream.encode())]
        assert seqs == sorted(seqs)
    assert sum(1 for f in out if f.startswith(b"d")) == ops.count("d")
    assert len(out) + queue.dropped == seq


# --- rate limiter ---------------------------------------------------------------------------------


def test_the_bucket_allows_a_burst_of_five_seconds_then_refuses() -> None:
    bucket = TokenBucket(rate=10, now=100.0)
    assert all(bucket.allow(100.0) for _ in range(50))
    assert not bucket.allow(100.0)


def test_the_bucket_refills_at_the_sustained_rate() -> None:
    bucket = TokenBucket(rate=10, now=0.0)
    for _ in range(50):
        bucket.allow(0.0)
    assert not bucket.allow(0.05)
    assert bucket.allow(0.1)  # one token after 0.1 s at 10/s
    assert not bucket.allow(0.1)
    assert sum(bucket.allow(1.1 + n * 0.1) for n in range(100)) == 100  # exactly the rate is sustainable


def test_the_bucket_never_holds_more_than_the_burst() -> None:
    bucket = TokenBucket(rate=2, now=0.0)
    assert sum(bucket.allow(3600.0) for _ in range(100)) == 10


# --- keys and scopes ------------------------------------------------------------------------------


def test_the_key_ring_finds_the_owner_of_a_key() -> None:
    ring = KeyRing(
        [
            StrategySettings(name="a", api_key="key-aaaa-1111"),
            StrategySettings(
                name="b",
                api_key="key-bbbb-2222",
                permissions=frozenset({Permission.TRADE}),
                accounts=frozenset({"sim"}),
            ),
        ]
    )
    principal = ring.authenticate("key-bbbb-2222")
    assert principal == Principal("b", frozenset({Permission.TRADE}), frozenset({"sim"}))
    assert ring.authenticate("key-bbbb-222") is None
    assert ring.authenticate("") is None
    assert ring.authenticate("ключ-юникод") is None


def test_the_key_ring_takes_new_keys_at_run_time_but_no_duplicates() -> None:
    ring = KeyRing([StrategySettings(name="a", api_key="key-aaaa-1111")])
    added = ring.add(StrategySettings(name="user1", api_key="key-user-1111", accounts=frozenset({"user1"})))
    assert ring.authenticate("key-user-1111") == added == ring.principal("user1")
    assert added.accounts == frozenset({"user1"})
    with pytest.raises(ValueError, match="exists"):
        ring.add(StrategySettings(name="a", api_key="key-other-2222"))
    with pytest.raises(ValueError, match="api_key"):
        ring.add(StrategySettings(name="c", api_key="key-aaaa-1111"))
    assert ring.principal("c") is None and ring.authenticate("key-aaaa-1111").strategy == "a"  # type: ignore[union-attr]


def test_a_principal_without_an_account_list_may_use_every_account() -> None:
    everything = Principal("a", frozenset({Permission.READ}), None)
    scoped = Principal("b", frozenset(), frozenset({"user1"}))
    assert everything.may_use("anything") and everything.has_permission(Permission.READ)
    assert scoped.may_use("user1") and not scoped.may_use("user2")
    assert not scoped.has_permission(Permission.READ)


def test_direct_path_writes_at_once_only_when_nothing_waits_and_nothing_is_in_flight() -> None:
    written: list[bytes] = []
    wakes: list[int] = []
    accept = [True]

    def direct(frame: bytes) -> bool:
        if accept[0]:
            written.append(frame)
        return accept[0]

    queue = OutboundQueue(8, 8, lambda: wakes.append(1))
    queue.direct = direct
    queue.deliver(b"a", "s", True)
    queue.deliver(b"r", "", False)
    assert written == [b"a", b"r"] and len(queue) == 0 and queue.user_pending == 0 and wakes == []

    accept[0] = False  # the socket is full: frames queue, in order
    queue.deliver(b"b", "s", True)
    accept[0] = True
    queue.deliver(b"c", "s", True)  # something waits: must not overtake b
    assert written == [b"a", b"r"] and [queue.pop(), queue.pop()] == [b"b", b"c"] and wakes == [1]

    queue.in_flight = True  # the writer holds a frame: a new one must not overtake it
    queue.deliver(b"d", "s", True)
    assert written == [b"a", b"r"] and queue.pop() == b"d"
    assert queue.sent_direct == 2
