"""`ResilientWebSocket` against a real websockets server on loopback."""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection, serve

from gateway.core.enums import ConnectionState
from gateway.venues.common.retry import Backoff
from gateway.venues.common.ws import ResilientWebSocket


async def test_an_on_open_that_fails_with_a_bug_reconnects_instead_of_ending_the_session() -> None:
    async def hello(ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.wait_closed()

    async with serve(hello, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]  # type: ignore[index]
        got: asyncio.Queue[str] = asyncio.Queue()
        opens = 0

        async def on_open(ws: object) -> None:
            nonlocal opens
            opens += 1
            if opens == 1:
                raise ValueError("garbage in the venue's first answer")  # not a VenueUnavailable

        states: list[ConnectionState] = []
        conn = ResilientWebSocket("t", "v", lambda: f"ws://127.0.0.1:{port}/x?listen_key=k", got.put_nowait,
                                  on_open=on_open, on_state=lambda st, reason: states.append(st),
                                  backoff=Backoff(0.01, 0.05), ping_interval_s=None)
        task = asyncio.create_task(conn.run())
        try:
            assert await asyncio.wait_for(got.get(), 5) == "hello"  # the second connection opened and pumps
            assert opens == 2 and ConnectionState.OPEN in states and not task.done()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
