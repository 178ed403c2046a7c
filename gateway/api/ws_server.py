"""The strategy WebSocket server: transport only. Protocol, sessions and methods live beside it.

Per connection there are two coroutines: the reader (frame -> rate limit -> decode -> method table ->
response queued) and the writer (drains the connection's `OutboundQueue` into the socket). Responses and
pushes share that queue, so a slow venue call holds back only that connection's later requests, never
its pushes. Handlers of one connection run one at a time, in arrival order.

Close codes:
    1001 going away        the server is closing (`close()` / leaving the context)
    1003 unsupported data  a binary frame
    1008 policy violation  beyond the per-connection rate limit (reason "rate limit")
    1009 message too big   a frame above `max_frame_bytes` (websockets' `max_size` enforces it)
    1013 try again later   slow consumer: too many order events / responses could not be sent

HTTP on the handshake: 404 for any path but `settings.path`; 401 for a wrong `X-API-KEY` header (a right
one authenticates the session before its first request).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Self

import structlog
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.protocol import State

from gateway.api.config import ApiSettings
from gateway.api.methods import ApiServices, MethodTable, market_methods, release_subscriptions
from gateway.api.protocol import (
    RequestDecodeError,
    RequestId,
    decode_request,
    encode_error,
    encode_exception,
    encode_result,
)
from gateway.api.session import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNSUPPORTED_DATA,
    OutboundQueue,
    Principal,
    Session,
    TokenBucket,
)
from gateway.core.bus import StreamBus
from gateway.core.clock import Clock
from gateway.core.admission import admission_signal
from gateway.core.errors import ErrorCode, GatewayError
from gateway.market.service import MarketService
from gateway.venues.registry import VenueDirectory

__all__ = ["SessionInfo", "StrategyServer"]

log = structlog.get_logger("gateway.api.ws")

API_KEY_HEADER = "X-API-KEY"
WRITE_BUFFER_HIGH = 1 << 16  # bytes buffered in the transport before the writer waits for it to drain


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One live session as the status view shows it."""

    strategy: str | None  # None before auth
    remote: str  # host:port of the peer
    connected_ms: int  # epoch ms
    subscriptions: int  # streams held


