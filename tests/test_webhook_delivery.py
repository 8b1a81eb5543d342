"""Sending webhooks: Standard Webhooks signatures, retries, the delivery log, redelivery,
disabling, request-forgery checks at connect time, and one send across racing senders.

A receiver on 127.0.0.1 (tests/webhook_receiver.py) answers; events are handed to the consumer
directly, as the drain does. Every expectation holds on every engine.
"""

import asyncio
import json
from datetime import timedelta

import pytest
import standardwebhooks
from bson import ObjectId

from models import Event, ModerationEntry, Webhook, WebhookDelivery
from models.common import utc_now
from service.config import Settings
from service.engine import collection
from service.main import create_app
from service.webhooks import addresses, sender
from service.webhooks.consumer import consume
from service.webhooks.sender import Sender
from tests import oplog
from tests.conftest import client_for, make_settings, serving
from tests.factories import register
from tests.index_coverage import problems
from tests.webhook_receiver import Receiver, deliveries, eventually

ADMIN = "root"
DELAYS = [0.05, 0.1, 0.1]  # four attempts, quickly


@pytest.fixture
def settings() -> Settings:
    """Private addresses allowed (the receiver is local), short retry delays."""
    return make_settings(admins=[ADMIN], webhook_allow_private=True, webhook_poll_seconds=0.2,
                         webhook_retry_delays=DELAYS, webhook_timeout_seconds=2)


@pytest.fixture
async def quiet_client():
    """A client of an app whose own sender polls only every 60 s (and is woken by nothing in
    these tests), so that only the senders a test makes take part in its race."""
    settings = make_settings(admins=[ADMIN], webhook_allow_private=True,
                             webhook_retry_delays=DELAYS, webhook_timeout_seconds=2)
    async with serving(create_app(settings)) as app, client_for(app) as client:
        yield client


def event(kind: str = "article.published") -> dict:
    """An event document as the outbox stores it."""
    return {"_id": ObjectId(), "type": kind, "at": utc_now(), "actor": None,
            "data": {"article": {"slug": "a-title", "title": "A title", "createdAt": utc_now()}},
            "refs": {}}


async def hook_for(client, admin, url: str, events=("article.published",)) -> dict:
    """Create a webhook; its creation answer (with the secret)."""
    created = await client.post("/api/webhooks", headers=admin.headers,
                                json={"webhook": {"url": url, "events": list(events)}})
    assert created.status_code == 201, created.text
    return created.json()["webhook"]


async def settled(client, admin, hook: dict, status: str, count: int = 1) -> list[dict]:
    """Wait until `count` deliveries of the webhook have `status`; the log."""
    async def check():
        log = await deliveries(client, admin.headers, hook["id"])
        return log if sum(d["status"] == status for d in log) >= count else None
    return await eventually(check)


async def test_a_delivery_is_retried_under_one_webhook_id_and_signed_per_the_standard(client):
    admin = await register(client, ADMIN)
    async with Receiver(fail_first=2) as receiver:
        hook = await hook_for(client, admin, receiver.url)
        published = event()
        await consume(published)
        [delivery] = await settled(client, admin, hook, "delivered")
    assert len(receiver.requests) == 3
    assert {headers["webhook-id"] for headers, _ in receiver.requests} == {f"msg_{delivery['id']}"}
    verifier = standardwebhooks.Webhook(hook["secret"])
    for headers, body in receiver.requests:
        payload = verifier.verify(body, headers)
        assert payload["type"] == "article.published"
        assert payload["data"]["article"]["slug"] == "a-title"
        assert payload["timestamp"].endswith("Z")
        assert headers["content-type"] == "application/json"
    assert delivery["attempts"] == 3 and delivery["eventId"] == str(published["_id"])
    assert [a["responseStatus"] for a in delivery["history"]] == [500, 500, 200]
    assert delivery["lastResponseStatus"] == 200 and delivery["lastError"] is None
    assert delivery["nextAttemptAt"] is None


async def test_a_signature_with_another_secret_does_not_verify(client):
    admin = await register(client, ADMIN)
    async with Receiver() as receiver:
        await hook_for(client, admin, receiver.url)
        await consume(event())
        await eventually(lambda: asyncio.sleep(0, result=receiver.requests))
    headers, body = receiver.requests[0]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook("whsec_" + "QUJD" * 8).verify(body, headers)


