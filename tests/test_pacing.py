"""Idle polling loops space out their looks and snap back when there is work (issue 21): the event
drain where it has no change stream, and the webhook sender. Embedded engine; the waits are
scaled down so that each test takes well under a second."""

import asyncio
import time

from service.events.drain import LEASE_SECONDS, Drain
from service.events.outbox import wake
from service.events.pacing import IDLE_CEILING, IdlePacing
from service.webhooks import sender as sender_module
from tests.conftest import make_settings


def test_each_empty_look_doubles_the_wait_up_to_the_ceiling_and_work_resets_it():
    pacing = IdlePacing(0.5)
    assert pacing.wait == 0.5
    waits = []
    for _ in range(6):
        pacing.found(False)
        waits.append(pacing.wait)
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]  # 8 intervals at most
    assert IDLE_CEILING == 8
    pacing.found(True)
    assert pacing.wait == 0.5
    capped = IdlePacing(0.5, ceiling=1.5)
    for _ in range(3):
        capped.found(False)
    assert capped.wait == 1.5
    assert IdlePacing(2.0, ceiling=1.0).ceiling == 2.0  # never below the interval itself


async def counted_looks(loop, look_name: str, target, seconds: float) -> int:
    """How many times `target.look_name` ran while `loop` ran for `seconds`."""
    looks = 0
    original = getattr(target, look_name)

    async def counting(*args, **kwargs):
        nonlocal looks
        looks += 1
        return await original(*args, **kwargs)

    setattr(target, look_name, counting)
    task = asyncio.create_task(loop)
    await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return looks


async def test_an_idle_drain_looks_less_and_less_often_and_a_wake_brings_it_back(app):
    drain = Drain({}, poll_seconds=0.01)
    assert drain.pacing.ceiling == 0.08  # 8 intervals, below a third of the lease
    # Without pacing, 0.6 s at 0.01 s is about 60 looks; paced: 0.01 + 0.02 + 0.04 + 0.08 ... .
    looks = await counted_looks(drain.run(), "drain_once", drain, 0.6)
    assert 3 <= looks <= 12, looks
    assert drain.pacing.wait == 0.08
    # A write in this process wakes it: it looks at once, back at its interval.
    waits = []
    found = drain.pacing.found

    def noting(work: bool) -> None:
        found(work)
        waits.append(drain.pacing.wait)

    drain.pacing.found = noting
    task = asyncio.create_task(drain.run())
    await asyncio.sleep(0.3)
    assert waits[-1] == 0.08
    idle = len(waits)
    wake()
    await asyncio.sleep(0.05)
    assert 0.01 in waits[idle:], waits
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def test_the_drains_idle_wait_stays_within_a_third_of_its_lease():
    assert Drain({}, poll_seconds=5).pacing.ceiling == LEASE_SECONDS / 3
    assert Drain({}, poll_seconds=0.5).pacing.ceiling == 4.0


async def test_an_idle_webhook_sender_looks_less_and_less_often(app):
    sender = sender_module.Sender(make_settings(webhook_poll_seconds=0.01))
    stop = asyncio.Event()
    started = time.monotonic()
    looks = await counted_looks(sender.run(stop), "claim", sender, 0.6)
    assert time.monotonic() - started >= 0.6
    assert 3 <= looks <= 12, looks  # unpaced: about 60
