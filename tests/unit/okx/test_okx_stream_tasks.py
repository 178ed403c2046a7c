"""`OkxSocket` keeps the tasks it starts (the on_opened hook, a renewal on a service-upgrade notice): a
failed one is logged and counted, and those still running are cancelled when the socket stops."""

from __future__ import annotations

import asyncio
import socket

from gateway.core.clock import TestClock
from gateway.venues.common.retry import Backoff
from gateway.venues.okx.stream import OkxSocket


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _socket() -> OkxSocket:
    return OkxSocket("public", "okx", f"ws://127.0.0.1:{_unused_port()}/ws", lambda frame: None,
                     TestClock(1_700_000_000_000), backoff=Backoff(0.01, 0.05))


async def test_a_failed_task_is_logged_and_counted_not_lost() -> None:
    sock = _socket()

    async def boom() -> None:
        raise RuntimeError("hook failed")

    sock._spawn(boom(), "boom")
    [task] = list(sock._tasks)
    await asyncio.gather(task, return_exceptions=True)
    assert sock.task_failures == 1 and not sock._tasks


async def test_a_service_upgrade_notice_renewal_task_is_kept_until_done() -> None:
    sock = _socket()
    sock._dispatch({"event": "notice", "code": "64008", "msg": "upgrade"})
    tasks = list(sock._tasks)
    assert len(tasks) == 1  # referenced by the socket, not only by the loop
    await asyncio.gather(*tasks)
    assert not sock._tasks and sock.task_failures == 0


async def test_tasks_still_running_are_cancelled_when_the_socket_stops() -> None:
    sock = _socket()  # nothing listens: run() keeps retrying the connect until cancelled
    never = asyncio.Event()
    started = asyncio.Event()

    async def hook() -> None:
        started.set()
        await never.wait()

    runner = asyncio.create_task(sock.run())
    sock._spawn(hook(), "hook")
    [task] = list(sock._tasks)
    await asyncio.wait_for(started.wait(), 5.0)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert task.cancelled() and not sock._tasks
