"""The Binance dialect's pure parts: diff ids, the IP limiter's 429 -> 418 escalation, signed-request checks."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal as D

from gateway.simserver.binance.depth import DepthFeed
from gateway.simserver.binance.limits import IpLimiter, check_signed


def test_depth_feed_ids_advance_per_changed_level() -> None:
    feed = DepthFeed(first_id=100)
    first = feed.update(((D(9), D(1)),), ((D(11), D(1)),))
    assert (first.U, first.u, first.pu) == (101, 102, 100)
    assert feed.update(((D(9), D(1)),), ((D(11), D(1)),)) is None  # nothing changed
    second = feed.update(((D(8), D(2)),), ((D(11), D(3)),))
    assert (second.U, second.u, second.pu) == (103, 105, 102)
    assert sorted(second.bids) == [(D(8), D(2)), (D(9), D(0))]
    assert feed.snapshot(10) == (105, [(D(8), D(2))], [(D(11), D(3))])


def test_limiter_429_then_ban_when_the_client_keeps_going() -> None:
    limiter = IpLimiter(limit=10, interval_ms=1_000, retry_after_s=0.5, ban_s=60, ban_after=2)
    assert limiter.admit("ip", 10, 0).status == 200
    assert limiter.admit("ip", 1, 1).status == 429  # over the limit: Retry-After 0.5 s starts
    assert limiter.admit("ip", 1, 100).status == 429  # violation 1
    assert limiter.admit("ip", 1, 200).status == 418  # violation 2: banned
    assert limiter.admit("ip", 1, 30_000).status == 418
    assert limiter.admit("ip", 1, 60_300).status == 200


def test_limiter_honoured_retry_after_never_bans() -> None:
    limiter = IpLimiter(limit=10, interval_ms=1_000, retry_after_s=0.5, ban_after=1)
    limiter.admit("ip", 10, 0)
    assert limiter.admit("ip", 1, 1).status == 429
    assert limiter.admit("ip", 1, 1_001).status == 200  # after Retry-After, in a new window
    assert limiter.answered_418 == 0


def _sign(query: str, secret: str = "s") -> str:
    return f"{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"


def test_check_signed() -> None:
    keys = {"k": "s"}
    ok = _sign("recvWindow=5000&timestamp=1000")
    assert check_signed(ok, "", "k", keys, 1_500).code == 0
    assert check_signed(ok, "", "other", keys, 1_500).code == -2015
    assert check_signed(_sign("recvWindow=5000&timestamp=1000", "bad"), "", "k", keys, 1_500).code == -1022
    assert check_signed(ok, "", "k", keys, 7_000).code == -1021  # older than recvWindow
    assert check_signed(ok, "", "k", keys, -1).code == -1021  # 1000 ms ahead of the server
    assert check_signed("timestamp=1", "", "k", keys, 1).code == -1102  # no signature
