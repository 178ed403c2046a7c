"""``session.logon`` on Binance's WebSocket APIs (fact sheet §1.5): spot ws-api and USD-M ws-fapi.

With an Ed25519 key, one signed ``session.logon`` (``apiKey``, ``timestamp``, ``recvWindow``, signature over
the sorted params: §1.4) binds the connection to the key; later requests then omit ``apiKey`` and
``signature`` but still carry ``timestamp``. HMAC keys cannot log on: they sign every request
(`uses_session_logon` says which applies). A logon lasts as long as its connection, so it is repeated on
every (re)connect, from the connection's ``on_open``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

from gateway.core.errors import VenueUnavailable
from gateway.venues.binance.auth import Ed25519Signer, Signer, sign_ws_params

__all__ = ["logon_request", "session_logon", "uses_session_logon"]


def uses_session_logon(signer: Signer, enabled: bool) -> bool:
    """Return True if requests go unsigned after ``session.logon``: an Ed25519 key and the setting on."""
    return enabled and isinstance(signer, Ed25519Signer)


def logon_request(request_id: str, api_key: str, signer: Signer, timestamp_ms: int,
                  recv_window_ms: int) -> dict[str, Any]:
    """Return the signed ``session.logon`` request. Pure."""
    params: dict[str, object] = {"apiKey": api_key, "timestamp": timestamp_ms, "recvWindow": recv_window_ms}
    return {"id": request_id, "method": "session.logon", "params": sign_ws_params(params, signer)}


async def session_logon(ws: ClientConnection, request: dict[str, Any], venue: str, timeout_s: float,
                        on_other: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Send `request` (from `logon_request`) on `ws` and return its ``result``.

    Frames that are not the answer go to `on_other` (or are dropped: nothing else was asked yet).

    Raises:
        VenueUnavailable: refused (with Binance's code), or no answer within `timeout_s`: the connection
            is renewed and the logon tried again.
    """
    await ws.send(orjson.dumps(request).decode())
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                frame = orjson.loads(await ws.recv())
                if not isinstance(frame, dict) or frame.get("id") != request["id"]:
                    if on_other is not None and isinstance(frame, dict):
                        on_other(frame)
                    continue
                if frame.get("status") == 200:
                    return frame.get("result") or {}
                error = frame.get("error") or {}
                raise VenueUnavailable(f"session.logon refused: {error.get('msg')}", venue=venue,
                                       venue_code=error.get("code"), venue_message=error.get("msg"))
    except TimeoutError as exc:
        raise VenueUnavailable("session.logon: no answer", venue=venue) from exc
