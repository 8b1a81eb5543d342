"""The drain: hands every pending event to every consumer, at least once, and marks it done.

One process at a time drains, under the `events.drain` lease (`leases`, by the server's clock,
renewed while it works; released on shutdown). It runs in every API process (a task of the
lifespan; all but the holder only retry the lease) or as `folio worker`. A pass reads due
pending events in bounded batches on the partial `pending` index, oldest due first, and hands
each to the consumers that have not handled it yet. Progress is per event, in the event itself
(`done`: the consumers that handled it), never a "highest id seen": transactions commit out of
`_id` order. When every consumer is done, `pending` is unset (the event leaves the index);
when one raises, the event records who is done, and is due again after a backoff of its own,
so it never holds up the others; past MAX_ATTEMPTS (about a day) it is given up on.

Nothing lives only in memory: an event committed before a process dies is still pending, and
whichever process holds the lease next delivers it. A consumer may see an event twice (a crash
after it handled the event and before `done` was stored, or a lease that lapsed mid-pass), so
consumers are idempotent. Where the server has change streams (a replica set), the holder
watches inserts into `events` and wakes at once; elsewhere it polls every
FOLIO_EVENT_POLL_SECONDS, and `record` in this process wakes it at once.
"""

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from models.common import utc_now
from models.events import PENDING, Event
from models.leases import Lease
from service.engine import collection, current_engine, supports_transactions, take_lease
from service.events.outbox import register_waker, unregister_waker
from service.events.pacing import IDLE_CEILING, IdlePacing
from service.events.types import Consumer
from service.observability import metrics

log = logging.getLogger("folio.events")

LEASE = "events.drain"
LEASE_SECONDS = 15.0  # a holder that stops renewing is replaced this long after
BATCH = 100  # events read per batch
PASS_BATCHES = 10  # batches per pass, then the backlog is counted and the loop goes round
CONSUMER_SECONDS = 10.0  # a consumer taking longer has failed on that event
MAX_ATTEMPTS = 25  # failed passes of one event before it is given up on (about a day)
BACKOFF_MAX_SECONDS = 3600.0
BACKLOG_CAP = 10_000  # the backlog gauge counts at most this many (a bounded count)
SETTLE_SECONDS = 0.02  # after a wake: let the writer's transaction commit first
STREAM_POLL_SECONDS = 5.0  # with a change stream, still look for due retries this often


def due_filter(now: datetime) -> dict[str, Any]:
    """Pending events due by `now`; equality on `pending`, a range on `due_at`: the `pending`
    index serves it, and its sort."""
    return {**PENDING, "due_at": {"$lte": now}}


def retry_delay(attempts: int) -> float:
    """Seconds before an event that failed `attempts` times is tried again: exponential from
    one second, at most an hour, with jitter so that failures do not retry in step."""
    ceiling = min(BACKOFF_MAX_SECONDS, 2.0 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)


def outcome_update(
    event: dict[str, Any], done: list[str], failures: dict[str, str], now: datetime
) -> dict[str, Any]:
    """The update that records one event's pass: done, retried later, or given up on."""
    if not failures:
        return {"$set": {"done": done, "last_error": None}, "$unset": {"pending": ""}}
    error = "; ".join(f"{name}: {message}" for name, message in sorted(failures.items()))[:2000]
    attempts = event.get("attempts", 0) + 1
    if attempts >= MAX_ATTEMPTS:
        return {"$set": {"done": done, "failed": sorted(failures), "attempts": attempts,
                         "last_error": error}, "$unset": {"pending": ""}}
    due = now + timedelta(seconds=retry_delay(attempts))
    return {"$set": {"done": done, "attempts": attempts, "due_at": due, "last_error": error}}


