"""A minimal WebSocket client for benchmarks: the cheapest possible receive path.

Parsing frames with a full client library costs more CPU than the server under test spends per frame,
so on a 2-core machine the clients, not the server, would set the measured latency. This client does
the RFC 6455 handshake, sends masked text frames, and hands each unmasked server text frame's payload
to a callback without decoding it. Benchmarks only: no fragmentation, no extensions, no ping replies.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable

__all__ = ["RawClient"]


class RawClient(asyncio.Protocol):
    def __init__(self, on_frame: Callable[[bytes], None]):
        self._on_frame = on_frame
        self._buffer = bytearray()
        self._handshaken = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(cls, host: str, port: int, path: str, on_frame: Callable[[bytes], None]) -> RawClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(on_frame), host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        assert client._transport is not None
        client._transport.write(
            (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        await asyncio.wait_for(client._handshaken, 10)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def send_text(self, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self._transport is not None
        self._transport.write(header + mask + masked)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._handshaken.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._handshaken.set_exception(ConnectionError(bytes(buffer[:end]).decode(errors="replace")))
                return
            del buffer[: end + 4]
            self._handshaken.set_result(None)
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            opcode = buffer[offset] & 0x0F
            length = buffer[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if size - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                start = offset + 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                start = offset + 10
            end = start + length
            if end > size:
                break
            if opcode == 0x1:
                self._on_frame(bytes(buffer[start:end]))
            elif opcode == 0x8:
                self.close()
            offset = end
        if offset:
            del buffer[:offset]