async def test_after_the_last_attempt_a_delivery_fails_and_redeliver_sends_it_again(client):
    admin = await register(client, ADMIN)
    async with Receiver(fail_first=len(DELAYS) + 1, failure=503) as receiver:
        hook = await hook_for(client, admin, receiver.url)
        await consume(event())
        [failed] = await settled(client, admin, hook, "failed")
        assert failed["attempts"] == len(DELAYS) + 1 == len(receiver.requests)
        assert failed["lastResponseStatus"] == 503 and failed["lastError"] == "HTTP 503"
        again = await client.post(
            f"/api/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver", headers=admin.headers)
        assert again.status_code == 202, again.text
        assert again.json()["delivery"]["status"] == "pending"
        [delivered] = await settled(client, admin, hook, "delivered")
    assert delivered["attempts"] == len(DELAYS) + 2
    assert delivered["history"][-1]["round"] == 2
    assert {h["webhook-id"] for h, _ in receiver.requests} == {f"msg_{failed['id']}"}

    await collection(WebhookDelivery).update_one({}, {"$set": {"status": "pending"}})
    pending = await client.post(  # a pending delivery is sent when due: no second round
        f"/api/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver", headers=admin.headers)
    assert pending.status_code == 409


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(client):
    admin = await register(client, ADMIN)
    async with Receiver(fail_first=1, failure=307,
                        extra="location: http://127.0.0.1:9/elsewhere\r\n") as receiver:
        hook = await hook_for(client, admin, receiver.url)
        await consume(event())
        [delivery] = await settled(client, admin, hook, "delivered")
    assert [a["responseStatus"] for a in delivery["history"]] == [307, 200]
    assert "redirect" in delivery["history"][0]["error"]


async def test_a_disabled_webhook_stays_silent(client):
    admin = await register(client, ADMIN)
    async with Receiver() as receiver:
        hook = await hook_for(client, admin, receiver.url)
        # A delivery queued before the webhook was disabled is not sent either.
        queued = event()
        off = await client.put(f"/api/webhooks/{hook['id']}", headers=admin.headers,
                               json={"webhook": {"enabled": False}})
        assert off.status_code == 200
        await consume(event())  # after: nothing is queued
        await collection(WebhookDelivery).insert_one(WebhookDelivery(
            webhook_id=ObjectId(hook["id"]), event_id=queued["_id"], event=queued["type"],
            event_at=queued["at"], body="{}").model_dump(exclude={"id"}))
        [stale] = await settled(client, admin, hook, "failed")
        await asyncio.sleep(0.3)
    assert receiver.requests == []
    assert stale["lastError"].startswith("webhook disabled")


async def test_a_webhook_failing_for_a_day_is_disabled_and_the_moderation_log_says_so(
    client, monkeypatch
):
    admin = await register(client, ADMIN)
    async with Receiver(fail_first=100) as receiver:
        hook = await hook_for(client, admin, receiver.url)
        await consume(event())
        await eventually(lambda: asyncio.sleep(0, result=receiver.requests))
        stored = await eventually(lambda: collection(Webhook).find_one(
            {"_id": ObjectId(hook["id"]), "failing_since": {"$ne": None}}))
        assert stored["enabled"] is True  # failing, but not for a day yet
        later = utc_now() + timedelta(hours=25)
        monkeypatch.setattr(sender, "utc_now", lambda: later)  # the sender's clock: a day on
        disabled = await eventually(lambda: collection(Webhook).find_one(
            {"_id": ObjectId(hook["id"]), "enabled": False}))
    assert disabled["disabled_reason"] == "every attempt failed for 24 hours"
    log = (await client.get("/api/moderation/log", headers=admin.headers)).json()["entries"]
    assert [(e["action"], e["targetType"], e["target"]) for e in log] == [
        ("webhook_disabled", "webhook", hook["id"])]
    assert await collection(ModerationEntry).count_documents({}) == 1
    # Announced too, once: the switch, its log entry and its event commit together.
    announced = await collection(Event).find({"type": "moderation.webhook_disabled"}).to_list(None)
    assert [e["data"]["webhook"] for e in announced] == [{"id": hook["id"], "url": hook["url"]}]
    answer = (await client.get(f"/api/webhooks/{hook['id']}", headers=admin.headers)).json()
    assert answer["webhook"]["enabled"] is False and answer["webhook"]["disabledReason"]


async def test_a_success_ends_the_failure_streak(client):
    admin = await register(client, ADMIN)
    async with Receiver(fail_first=1) as receiver:
        hook = await hook_for(client, admin, receiver.url)
        await consume(event())
        await settled(client, admin, hook, "delivered")
    stored = await collection(Webhook).find_one({"_id": ObjectId(hook["id"])})
    assert stored["failing_since"] is None and stored["enabled"] is True


