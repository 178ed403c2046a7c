import asyncio
import random

from gateway.supervisor import Health, Supervisor


async def test_a_crashing_loop_is_restarted_and_marked_unhealthy() -> None:
    health = Health()
    supervisor = Supervisor(health, base_delay_s=0.001, max_delay_s=0.002, unhealthy_after=3, window_s=60)
    runs = 0
    stayed_up = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError(f"boom {runs}")
        stayed_up.set()
        await asyncio.Event().wait()

    supervisor.spawn("flaky", flaky)
    await asyncio.wait_for(stayed_up.wait(), 5)
    assert runs == 4
    assert supervisor.restarts["flaky"] == 3
    assert "flaky" in health.problems and not health.is_healthy
    await supervisor.close()
    assert supervisor.names() == []


async def test_a_loop_that_returns_is_not_restarted() -> None:
    supervisor = Supervisor(Health())

    async def once() -> None:
        await asyncio.sleep(0)

    task = supervisor.spawn("once", once)
    await asyncio.wait_for(task, 5)
    assert supervisor.restarts == {}


def test_backoff_grows_and_is_capped_with_jitter() -> None:
    supervisor = Supervisor(Health(), base_delay_s=1, max_delay_s=8, rng=random.Random(1))
    for attempt, cap in [(1, 1), (2, 2), (3, 4), (4, 8), (10, 8)]:
        delays = [supervisor.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8
