"""Nonces per API key: fetched from the venue, handed out in order, never reused.

Lighter's rules (fact sheet §4 "Nonces"): the API server refusing a tx does not consume its nonce; a tx
it accepts (code 200) consumes it even if the sequencer rejects it later. So:

- a key's next nonce is fetched (``/api/v1/nextNonce``) before its first tx, and again after any
  refusal or lost answer and after a reconnect (`invalidate`): then the venue is the only truth;
- a tx is signed *and* sent while holding the key's lock, so txs of one key reach the venue in nonce
  order however many callers submit at once (ccxt#28073: concurrent orders -> "invalid nonce");
- an accepted tx advances the nonce; a refused one leaves it to be re-read.

The keys are used round-robin, each with its own lock: txs on different keys run concurrently.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["NonceKeeper", "NonceLease"]

FetchNonce = Callable[[int], Awaitable[int]]  # api key index -> the venue's next nonce


@dataclass
class _Key:
    index: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_nonce: int | None = None  # None: read it from the venue before use


@dataclass
class NonceLease:
    """The right to send one tx with `nonce` on key `api_key_index`; say how it went with `accepted`."""

    api_key_index: int
    nonce: int
    _outcome: bool | None = None

    def accepted(self) -> None:
        """The venue took the tx (the nonce is consumed)."""
        self._outcome = True

    def refused(self) -> None:
        """The venue refused the tx (the nonce is not consumed); re-read it before the next tx."""
        self._outcome = False


class NonceKeeper:
    """Hand out nonces for the keys of one account.

    Args:
        keys: the api key indexes to use (round-robin).
        fetch: reads a key's next nonce from the venue.
    """

    def __init__(self, keys: list[int], fetch: FetchNonce):
        if not keys:
            raise ValueError("no API keys")
        self._keys = {index: _Key(index) for index in keys}
        self._order = itertools.cycle(sorted(keys))
        self._fetch = fetch
        self.fetches = 0

    def invalidate(self, api_key_index: int | None = None) -> None:
        """Forget the nonce of one key (or all): it is read from the venue before the next tx."""
        for key in self._keys.values():
            if api_key_index in (None, key.index):
                key.next_nonce = None

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[NonceLease]:
        """Hold the next key's lock and yield its next nonce; sign and send inside the block.

        Without a verdict (an exception, a lost answer) the nonce is treated as unknown and re-read.
        """
        key = self._keys[next(self._order)]
        async with key.lock:
            if key.next_nonce is None:
                self.fetches += 1
                key.next_nonce = await self._fetch(key.index)
            lease = NonceLease(key.index, key.next_nonce)
            try:
                yield lease
            finally:
                if lease._outcome is True:
                    key.next_nonce = lease.nonce + 1
                else:
                    key.next_nonce = None
