"""Two real API processes (uvicorn subprocesses) on one database server drain the event
outbox as one: each event reaches the registered consumers once, and an event that a dead
process left pending is delivered after it (the wire tier, or a real MongoDB; the embedded
engine lives inside one process, so this skips there)."""

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import httpx
import pytest

from models import Event, Lease
from service.api import EVENT_CONSUMERS
from service.engine import collection, current_engine
from service.events.drain import LEASE
from service.events.outbox import event_document
from service.main import create_app
from tests.conftest import REAL_MONGODB_URL, TEST_SECRET, make_settings, serving
from tests.event_app import DELIVERIES
from tests.factories import PASSWORD
from tests.servers import free_port, running, uvicorn_command

pytestmark = pytest.mark.skipif(
    REAL_MONGODB_URL is None,
    reason="needs a database server both processes share (the wire tier, `bash .ci/wire-tier`, "
    "or FOLIO_TEST_MONGODB_URL); the embedded engine lives inside one process",
)


@contextmanager
def two_processes(database: str) -> Iterator[list[httpx.Client]]:
    """Two `uvicorn tests.event_app:build` processes on one database, a client for each."""
    env = {"FOLIO_DATABASE": database, "FOLIO_JWT_SECRET": TEST_SECRET}
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            port = free_port()
            command = uvicorn_command("tests.event_app:build", port, "--factory")
            stack.enter_context(running(command, port, env))
            clients.append(stack.enter_context(
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)))
        yield clients


async def deliveries(expected: int, seconds: float = 20) -> list[dict]:
    """The test consumer's records once `expected` events have one (or the time is up)."""
    ends = time.monotonic() + seconds
    while True:
        found = await current_engine().database[DELIVERIES].find({}).to_list(None)
        if len(found) >= expected or time.monotonic() > ends:
            return found
        time.sleep(0.2)


async def test_two_api_processes_deliver_each_event_once_and_what_a_dead_one_left():
    settings = make_settings()
    # The database synced as `folio db sync` would (and dropped afterwards) by an app here.
    async with serving(create_app(settings)):
        # A process died after committing an event and while holding the drain's lease.
        left = event_document("profile.followed", actor=None, data={}, refs={})
        await collection(Event).insert_one(left)
        await collection(Lease).insert_one(
            {"_id": LEASE, "until": datetime.now(UTC), "holder": "dead:1"})
        with two_processes(settings.database) as (a, b):
            user = {"username": "jake", "email": "jake@example.com", "password": PASSWORD}
            response = b.post("/api/users", json={"user": user})
            assert response.status_code == 201, response.text
            headers = {"Authorization": f"Token {response.json()['user']['token']}"}
            article = {"title": "One event", "description": "d", "body": "b", "tagList": []}
            assert a.post("/api/articles", json={"article": article},
                          headers=headers).status_code == 201
            found = await deliveries(2)
            time.sleep(1)  # time for a second delivery, if there were one
            found = await current_engine().database[DELIVERIES].find({}).to_list(None)
        events = await collection(Event).find({}).to_list(None)
        assert len(events) == 2
        assert {d["_id"] for d in found} == {e["_id"] for e in events}
        assert [d["calls"] for d in found] == [1, 1]  # once each, by one process
        assert all("pending" not in e and set(e["done"]) == {"test", *EVENT_CONSUMERS}
               for e in events)