class Drain:
    """One process's drain: `run` until cancelled, or `drain_once` for one bounded pass."""

    def __init__(self, consumers: Mapping[str, Consumer], *, poll_seconds: float = 0.5,
                 holder: str | None = None) -> None:
        self.consumers = dict(consumers)
        self.poll_seconds = poll_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.held: datetime | None = None  # the lease's end while this process holds it
        self.renewed = 0.0  # time.monotonic() of the last renewal
        self.counted = 0.0  # time.monotonic() of the last backlog count
        self.woken = asyncio.Event()
        self.streaming = False
        # While idle, polls space out up to a third of the lease: the holder still renews it
        # in time (service/events/pacing.py).
        self.pacing = IdlePacing(poll_seconds, min(poll_seconds * IDLE_CEILING, LEASE_SECONDS / 3))

    async def hold(self) -> bool:
        """Take or renew the lease; whether this process holds it now."""
        found = await take_lease(Lease, {"_id": LEASE}, "until", LEASE_SECONDS, self.held)
        if found is None:
            try:  # the first drain anywhere: the lease's document does not exist yet
                await collection(Lease).insert_one({"_id": LEASE, "until": None})
            except DuplicateKeyError:
                pass
            else:
                found = await take_lease(Lease, {"_id": LEASE}, "until", LEASE_SECONDS)
        if found is None:
            self.held = None
            return False
        if self.held is None:
            await collection(Lease).update_one({"_id": LEASE}, {"$set": {"holder": self.holder}})
            log.info("this process (%s) drains the event outbox", self.holder)
        self.held, self.renewed = found["until"], time.monotonic()
        return True

    async def release(self) -> None:
        """Give the lease up (on shutdown), so another process takes over at once."""
        if self.held is not None:
            await collection(Lease).update_one({"_id": LEASE, "until": self.held},
                                               {"$set": {"until": None, "holder": None}})
            self.held = None

    async def drain_once(self) -> int:
        """One bounded pass, if this process holds (or takes) the lease: how many events it
        handed on (each to every consumer not done with it)."""
        # The lease is renewed a third of its time before it would lapse, not on every poll:
        # an idle holder writes it every 5 s, not twice a second.
        if self.held is None or time.monotonic() - self.renewed > LEASE_SECONDS / 3:
            if not await self.hold():
                return 0
        handled = 0
        for _ in range(PASS_BATCHES):
            now = utc_now()
            batch = await collection(Event).find(due_filter(now)).sort("due_at", 1).limit(
                BATCH).to_list(BATCH)
            for event in batch:
                if time.monotonic() - self.renewed > LEASE_SECONDS / 3 and not await self.hold():
                    return handled  # another process took over: it resumes from the events
                await self.handle(event)
                handled += 1
            if len(batch) < BATCH:
                break
        if handled or time.monotonic() - self.counted > STREAM_POLL_SECONDS:
            await self.count_backlog()
        return handled

    async def handle(self, event: dict[str, Any]) -> None:
        """Hand one event to each consumer not done with it, then store the outcome."""
        done = list(event.get("done") or [])
        failures: dict[str, str] = {}
        for name, consume in self.consumers.items():
            if name in done:
                continue
            try:
                await asyncio.wait_for(consume(event), CONSUMER_SECONDS)
            except Exception as error:  # a consumer's failure is the event's retry, not ours
                failures[name] = f"{type(error).__name__}: {error}"
                metrics.event_failed(name)
                log.warning("event consumer %s failed on %s %s: %s", name, event["type"],
                            event["_id"], failures[name])
            else:
                done.append(name)
        update = outcome_update(event, done, failures, utc_now())
        await collection(Event).update_one({"_id": event["_id"]}, update)
        if "pending" in update.get("$unset", {}):
            metrics.event_handled("abandoned" if failures else "done")
            if failures:
                log.error("event %s %s given up after %d attempts: %s", event["type"],
                          event["_id"], MAX_ATTEMPTS, update["$set"]["last_error"])

    async def count_backlog(self) -> int:
        """Count the pending events (at most BACKLOG_CAP, on the `pending` index) for the gauge."""
        pending = await collection(Event).count_documents(PENDING, limit=BACKLOG_CAP)
        metrics.event_backlog(pending)
        self.counted = time.monotonic()
        return pending

    async def watch(self) -> None:
        """Wake on every insert into `events` (a change stream), until cancelled or it fails."""
        try:
            pipeline = [{"$match": {"operationType": "insert"}}]
            async with collection(Event).watch(pipeline) as stream:
                self.streaming = True
                async for _ in stream:
                    self.woken.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # no change streams after all: polling goes on
            log.warning("no change stream on events (%s); polling every %g s", error,
                        self.poll_seconds)
        finally:
            self.streaming = False

    async def run(self) -> None:
        """Drain until cancelled: a pass, then wait for a wake (a change, a local write) or
        the poll interval; a process without the lease only retries it now and then."""
        register_waker(self.woken)
        streams = await supports_transactions(current_engine())  # a replica set: change streams
        watcher: asyncio.Task[None] | None = None
        try:
            while True:
                handled = 0
                try:
                    handled = await self.drain_once()
                except Exception:
                    log.exception("draining events failed; retried in %g s", self.poll_seconds)
                if self.held is not None and streams and watcher is None:
                    watcher = asyncio.create_task(self.watch())
                if handled >= BATCH * PASS_BATCHES:
                    continue  # more are due: no pause
                if self.held is None:  # another process drains: only retry its lease
                    await asyncio.sleep(LEASE_SECONDS / 3)
                    continue
                self.pacing.found(handled > 0)
                wait = STREAM_POLL_SECONDS if self.streaming else self.pacing.wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.woken.wait(), wait)
                    await asyncio.sleep(SETTLE_SECONDS)
                    self.pacing.found(True)  # a write here or a change: look promptly again
                self.woken.clear()
        finally:
            unregister_waker(self.woken)
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.release(), 2)
