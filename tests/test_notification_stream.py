"""The live notification stream (Server-Sent Events): sign-in by header or single-use ticket,
delivery within seconds (from this process, and from another by the poll), Last-Event-ID
replay, heartbeats and the per-user bound. Intervals are shortened by settings."""

from datetime import timedelta

import pytest
from bson import ObjectId

from models import Notification, StreamTicket
from models.common import utc_now
from service.config import Settings
from service.engine import collection
from service.notifications.consumer import consume
from tests.conftest import make_settings
from tests.factories import register
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
    from tests.conftest import client_for, serving
    from service.main import create_app

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
    import asyncio

    from tests.conftest import client_for, serving
    from service.main import create_app

    settings = make_settings(operation_timeout_ms=300, notification_poll_seconds=0.1,
                             notification_heartbeat_seconds=5)
    async with serving(create_app(settings)) as app, client_for(app) as client:
        alice, bob = await register(client), await register(client)
        async with Stream(app, PATH, headers=alice.headers) as stream:
            await asyncio.sleep(0.8)  # polls went on well past the request's 300 ms
            await collection(Notification).insert_one({
                "_id": ObjectId(), "recipient_id": await user_id(alice), "type": "followed",
                "key": "followed:late", "actor_id": await user_id(bob), "read": False,
                "created_at": utc_now()})
            message = await stream.next_event(timeout=3)
        assert message["data"]["type"] == "followed"
