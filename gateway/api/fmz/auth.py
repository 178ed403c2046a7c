"""FMZ credentials: constant-time key checks and a strictly increasing nonce per access key. Pure.

Every configured key pair is compared on every request (match or not), so the time taken does not tell
which key, or how much of it, was right. Keys are never logged or echoed. A request whose `nonce` is not
greater than the last one accepted for its key is refused, so a captured request cannot be replayed. The
last nonces are kept in memory: they start again from zero when the gateway restarts.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.api.fmz.config import FmzCredential
from gateway.api.session import Principal
from gateway.core.errors import AccessError, ErrorCode

__all__ = ["FmzKeys", "FmzPrincipal"]


@dataclass(frozen=True, slots=True)
class FmzPrincipal:
    """An authenticated FMZ key: the strategy it acts as and its path -> account map."""

    index: int  # position among the configured credentials (the nonce slot)
    principal: Principal
    paths: dict[str, str]


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


class FmzKeys:
    """The configured FMZ credentials, each bound to the principal of the strategy it acts as.

    Args:
        credentials: the `fmz.credentials` settings.
        principals: strategy name -> principal (from the strategies' settings).
    """

    def __init__(self, credentials: Iterable[FmzCredential], principals: dict[str, Principal]):
        self._entries = [
            (_bytes(c.access_key.get_secret_value()), _bytes(c.secret_key.get_secret_value()),
             FmzPrincipal(index, principals[c.strategy], dict(c.paths)))
            for index, c in enumerate(credentials)
        ]
        self._last_nonce: dict[int, int] = {}

    def authenticate(self, access_key: str, secret_key: str) -> FmzPrincipal:
        """Return the key pair's principal.

        Raises:
            AccessError: UNAUTHENTICATED when no configured pair matches both keys.
        """
        access, secret = _bytes(access_key), _bytes(secret_key)
        found = None
        for key, secret_of_key, principal in self._entries:
            # `&` rather than `and`: both compares run for every entry.
            if hmac.compare_digest(access, key) & hmac.compare_digest(secret, secret_of_key):
                found = principal
        if found is None:
            raise AccessError("invalid access_key or secret_key", code=ErrorCode.UNAUTHENTICATED)
        return found

    def use_nonce(self, principal: FmzPrincipal, nonce: int) -> None:
        """Accept `nonce` for the key if it is greater than the last one accepted, and remember it.

        Raises:
            AccessError: UNAUTHENTICATED for a nonce not greater than the last one (a replay, or a
                request that was overtaken by a later one).
        """
        last = self._last_nonce.get(principal.index)
        if last is not None and nonce <= last:
            raise AccessError(
                f"nonce {nonce} is not greater than the last accepted nonce {last}: replayed or out of order",
                code=ErrorCode.UNAUTHENTICATED,
            )
        self._last_nonce[principal.index] = nonce
