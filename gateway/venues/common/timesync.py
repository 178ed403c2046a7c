"""The offset between the venue's clock and ours, kept from round-trip samples. Pure (time is passed in).

A sample is (local send time, server time in the answer, local receive time); its offset assumes the
server stamped the answer half-way through the round trip. The offset in use is the median of the last
`keep` samples, so one slow round trip does not move it. After the venue rejected a timestamp
(Binance -1021), `reset` drops the history so the next sample alone decides.
"""

from __future__ import annotations

from collections import deque
from statistics import median_low

__all__ = ["TimeOffset"]


class TimeOffset:
    """Server time = local time + `offset_ms`."""

    def __init__(self, keep: int = 5):
        self._samples: deque[int] = deque(maxlen=keep)
        self.offset_ms = 0
        self.last_rtt_ms: int | None = None

    @property
    def has_samples(self) -> bool:
        return bool(self._samples)

    def on_sample(self, sent_ms: int, server_ms: int, received_ms: int) -> int:
        """Fold in one round trip; return the offset now in use."""
        rtt = max(0, received_ms - sent_ms)
        self.last_rtt_ms = rtt
        self._samples.append(server_ms - (sent_ms + rtt // 2))
        self.offset_ms = median_low(self._samples)
        return self.offset_ms

    def reset(self) -> None:
        """Forget the samples (the venue said our time is off): the next sample alone sets the offset."""
        self._samples.clear()

    def server_now(self, local_ms: int) -> int:
        """Return the venue's time at local time `local_ms`."""
        return local_ms + self.offset_ms
