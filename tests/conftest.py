"""Shared test helpers: a real daemon process on loopback ports chosen by the OS."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _logs_to_stderr() -> None:
    """In-process gateways log to stderr, so that stdout holds only what a test prints (e.g. the CLI)."""
    from gateway.logconfig import configure_logging

    configure_logging("info", "console", stream=sys.stderr)


class DaemonProcess:
    """`gateway run` in a child process; its JSON log lines are collected as they come."""

    def __init__(self, config: Path, env: dict[str, str] | None = None):
        self.config = config
        self.lines: list[dict] = []
        self.raw: list[bytes] = []
        self._env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: list[tuple[str, asyncio.Future[dict]]] = []
        self.api_port = 0
        self.http_port = 0
        self.exited = False

    async def start(self, timeout: float = 15.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "run", "--config", str(self.config), "--log-format", "json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=self._env, cwd=ROOT,
        )
        self._reader = asyncio.create_task(self._read())
        started = await self.wait_for_event("gateway.started", timeout)
        self.api_port, self.http_port = started["api_port"], started["http_port"]

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.raw.append(raw)
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            self.lines.append(line)
            for event, future in list(self._waiters):
                if line.get("event") == event and not future.done():
                    future.set_result(line)
        self.exited = True
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(EOFError("the daemon exited"))

    async def wait_for_event(self, event: str, timeout: float = 10.0) -> dict:
        for line in self.lines:
            if line.get("event") == event:
                return line
        if self.exited:
            raise AssertionError(f"the daemon exited before logging {event!r}:\n{self.output()[-4000:]}")
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except EOFError:
            raise AssertionError(f"the daemon exited before logging {event!r}:\n{self.output()[-4000:]}") from None
        except TimeoutError:
            output = b"".join(self.raw).decode(errors="replace")[-4000:]
            raise AssertionError(f"no {event!r} log line within {timeout}s; output:\n{output}") from None

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()

    def output(self) -> str:
        return b"".join(self.raw).decode(errors="replace")


@pytest.fixture
async def daemon_factory(tmp_path: Path) -> AsyncIterator:
    daemons: list[DaemonProcess] = []

    def make(config_text: str, env: dict[str, str] | None = None) -> DaemonProcess:
        path = tmp_path / f"gateway-{len(daemons)}.yaml"
        path.write_text(config_text)
        daemon = DaemonProcess(path, env)
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        await daemon.kill()


async def http_get(port: int, path: str) -> tuple[int, dict]:
    """A tiny HTTP GET over a raw socket, so tests need no client library beyond the stdlib."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, orjson.loads(body) if body else {}


async def wait_ready(port: int, timeout: float = 5.0) -> float:
    """Poll /ready until it answers 200; return the seconds it took. Fails after `timeout`."""
    start = time.monotonic()
    while True:
        status, body = await http_get(port, "/ready")
        if status == 200:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"/ready still {status} after {timeout}s: {body}")
        await asyncio.sleep(0.05)


LOCAL_KEY = "test-strategy-key-1"


def make_settings(**overrides):
    """Settings for an in-process gateway on OS-chosen loopback ports with one all-powerful strategy."""
    from gateway.api.config import ApiSettings, HttpSettings, Permission, StrategySettings
    from gateway.config import Settings
    from gateway.venues.sim.config import SimSettings

    api = overrides.pop("api", None) or ApiSettings(
        port=overrides.pop("api_port", 0),
        strategies=[StrategySettings(name="local", api_key=LOCAL_KEY,
                                     permissions=frozenset(Permission), accounts=None)],
    )
    venues = overrides.pop("venues", None) or {"sim": SimSettings(message_rate=50)}
    return Settings(venues=venues, api=api, http=HttpSettings(port=0), **overrides)


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator:
    """Start in-process gateways; every one still running is stopped at the end of the test."""
    from gateway.app import Gateway

    running: list[Gateway] = []

    async def start(settings=None, **overrides) -> Gateway:
        if settings is None:
            overrides.setdefault("persistence", {"data_dir": str(tmp_path / f"data-{len(running)}")})
            settings = make_settings(**overrides)
        gateway = Gateway(settings)
        await gateway.start()
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        await gateway.stop()
