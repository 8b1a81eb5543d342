"""The live notification stream (Server-Sent Events): sign-in by header or single-use ticket,
delivery within seconds (from this process, and from another by the poll), Last-Event-ID
replay, heartbeats and the per-user bound. Intervals are shortened by settings."""

import asyncio
import json
import signal
import time
from datetime import timedelta

import httpx
import pytest
from bson import ObjectId

from models import Notification, StreamTicket
from models.common import utc_now
from service.config import Settings
from service.engine import collection
from service.notifications.consumer import consume
from tests.conftest import REAL_MONGODB_URL, TEST_SECRET, make_settings
from tests.factories import register
from tests.servers import free_port, running, uvicorn_command
from tests.sse import Stream
from tests.test_notifications import followed, user_id

PATH = "/api/notifications/stream"


@pytest.fixture
def settings() -> Settings:
    """Quick polls and heartbeats, one stream per user."""
    return make_settings(notification_poll_seconds=0.1, notification_heartbeat_seconds=0.3,
                         notification_streams_per_user=2)


async def test_without_credentials_the_stream_answers_401_as_json(app):
    async with Stream(app, PATH) as stream:
        assert stream.status == 401
        assert stream.response_headers["content-type"] == "application/json"
        assert "errors" in stream.json()
    async with Stream(app, PATH, query="ticket=not-a-ticket") as stream:
        assert stream.status == 401 and stream.json() == {
            "errors": {"ticket": ["is invalid, expired or already used"]}}


async def test_a_follow_reaches_a_stream_opened_with_the_authorization_header(app, client):
    alice, bob = await register(client), await register(client)
    async with Stream(app, PATH, headers=alice.headers) as stream:
        assert stream.status == 200
        assert stream.response_headers["content-type"].startswith("text/event-stream")
        await consume(await followed(bob, alice))
        message = await stream.next_event(timeout=3)
    assert message["event"] == "notification"
    listed = (await client.get("/api/notifications", headers=alice.headers)).json()
    assert message["data"] == listed["notifications"][0]  # the list's JSON of it
    assert message["id"] == message["data"]["id"]


async def test_a_notification_another_process_wrote_arrives_by_the_poll(app, client):
    alice, bob = await register(client), await register(client)
    async with Stream(app, PATH, headers=alice.headers) as stream:
        # Written straight to the database: no wake-up in this process, as from another one.
        await collection(Notification).insert_one({
            "_id": ObjectId(), "recipient_id": await user_id(alice), "type": "followed",
            "key": "followed:elsewhere", "actor_id": await user_id(bob), "read": False,
            "created_at": utc_now()})
        message = await stream.next_event(timeout=3)
    assert message["data"]["actor"]["username"] == bob.username


async def test_a_ticket_opens_one_stream_once(app, client):
    alice, bob = await register(client), await register(client)
    issued = await client.post("/api/notifications/stream-ticket", headers=alice.headers)
    assert issued.status_code == 200
    ticket = issued.json()["ticket"]
    assert issued.json()["expiresAt"].endswith("Z") and alice.token not in ticket
    stored = await collection(StreamTicket).find_one({})
    assert stored["_id"] != ticket  # kept hashed
    async with Stream(app, PATH, query=f"ticket={ticket}") as stream:
        assert stream.status == 200
        await consume(await followed(bob, alice))
        assert (await stream.next_event(timeout=3))["data"]["type"] == "followed"
    async with Stream(app, PATH, query=f"ticket={ticket}") as again:
        assert again.status == 401


async def test_an_expired_ticket_opens_nothing(app, client):
    alice = await register(client)
    ticket = (await client.post("/api/notifications/stream-ticket",
                                headers=alice.headers)).json()["ticket"]
    await collection(StreamTicket).update_many(
        {}, {"$set": {"expires_at": utc_now() - timedelta(seconds=1)}})
    async with Stream(app, PATH, query=f"ticket={ticket}") as stream:
        assert stream.status == 401