async def test_a_host_rebound_to_loopback_after_creation_is_never_connected(monkeypatch):
    settings = make_settings(admins=[ADMIN], webhook_retry_delays=[0.05])
    answers = {"now": "93.184.216.34"}

    async def resolver(host: str, port: int) -> list[str]:
        assert host == "rebind.example.com"
        return [answers["now"]]

    monkeypatch.setattr(addresses, "resolve", resolver)
    async with Receiver() as receiver, serving(create_app(settings)) as app, \
            client_for(app) as client:
        admin = await register(client, ADMIN)
        hook = await hook_for(client, admin, f"http://rebind.example.com:{receiver.port}/hook")
        answers["now"] = "127.0.0.1"  # the DNS answer changes after the check
        await consume(event())
        [failed] = await settled(client, admin, hook, "failed")
    assert receiver.requests == []
    assert failed["attempts"] == 2
    assert "internal address 127.0.0.1" in failed["lastError"]
    assert failed["lastResponseStatus"] is None


async def test_racing_senders_claim_a_delivery_once_and_send_it_once(quiet_client, settings):
    client = quiet_client
    admin = await register(client, ADMIN)
    async with Receiver() as receiver:
        hook = await hook_for(client, admin, receiver.url)
        await collection(Webhook).update_one({"_id": ObjectId(hook["id"])},
                                             {"$set": {"enabled": False}})
        # Queued while disabled, so that only the senders below take part.
        published = event()
        await collection(WebhookDelivery).insert_one(WebhookDelivery(
            webhook_id=ObjectId(hook["id"]), event_id=published["_id"], event=published["type"],
            event_at=published["at"], body=json.dumps({"type": "article.published"}),
            next_attempt_at=utc_now() + timedelta(days=1)).model_dump(exclude={"id"}))
        senders = [Sender(settings) for _ in range(4)]
        assert [await s.claim() for s in senders] == [None] * 4  # not due yet
        await collection(WebhookDelivery).update_one({}, {"$set": {"next_attempt_at": utc_now()}})
        await collection(Webhook).update_one({}, {"$set": {"enabled": True}})
        claims = await asyncio.gather(*(s.claim() for s in senders))
        assert sum(claim is not None for claim in claims) == 1
        # A claim lapses only after the attempt's time limit: the others see nothing due.
        assert await asyncio.gather(*(s.claim() for s in senders)) == [None] * 4
        winner, claim = next((s, c) for s, c in zip(senders, claims, strict=True) if c)
        await winner.attempt(claim)
        for each in senders:
            await each.close()
    assert len(receiver.requests) == 1
    stored = await collection(WebhookDelivery).find_one({})
    assert stored["status"] == "delivered" and stored["attempt_count"] == 1


async def test_two_running_senders_deliver_each_event_once(client, settings):
    admin = await register(client, ADMIN)
    stop = asyncio.Event()
    async with Receiver() as receiver:
        hook = await hook_for(client, admin, receiver.url)
        extra = [asyncio.create_task(sender.run_sender(stop, settings)) for _ in range(2)]
        for _ in range(10):
            await consume(event())
        await settled(client, admin, hook, "delivered", count=10)
        stop.set()
        await asyncio.gather(*extra)
    assert len(receiver.requests) == 10
    assert len({h["webhook-id"] for h, _ in receiver.requests}) == 10


async def test_every_webhook_operation_is_served_by_a_declared_index(client):
    admin = await register(client, ADMIN)
    with oplog.recording() as log:
        async with Receiver(fail_first=1) as receiver:
            hook = await hook_for(client, admin, receiver.url)
            await client.get("/api/webhooks", headers=admin.headers)
            await client.get(f"/api/webhooks/{hook['id']}", headers=admin.headers)
            for _ in range(2):
                await consume(event())
            page = await settled(client, admin, hook, "delivered", count=2)
            path = f"/api/webhooks/{hook['id']}/deliveries"
            first = (await client.get(path, params={"limit": 1}, headers=admin.headers)).json()
            await client.get(path, params={"limit": 1, "cursor": first["nextCursor"]},
                             headers=admin.headers)
            await client.post(f"{path}/{page[0]['id']}/redeliver", headers=admin.headers)
            await client.put(f"/api/webhooks/{hook['id']}", headers=admin.headers,
                             json={"webhook": {"enabled": False, "rotateSecret": True}})
            await client.delete(f"/api/webhooks/{hook['id']}", headers=admin.headers)
            await Sender(make_settings()).note_failure(
                {"_id": ObjectId(hook["id"]), "url": receiver.url})
    webhook_operations = [op for op in log.details if op.collection.startswith("webhook")]
    assert {op.collection for op in webhook_operations} == {"webhooks", "webhook_deliveries"}
    assert [problem for op in webhook_operations for problem in problems(op)] == []