class StrategyServer:
    """The strategy WebSocket at `ws://{host}:{port}{path}`; an async context manager.

    Args:
        settings: the API settings (address, limits, keys).
        directory: the configured venues.
        market: the market service (snapshot methods, stream pushes).
        bus: the stream bus subscriptions are made on.
        clock: the gateway clock.
        methods: the method table; `market_methods()` when not given. Register further methods on it
            (or on `server.methods`) before clients call them.
        extensions: further services for handlers by type, e.g. `{OrderService: orders}`; handlers read
            them with `ctx.service(OrderService)`.
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        directory: VenueDirectory,
        market: MarketService,
        bus: StreamBus,
        clock: Clock,
        methods: MethodTable | None = None,
        extensions: Mapping[type, object] | None = None,
    ):
        self._settings = settings
        self.services = ApiServices(settings, directory, market, bus, clock, extensions)
        self._methods = methods if methods is not None else market_methods()
        self._server: Server | None = None
        self._sessions: dict[ServerConnection, Session] = {}
        self._dropped_by_closed = 0  # market frames conflated away on sessions that have since closed
        self._port: int | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The bound port (useful when settings ask for port 0)."""
        if self._port is None:
            raise RuntimeError("the server is not listening")
        return self._port

    @property
    def methods(self) -> MethodTable:
        return self._methods

    async def start(self) -> None:
        """Start listening on the configured host, port and path."""
        settings = self._settings
        self._server = await serve(
            self._serve_connection,
            settings.host,
            settings.port,
            process_request=self._check_handshake,
            max_size=settings.max_frame_bytes,
            compression=None,  # latency and CPU over bandwidth on a local socket
            close_timeout=settings.close_timeout_s,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("server.listening", host=settings.host, port=self._port, path=settings.path)

    async def close(self, code: int = 1001, reason: str = "going away") -> None:
        """Stop accepting connections and close every session with `code`, within `close_timeout_s`.

        Idempotent.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=True, code=code, reason=reason)
        try:
            async with asyncio.timeout(self._settings.close_timeout_s):
                await server.wait_closed()
        except TimeoutError:
            log.warning("server.close_timeout", sessions=len(self._sessions))
            for connection in list(self._sessions):
                connection.transport.abort()
            await server.wait_closed()
        log.info("server.closed")

    def session_count(self) -> int:
        return len(self._sessions)

    def dropped_frames(self) -> int:
        """Return the market-data frames conflated away so far, on every session ever opened."""
        return self._dropped_by_closed + sum(s.outbound.dropped for s in self._sessions.values())

    def sessions(self) -> list[SessionInfo]:
        """Describe every live session: strategy (None before auth), peer, connect time, streams held."""
        return [
            SessionInfo(s.strategy, s.remote, s.connected_ms, len(s.subscriptions))
            for s in self._sessions.values()
        ]

    def sessions_of(self, strategy: str) -> list[Session]:
        """Return the live sessions of one strategy (for status and tests)."""
        return [s for s in self._sessions.values() if s.strategy == strategy]

    # --- handshake ------------------------------------------------------------------------------------

    def _check_handshake(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        if request.path.partition("?")[0] != self._settings.path:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        key = request.headers.get(API_KEY_HEADER)
        if key is not None and self.services.keys.authenticate(key) is None:
            log.warning("auth.failed", remote=_address(connection.remote_address), via="header")
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid api key\n")
        return None

    def _principal_from_headers(self, headers: Headers) -> Principal | None:
        key = headers.get(API_KEY_HEADER)
        return self.services.keys.authenticate(key) if key is not None else None

    # --- one connection -------------------------------------------------------------------------------

    async def _serve_connection(self, connection: ServerConnection) -> None:
        settings, services = self._settings, self.services
        clock = services.clock
        wakeup = asyncio.Event()
        session = Session(
            connection_id=str(connection.id)[:8],
            remote=_address(connection.remote_address),
            connected_ms=clock.now_ms(),
            outbound=OutboundQueue(settings.max_queue, settings.max_pending_user_frames, wakeup.set),
            limiter=TokenBucket(settings.rate_limit_per_s, now=clock.monotonic()),
        )
        session.principal = self._principal_from_headers(connection.request.headers)  # type: ignore[union-attr]
        self._sessions[connection] = session
        log.info(
            "session.opened",
            connection=session.connection_id,
            remote=session.remote,
            strategy=session.strategy,
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                writer = tasks.create_task(
                    self._write(connection, session, wakeup), name=f"ws-writer-{session.connection_id}"
                )
                try:
                    await self._read(connection, session)
                finally:
                    writer.cancel()
        finally:
            release_subscriptions(session, services.bus)
            del self._sessions[connection]
            self._dropped_by_closed += session.outbound.dropped
            log.info(
                "session.closed",
                connection=session.connection_id,
                strategy=session.strategy,
                code=connection.close_code,
                reason=connection.close_reason,
                dropped=session.outbound.dropped,
                duration_ms=clock.now_ms() - session.connected_ms,
            )

    async def _read(self, connection: ServerConnection, session: Session) -> None:
        # Requests run concurrently (a strategy may pipeline), at most `max_inflight` at once, and each
        # is admitted in arrival order before the next one starts (see `gateway.core.admission`).
        monotonic = self.services.clock.monotonic
        allow = session.limiter.allow
        slots = asyncio.Semaphore(self._settings.max_inflight)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                message = await connection.recv()
                if not isinstance(message, str):
                    await _close_for_abuse(
                        connection, CLOSE_UNSUPPORTED_DATA, "binary frames are not supported"
                    )
                    return
                if not allow(monotonic()):
                    log.warning(
                        "session.rate_limited", connection=session.connection_id, strategy=session.strategy
                    )
                    await _close_for_abuse(connection, CLOSE_POLICY_VIOLATION, "rate limit")
                    return
                await slots.acquire()
                admitted = asyncio.Event()
                context = contextvars.copy_context()
                context.run(admission_signal.set, admitted.set)
                task = asyncio.create_task(self._respond(session, message), context=context)
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: slots.release())
                if not task.done():
                    admission = asyncio.ensure_future(admitted.wait())
                    await asyncio.wait((admission, task), return_when=asyncio.FIRST_COMPLETED)
                    admission.cancel()
        except ConnectionClosed:
            return
        finally:
            for task in running:
                task.cancel()

    async def _respond(self, session: Session, text: str) -> None:
        request_id: RequestId = None
        method = None
        try:
            request = decode_request(text)
            request_id, method = request.id, request.method
            frame = encode_result(request_id, await self._methods.handle(session, self.services, request))
        except RequestDecodeError as exc:
            frame = encode_exception(exc.request_id, exc)
        except GatewayError as exc:
            frame = encode_exception(request_id, exc)
        except Exception:
            log.exception(
                "request.failed", connection=session.connection_id, strategy=session.strategy, method=method
            )
            frame = encode_error(request_id, ErrorCode.INTERNAL, "internal error")
        session.outbound.put(frame)

    async def _write(self, connection: ServerConnection, session: Session, wakeup: asyncio.Event) -> None:
        outbound = session.outbound
        pop = outbound.pop
        transport = connection.transport

        def direct(frame: bytes) -> bool:
            # Hot path: broadcast() writes at once with no per-frame coroutine machinery; it does no
            # flow control, so it is used only while the transport's buffer is low.
            if connection.state is not State.OPEN or transport.get_write_buffer_size() >= WRITE_BUFFER_HIGH:
                return False
            broadcast((connection,), frame, text=True)
            return True

        outbound.direct = direct
        try:
            while True:
                frame = pop()
                if frame is None:
                    if outbound.close_code is not None:
                        break
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                if outbound.close_code is not None or connection.state is not State.OPEN:
                    break
                if not direct(frame):
                    outbound.in_flight = True
                    try:
                        await connection.send(frame, text=True)  # waits for the buffer to drain
                    finally:
                        outbound.in_flight = False
            if outbound.close_code == CLOSE_TRY_AGAIN_LATER:
                log.warning(
                    "session.slow_consumer",
                    connection=session.connection_id,
                    strategy=session.strategy,
                    pending=len(outbound),
                    dropped=outbound.dropped,
                )
            if outbound.close_code is not None:
                await connection.close(outbound.close_code, outbound.close_reason)
        except ConnectionClosed:
            return
        finally:
            outbound.direct = None


async def _close_for_abuse(connection: ServerConnection, code: int, reason: str) -> None:
    # Keep reading (and discarding) during the closing handshake: websockets stops reading the socket
    # while its incoming queue is full, which would hide the peer's close frame until the close timeout.
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(connection.close(code, reason))
        try:
            while True:
                await connection.recv()
        except ConnectionClosed:
            pass


def _address(remote: object) -> str:
    if isinstance(remote, tuple) and len(remote) >= 2:
        return f"{remote[0]}:{remote[1]}"
    return str(remote)