async def test_last_event_id_replays_what_was_missed_once_then_goes_live(app, client):
    alice = await register(client)
    others = [await register(client) for _ in range(4)]
    await consume(await followed(others[0], alice))
    async with Stream(app, PATH, headers=alice.headers) as stream:
        await consume(await followed(others[1], alice))
        last = await stream.next_event(timeout=3)
    await consume(await followed(others[2], alice))  # missed while disconnected
    await consume(await followed(others[3], alice))
    resumed = {**alice.headers, "Last-Event-ID": last["id"]}
    async with Stream(app, PATH, headers=resumed) as stream:
        replayed = [await stream.next_event(timeout=3) for _ in range(2)]
        assert await stream.nothing_within(0.5)  # nothing twice, nothing from before
    assert [m["data"]["actor"]["username"] for m in replayed] == [o.username for o in others[2:]]
    async with Stream(app, PATH, headers={**alice.headers, "Last-Event-ID": "nope"}) as bad:
        assert bad.status == 422


async def test_a_browser_resumes_with_a_fresh_ticket_and_last_event_id_in_the_query(app, client):
    alice, bob, carol = await register(client), await register(client), await register(client)
    await consume(await followed(bob, alice))
    [first] = (await client.get("/api/notifications", headers=alice.headers)).json()["notifications"]
    await consume(await followed(carol, alice))  # missed
    ticket = (await client.post("/api/notifications/stream-ticket",
                                headers=alice.headers)).json()["ticket"]
    async with Stream(app, PATH, query=f"ticket={ticket}&lastEventId={first['id']}") as stream:
        replayed = await stream.next_event(timeout=3)
        assert await stream.nothing_within(0.3)
    assert replayed["data"]["actor"]["username"] == carol.username


async def test_an_idle_stream_sends_heartbeats(app, client):
    alice = await register(client)
    async with Stream(app, PATH, headers=alice.headers) as stream:
        block = await stream.next_block(timeout=3)
    assert block["comments"] and "data" not in block


async def test_streams_are_bounded_per_user(app, client):
    alice, bob = await register(client), await register(client)
    async with Stream(app, PATH, headers=alice.headers), Stream(app, PATH, headers=alice.headers):
        async with Stream(app, PATH, headers=alice.headers) as third:
            assert third.status == 429 and "stream" in third.json()["errors"]
        async with Stream(app, PATH, headers=bob.headers) as other_user:
            assert other_user.status == 200
    async with Stream(app, PATH, headers=alice.headers) as later:  # the closed ones freed
        assert later.status == 200
    assert app.state.notification_hub.total == 0


async def test_closing_the_hub_ends_open_streams(app, client):
    alice = await register(client)
    async with Stream(app, PATH, headers=alice.headers) as stream:
        app.state.notification_hub.close()
        while not stream.ended:
            await stream._more(3)
    assert app.state.notification_hub.total == 0


async def test_streams_are_bounded_per_process():
    from service.main import create_app
    from tests.conftest import client_for, serving

    settings = make_settings(notification_streams_per_process=1)
    async with serving(create_app(settings)) as app, client_for(app) as client:
        alice, bob = await register(client), await register(client)
        async with Stream(app, PATH, headers=alice.headers) as first:
            assert first.status == 200
            async with Stream(app, PATH, headers=bob.headers) as second:
                assert second.status == 503


