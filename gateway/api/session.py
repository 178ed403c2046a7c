"""Per-connection state of the strategy WebSocket: who is connected, what it holds, what waits to be sent.

Pure: no event loop, no sockets. Time is passed in. `ws_server.py` owns the I/O around a `Session`.

Outbound queue policy (one queue per connection; responses and pushes share it, in order):

- Up to `max_queue` frames are queued first-in first-out.
- Beyond that, market data is conflated per stream: a new frame of a stream that already has a frame
  waiting replaces that frame in place (the dropped frame is counted in `dropped`). The queue then holds
  at most `max_queue` + one frame per subscribed stream + the non-conflatable frames.
- Non-conflatable frames (responses, order and fill events) are never dropped. When more than
  `max_pending_user_frames` of them wait, the consumer is too slow to be served: the queue stops taking
  frames and asks for the connection to be closed with 1013 (try again later).

Rate limit: a token bucket per connection refilled at `rate_limit_per_s` requests per second, holding at
most five seconds' worth (burst = 5 x rate). A request that finds the bucket empty closes the connection
with 1008 (policy violation) and the reason "rate limit".
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.api.config import Permission, StrategySettings
from gateway.core.bus import StreamKey

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_TOO_BIG",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNSUPPORTED_DATA",
    "KeyRing",
    "OutboundQueue",
    "Principal",
    "Session",
    "TokenBucket",
]

# WebSocket close codes the gateway uses (RFC 6455 section 7.4.1; 1013 from the IANA registry).
CLOSE_GOING_AWAY = 1001  # the gateway is shutting down
CLOSE_UNSUPPORTED_DATA = 1003  # a binary frame
CLOSE_POLICY_VIOLATION = 1008  # beyond the rate limit
CLOSE_TOO_BIG = 1009  # a frame above max_frame_bytes
CLOSE_TRY_AGAIN_LATER = 1013  # slow consumer: order events could not be delivered

BURST_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated strategy: its name, permissions and account scope (None: every account)."""

    strategy: str
    permissions: frozenset[Permission]
    accounts: frozenset[str] | None

    def has_permission(self, permission: Permission) -> bool:
        return permission in self.permissions

    def may_use(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    @classmethod
    def of(cls, strategy: StrategySettings) -> Principal:
        """Build the principal a configured strategy authenticates as."""
        accounts = None if strategy.accounts is None else frozenset(strategy.accounts)
        return cls(strategy.name, frozenset(strategy.permissions), accounts)


class KeyRing:
    """The strategy keys: the configured ones, and those `add`ed at run time (the embedded exchange's users).

    Compares in constant time against every key; never logs one.
    """

    def __init__(self, strategies: Iterable[StrategySettings]):
        self._entries = [(s.api_key.get_secret_value().encode(), Principal.of(s)) for s in strategies]
        self._by_name = {principal.strategy: principal for _, principal in self._entries}

    def add(self, strategy: StrategySettings) -> Principal:
        """Accept `strategy`'s key from now on, on every front door sharing this ring; return its principal.

        Raises:
            ValueError: a strategy of that name, or with that key, exists already.
        """
        if strategy.name in self._by_name:
            raise ValueError(f"strategy {strategy.name!r} exists already")
        if self.authenticate(strategy.api_key.get_secret_value()) is not None:
            raise ValueError("another strategy has that api_key")
        principal = Principal.of(strategy)
        self._entries = [*self._entries, (strategy.api_key.get_secret_value().encode(), principal)]
        self._by_name[principal.strategy] = principal
        return principal

    def principal(self, strategy: str) -> Principal | None:
        """Return the principal of the strategy named `strategy` (None when it is not configured)."""
        return self._by_name.get(strategy)

    def authenticate(self, api_key: str) -> Principal | None:
        """Return the principal owning `api_key`, or None. Every key is compared, match or not."""
        candidate = api_key.encode("utf-8", "surrogatepass")  # HTTP headers may carry undecodable bytes
        found = None
        for key, principal in self._entries:
            if hmac.compare_digest(candidate, key):
                found = principal
        return found


class TokenBucket:
    """A token bucket: `rate` tokens per second, holding at most `burst` (full at start).

    Args:
        rate: sustained requests per second.
        burst: bucket size; defaults to `BURST_SECONDS` x `rate`.
    """

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0):
        self._rate = rate
        self._burst = burst if burst is not None else rate * BURST_SECONDS
        self._tokens = self._burst
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one token at time `now` (seconds, monotonic); False when the bucket is empty."""
        elapsed = now - self._last
        self._last = now
        tokens = self._tokens + elapsed * self._rate if elapsed > 0 else self._tokens
        if tokens > self._burst:
            tokens = self._burst
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True


class OutboundQueue:
    """A connection's bounded outbound queue; implements `gateway.core.bus.Subscriber`.

    Args:
        max_frames: frames queued first-in first-out before market data is conflated.
        max_pending_user_frames: non-conflatable frames waiting before the consumer is declared slow.
        wake: called when the queue goes from empty to non-empty, or is marked for close.
    """

    __slots__ = (
        "_latest",
        "_max_frames",
        "_max_user",
        "_slots",
        "_user_pending",
        "_wake",
        "close_code",
        "close_reason",
        "direct",
        "dropped",
        "in_flight",
        "queued",
        "sent_direct",
    )

    def __init__(self, max_frames: int, max_pending_user_frames: int, wake: Callable[[], None]):
        self._max_frames = max_frames
        self._max_user = max_pending_user_frames
        self._wake = wake
        # Each slot is a two-item list [frame, stream]; stream is None for non-conflatable frames.
        # `_latest` maps a stream to its most recent waiting slot, which a newer frame may overwrite.
        self._slots: deque[list] = deque()
        self._latest: dict[str, list] = {}
        self._user_pending = 0
        self.dropped = 0
        self.queued = 0
        self.close_code: int | None = None
        self.close_reason = ""
        # Fast path: with nothing waiting and no frame in flight, `direct(frame)` may write the frame at
        # once (it returns False when the socket cannot take it now, and the frame is queued instead).
        # This spares a task switch per frame for a consumer that keeps up; order is preserved.
        self.direct: Callable[[bytes], bool] | None = None
        self.in_flight = False  # the writer holds a popped frame it has not written yet
        self.sent_direct = 0

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def user_pending(self) -> int:
        return self._user_pending

    def is_closing(self) -> bool:
        return self.close_code is not None

    def deliver(self, frame: bytes, stream: str, conflatable: bool) -> None:
        """Take one encoded frame without blocking (see the module docstring for the policy)."""
        if self.close_code is not None:
            return
        slots = self._slots
        if conflatable:
            if len(slots) >= self._max_frames:
                slot = self._latest.get(stream)
                if slot is not None:
                    slot[0] = frame
                    self.dropped += 1
                    return
            slot = [frame, stream]
            self._latest[stream] = slot
        else:
            if self._user_pending >= self._max_user:
                self.mark_closing(CLOSE_TRY_AGAIN_LATER, "slow consumer")
                return
            self._user_pending += 1
            slot = [frame, None]
        if not slots and not self.in_flight and self.direct is not None and self.direct(frame):
            if slot[1] is None:
                self._user_pending -= 1
            elif self._latest.get(stream) is slot:
                del self._latest[stream]
            self.sent_direct += 1
            return
        self.queued += 1
        if not slots:
            slots.append(slot)
            self._wake()
        else:
            slots.append(slot)

    def put(self, frame: bytes) -> None:
        """Queue a response frame: never dropped, counted like order events."""
        self.deliver(frame, "", False)

    def pop(self) -> bytes | None:
        """Take the oldest waiting frame, or None when nothing waits."""
        if not self._slots:
            return None
        slot = self._slots.popleft()
        stream = slot[1]
        if stream is None:
            self._user_pending -= 1
        elif self._latest.get(stream) is slot:
            del self._latest[stream]
        return slot[0]

    def mark_closing(self, code: int, reason: str) -> None:
        """Refuse further frames and ask the writer to close the connection with `code`."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
            self._wake()


class Session:
    """One strategy connection: identity, held subscriptions, outbound queue and rate limiter.

    Args:
        connection_id: a short id for logs.
        remote: the peer address as "host:port".
        connected_ms: when the connection was accepted (epoch ms).
        outbound: the connection's outbound queue (what the bus delivers to).
        limiter: the connection's request rate limiter.
    """

    def __init__(
        self,
        connection_id: str,
        remote: str,
        connected_ms: int,
        outbound: OutboundQueue,
        limiter: TokenBucket,
    ):
        self.connection_id = connection_id
        self.remote = remote
        self.connected_ms = connected_ms
        self.outbound = outbound
        self.limiter = limiter
        self.principal: Principal | None = None
        self.subscriptions: dict[str, StreamKey] = {}  # name as subscribed -> canonical key

    @property
    def strategy(self) -> str | None:
        return self.principal.strategy if self.principal else None

    def is_authenticated(self) -> bool:
        return self.principal is not None