async def test_a_claim_left_by_a_stopped_sender_lapses_and_another_sends_it(
    quiet_client, settings, monkeypatch
):
    client = quiet_client
    admin = await register(client, ADMIN)
    async with Receiver() as receiver:
        hook = await hook_for(client, admin, receiver.url)
        await collection(Webhook).update_one({}, {"$set": {"enabled": False}})
        published = event()
        await collection(WebhookDelivery).insert_one(WebhookDelivery(
            webhook_id=ObjectId(hook["id"]), event_id=published["_id"], event=published["type"],
            event_at=published["at"], body="{}", next_attempt_at=utc_now() + timedelta(days=1),
        ).model_dump(exclude={"id"}))
        await collection(WebhookDelivery).update_one({}, {"$set": {"next_attempt_at": utc_now()}})
        stopped, survivor = Sender(settings), Sender(settings)
        claim = await stopped.claim()  # ... and the process stops before the attempt
        assert claim is not None and await survivor.claim() is None
        await collection(Webhook).update_one({}, {"$set": {"enabled": True}})
        later = utc_now() + timedelta(seconds=settings.webhook_timeout_seconds + 31)
        monkeypatch.setattr(sender, "utc_now", lambda: later)
        again = await survivor.claim()
        assert again is not None and again["_id"] == claim["_id"]
        await survivor.attempt(again)
        await stopped.record(claim, 200, None)  # a late write under the lapsed lease: ignored
        for each in (stopped, survivor):
            await each.close()
    assert len(receiver.requests) == 1
    stored = await collection(WebhookDelivery).find_one({})
    assert stored["status"] == "delivered" and stored["attempt_count"] == 1


async def test_deliveries_are_counted_by_outcome_with_their_latency(client):
    from service.observability.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_LATENCY

    def sample(name: str, **labels) -> float:
        for family in (WEBHOOK_ATTEMPTS, WEBHOOK_LATENCY):
            for metric in family.collect():
                for each in metric.samples:
                    if each.name == name and all(each.labels.get(k) == v for k, v in labels.items()):
                        return each.value
        return 0.0

    names = [("folio_webhook_deliveries_total", {"outcome": "delivered"}),
             ("folio_webhook_deliveries_total", {"outcome": "retried"}),
             ("folio_webhook_delivery_latency_seconds_count", {})]
    before = [sample(name, **labels) for name, labels in names]
    admin = await register(client, ADMIN)
    async with Receiver(fail_first=1) as receiver:
        hook = await hook_for(client, admin, receiver.url)
        await consume(event())
        await settled(client, admin, hook, "delivered")
    after = [sample(name, **labels) for name, labels in names]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
    metrics_text = (await client.get("/metrics")).text
    assert 'folio_webhook_deliveries_total{outcome="delivered"}' in metrics_text


async def test_an_attempt_that_gets_no_answer_in_time_fails_and_is_retried():
    settings = make_settings(admins=[ADMIN], webhook_allow_private=True,
                             webhook_retry_delays=[0.05], webhook_timeout_seconds=0.3)
    async with Receiver(hang=True) as receiver, serving(create_app(settings)) as app, \
            client_for(app) as client:
        admin = await register(client, ADMIN)
        hook = await hook_for(client, admin, receiver.url)
        await consume(event())
        [failed] = await settled(client, admin, hook, "failed")
    assert failed["attempts"] == 2 == len(receiver.requests)
    assert failed["lastError"] == "timed out after 0.3 s" and failed["lastResponseStatus"] is None


async def test_a_streak_cleared_by_a_racing_success_does_not_disable_the_webhook(client):
    # Every engine: under a burst, one delivery's failure reads the streak's start while
    # another's success clears it; the failure then must not disable the webhook. The switch
    # matches the start it read by equality, never a null taken for "long ago" (the wire
    # tier's server compares null below any date, and disabled webhooks a second old).
    hook_id = ObjectId()
    hooks = collection(Webhook)
    long_ago = utc_now() - timedelta(hours=25)
    await hooks.insert_one({"_id": hook_id, "url": "https://hooks.example.com/in",
                            "events": ["article.published"], "enabled": True,
                            "secret": "whsec_x", "failing_since": long_ago,
                            "created_at": long_ago})
    webhook = await hooks.find_one({"_id": hook_id})
    since = await sender.streak_start(hook_id, utc_now())
    assert since == long_ago  # the streak that began a day ago goes on
    await hooks.update_one({"_id": hook_id}, {"$set": {"failing_since": None}})  # a success
    assert await sender.disable_failing(webhook, since, utc_now()) is False
    assert (await hooks.find_one({"_id": hook_id}))["enabled"] is True
    assert await collection(ModerationEntry).count_documents({}) == 0
    # Without the race, the same call disables it.
    await hooks.update_one({"_id": hook_id}, {"$set": {"failing_since": long_ago}})
    assert await sender.disable_failing(webhook, since, utc_now()) is True
    assert (await hooks.find_one({"_id": hook_id}))["enabled"] is False