async def test_a_stream_outlives_the_request_deadline():
    """Each poll has its own database budget: a stream open longer than
    FOLIO_OPERATION_TIMEOUT_MS still delivers (the embedded engine has no timeouts, so the
    wire tier is where a shared budget would fail)."""
    from service.main import create_app
    from tests.conftest import client_for, serving

    settings = make_settings(operation_timeout_ms=1500, notification_poll_seconds=0.1,
                             notification_heartbeat_seconds=5)
    async with serving(create_app(settings)) as app, client_for(app) as client:
        alice, bob = await register(client), await register(client)
        async with Stream(app, PATH, headers=alice.headers) as stream:
            await asyncio.sleep(2.5)  # polls went on well past the request's 1.5 s
            await collection(Notification).insert_one({
                "_id": ObjectId(), "recipient_id": await user_id(alice), "type": "followed",
                "key": "followed:late", "actor_id": await user_id(bob), "read": False,
                "created_at": utc_now()})
            message = await stream.next_event(timeout=3)
        assert message["data"]["type"] == "followed"


# --- real processes ----------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    return {"FOLIO_JWT_SECRET": TEST_SECRET, "FOLIO_ARGON2_TIME_COST": "1",
            "FOLIO_ARGON2_MEMORY_COST_KIB": "8", "FOLIO_ARGON2_PARALLELISM": "1",
            "FOLIO_NOTIFICATION_POLL_SECONDS": "0.2",
            "FOLIO_NOTIFICATION_HEARTBEAT_SECONDS": "0.5", **extra}


async def _first_lines(response: httpx.Response, wanted: str, seconds: float) -> list[str]:
    """Lines of a streamed answer, up to the first that starts with `wanted`."""
    lines: list[str] = []

    async def read() -> None:
        async for line in response.aiter_lines():
            lines.append(line)
            if line.startswith(wanted):
                return

    await asyncio.wait_for(read(), seconds)
    return lines


@pytest.mark.skipif(REAL_MONGODB_URL is None, reason="needs a database server two processes "
                    "share (the wire tier, or FOLIO_TEST_MONGODB_URL)")
async def test_a_notification_written_by_one_process_reaches_a_stream_held_by_another(
    app, client, settings
):
    alice, bob = await register(client), await register(client)
    port = free_port()
    env = _env(FOLIO_MONGODB_URL=REAL_MONGODB_URL or "", FOLIO_DATABASE=settings.database)
    with running(uvicorn_command("service.main:app", port), port, env):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as other, \
                other.stream("GET", PATH, headers=alice.headers) as response:
            assert response.status_code == 200
            await consume(await followed(bob, alice))  # written by this process
            lines = await _first_lines(response, "data:", 5)
    assert json.loads(lines[-1].removeprefix("data:"))["actor"]["username"] == bob.username
    assert "event: notification" in lines


async def test_sigterm_ends_open_streams_so_the_server_stops_at_once():
    port = free_port()
    command = uvicorn_command("service.main:app", port, "--timeout-graceful-shutdown", "20")
    with running(command, port, _env()) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            alice = await register(http)
            async with http.stream("GET", PATH, headers=alice.headers) as response:
                assert response.status_code == 200
                await _first_lines(response, ":", 5)  # a heartbeat: the stream is open
                started = time.monotonic()
                server.send_signal(signal.SIGTERM)
                await asyncio.to_thread(server.wait, 15)
        assert time.monotonic() - started < 8  # not the 20 s graceful timeout
        assert server.returncode in (0, -signal.SIGTERM)


async def test_open_streams_and_written_notifications_are_in_the_metrics(app, client):
    from service.observability import metrics

    alice, bob = await register(client), await register(client)
    written = metrics.NOTIFICATIONS_WRITTEN.labels("followed")._value.get()
    before = metrics.STREAMS_OPEN._value.get()
    async with Stream(app, PATH, headers=alice.headers):
        assert metrics.STREAMS_OPEN._value.get() == before + 1
        await consume(await followed(bob, alice))
        await consume(await followed(bob, alice))  # a repeat writes nothing
    assert metrics.STREAMS_OPEN._value.get() == before
    assert metrics.NOTIFICATIONS_WRITTEN.labels("followed")._value.get() == written + 1
    exposed = (await client.get("/metrics")).text
    assert "folio_notification_streams_open" in exposed
    assert 'folio_notifications_written_total{type="followed"}' in exposed
