"""Webhooks' admin API, the consumer that queues deliveries, and the refusal of internal URLs.

Every expectation holds on every engine (the consumer is called directly with event documents
of the shape the outbox writes, docs: EVENTS contract).
"""

import asyncio
import base64

import pytest
from bson import ObjectId

from models import User, Webhook, WebhookDelivery
from models.common import utc_now
from models.webhooks import LOG_ORDER
from scripts.dump import export, import_dump
from service.config import Settings
from service.contract.cursors import keyset_cursor
from service.engine import collection, open_engine
from service.main import create_app
from service.webhooks import addresses
from service.webhooks.consumer import consume
from service.webhooks.queries import deliveries_pipeline, webhooks_pipeline
from tests.conftest import client_for, make_settings, serving
from tests.factories import PASSWORD, Account, register

ADMIN = "root"
HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["article.published", "comment.created"]}


@pytest.fixture
def settings() -> Settings:
    """FOLIO_ADMINS names `root`; private addresses allowed (the tests' receivers are local)."""
    return make_settings(admins=[ADMIN], webhook_allow_private=True)


async def people(client) -> dict[str, Account]:
    """An admin, a moderator and an author."""
    admin = await register(client, ADMIN)
    moderator, author = await register(client), await register(client)
    promoted = await client.put(f"/api/moderation/users/{moderator.username}",
                                json={"user": {"role": "moderator"}}, headers=admin.headers)
    assert promoted.status_code == 200, promoted.text
    return {"admin": admin, "moderator": moderator, "author": author}


async def create(client, admin: Account, **fields) -> dict:
    """Create a webhook as `admin`; its answer."""
    response = await client.post("/api/webhooks", json={"webhook": {**HOOK, **fields}},
                                 headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()["webhook"]


def event(kind: str = "article.published", **extra) -> dict:
    """An event document as the outbox stores it."""
    return {"_id": ObjectId(), "type": kind, "at": utc_now(), "actor": None,
            "data": {"article": {"slug": "a-title", "title": "A title"}}, "refs": {}, **extra}


async def test_an_admin_creates_a_webhook_and_sees_its_secret_only_then(client):
    admin = (await people(client))["admin"]
    created = await create(client, admin)
    assert set(created) == {"id", "url", "events", "enabled", "secret", "createdAt", "updatedAt",
                            "disabledReason"}
    assert created["enabled"] is True and created["events"] == HOOK["events"]
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    listed = (await client.get("/api/webhooks", headers=admin.headers)).json()["webhooks"]
    assert [hook["id"] for hook in listed] == [created["id"]]
    one = (await client.get(f"/api/webhooks/{created['id']}", headers=admin.headers)).json()
    assert "secret" not in listed[0] and "secret" not in one["webhook"]
    assert created["secret"] not in str(listed) + str(one)


async def test_only_admins_reach_webhooks(client):
    cast = await people(client)
    hook = await create(client, cast["admin"])
    calls = [("post", "/api/webhooks", {"webhook": HOOK}), ("get", "/api/webhooks", None),
             ("get", f"/api/webhooks/{hook['id']}", None),
             ("put", f"/api/webhooks/{hook['id']}", {"webhook": {"enabled": False}}),
             ("delete", f"/api/webhooks/{hook['id']}", None),
             ("get", f"/api/webhooks/{hook['id']}/deliveries", None)]
    for method, path, body in calls:
        kwargs = {"json": body} if body is not None else {}
        assert (await client.request(method, path, **kwargs)).status_code == 401, path
        for who in ("moderator", "author"):
            answer = await client.request(method, path, headers=cast[who].headers, **kwargs)
            assert answer.status_code == 403, (who, path, answer.text)
    assert (await client.get(f"/api/webhooks/{hook['id']}", headers=cast["admin"].headers)
            ).json()["webhook"]["enabled"] is True


@pytest.mark.parametrize("fields, key", [
    ({"events": ["article.exploded"]}, "webhook"),
    ({"events": []}, "webhook"),
    ({"url": "ftp://example.com/hook"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "http://user:pw@example.com/"}, "url"),
])
async def test_a_webhook_with_unknown_events_or_a_bad_url_answers_422(client, fields, key):
    admin = await register(client, ADMIN)
    response = await client.post("/api/webhooks", json={"webhook": {**HOOK, **fields}},
                                 headers=admin.headers)
    assert response.status_code == 422, response.text
    assert await collection(Webhook).count_documents({}) == 0


async def test_a_missing_webhook_answers_404(client):
    admin = await register(client, ADMIN)
    for webhook_id in (str(ObjectId()), "not-an-id"):
        for method in ("get", "delete"):
            answer = await client.request(method, f"/api/webhooks/{webhook_id}", headers=admin.headers)
            assert answer.status_code == 404, answer.text
    hook = await create(client, admin)
    answer = await client.post(f"/api/webhooks/{hook['id']}/deliveries/{ObjectId()}/redeliver",
                               headers=admin.headers)
    assert answer.status_code == 404


async def test_put_changes_url_events_and_enabled_and_rotates_the_secret(client):
    admin = await register(client, ADMIN)
    hook = await create(client, admin)
    changed = await client.put(f"/api/webhooks/{hook['id']}", headers=admin.headers, json={
        "webhook": {"url": "http://127.0.0.1:10/other", "events": ["profile.followed"],
                    "enabled": False}})
    assert changed.status_code == 200, changed.text
    body = changed.json()["webhook"]
    assert (body["url"], body["events"], body["enabled"]) == (
        "http://127.0.0.1:10/other", ["profile.followed"], False)
    assert "secret" not in body
    rotated = (await client.put(f"/api/webhooks/{hook['id']}", headers=admin.headers,
                                json={"webhook": {"rotateSecret": True}})).json()["webhook"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    stored = await collection(Webhook).find_one({"_id": ObjectId(hook["id"])})
    assert stored["secret"] == rotated["secret"]
    again = (await client.get(f"/api/webhooks/{hook['id']}", headers=admin.headers)).json()
    assert "secret" not in again["webhook"]
    refused = await client.put(f"/api/webhooks/{hook['id']}", headers=admin.headers,
                               json={"webhook": {"events": ["nope"]}})
    assert refused.status_code == 422


async def test_delete_removes_the_webhook_and_its_deliveries(client):
    admin = await register(client, ADMIN)
    hook = await create(client, admin, events=["report.created"])
    await consume(event("report.created"))
    assert await collection(WebhookDelivery).count_documents({}) == 1
    assert (await client.delete(f"/api/webhooks/{hook['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"/api/webhooks/{hook['id']}", headers=admin.headers)).status_code == 404
    assert await collection(WebhookDelivery).count_documents({}) == 0


async def test_consume_queues_one_delivery_per_subscribed_enabled_webhook_once(client):
    admin = await register(client, ADMIN)
    wanted = await create(client, admin, events=["article.published"])
    await create(client, admin, events=["comment.created"])  # not subscribed
    off = await create(client, admin, events=["article.published"])
    await client.put(f"/api/webhooks/{off['id']}", headers=admin.headers,
                     json={"webhook": {"enabled": False}})
    published = event()
    await consume(published)
    await consume(published)  # the drain is at least once: a repeat creates nothing
    stored = await collection(WebhookDelivery).find({}).to_list(None)
    assert [(str(d["webhook_id"]), d["event_id"]) for d in stored] == [(wanted["id"], published["_id"])]
    assert stored[0]["event"] == "article.published"


async def test_the_delivery_log_pages_newest_first_with_a_cursor(client):
    admin = await register(client, ADMIN)
    hook = await create(client, admin, events=["comment.created"], url="http://127.0.0.1:9/x")
    await client.put(f"/api/webhooks/{hook['id']}", headers=admin.headers,
                     json={"webhook": {"enabled": False}})
    # Queued directly (the webhook is disabled, so consume() skips it and no sender sends).
    events = [event("comment.created") for _ in range(3)]
    for item in events:
        await collection(WebhookDelivery).insert_one(WebhookDelivery(
            webhook_id=ObjectId(hook["id"]), event_id=item["_id"], event=item["type"],
            event_at=item["at"], body="{}", next_attempt_at=None, status="failed",
        ).model_dump(exclude={"id"}))
    path = f"/api/webhooks/{hook['id']}/deliveries"
    first = (await client.get(path, params={"limit": 2}, headers=admin.headers)).json()
    assert [d["eventId"] for d in first["deliveries"]] == [str(events[2]["_id"]), str(events[1]["_id"])]
    assert set(first["deliveries"][0]) >= {"id", "event", "eventId", "status", "attempts",
                                           "lastResponseStatus", "lastError", "nextAttemptAt",
                                           "createdAt"}
    rest = (await client.get(path, params={"limit": 2, "cursor": first["nextCursor"]},
                             headers=admin.headers)).json()
    assert [d["eventId"] for d in rest["deliveries"]] == [str(events[0]["_id"])]
    assert rest["nextCursor"] is None


# No server-side request forgery ------------------------------------------------------------

INTERNAL = [
    "http://127.0.0.1/hook", "http://10.1.2.3/hook", "http://192.168.0.10/hook",
    "http://172.16.5.4/hook", "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook",
    "http://[fc00::1]/hook", "http://[fe80::1]/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://100.64.0.1/hook", "http://0.0.0.0/hook", "http://224.0.0.1/hook",
    "http://localhost:8000/hook",  # a name that resolves to loopback
]


@pytest.mark.parametrize("url", INTERNAL)
async def test_urls_reaching_internal_addresses_are_refused_with_422(app_strict, url):
    client, admin = app_strict
    response = await client.post("/api/webhooks", headers=admin.headers,
                                 json={"webhook": {"url": url, "events": ["article.published"]}})
    assert response.status_code == 422, response.text
    assert "url" in response.json()["errors"]
    assert await collection(Webhook).count_documents({}) == 0


async def test_a_public_host_is_accepted_and_a_change_to_an_internal_one_refused(
    app_strict, monkeypatch
):
    client, admin = app_strict

    async def resolver(host: str, port: int) -> list[str]:
        return {"hooks.example.com": ["93.184.216.34"], "inside.example.com": ["10.0.0.7"]}[host]

    monkeypatch.setattr(addresses, "resolve", resolver)
    created = await client.post("/api/webhooks", headers=admin.headers, json={
        "webhook": {"url": "https://hooks.example.com/folio", "events": ["article.published"]}})
    assert created.status_code == 201, created.text
    hook = created.json()["webhook"]
    moved = await client.put(f"/api/webhooks/{hook['id']}", headers=admin.headers,
                             json={"webhook": {"url": "https://inside.example.com/"}})
    assert moved.status_code == 422
    stored = await collection(Webhook).find_one({"_id": ObjectId(hook["id"])})
    assert stored["url"] == "https://hooks.example.com/folio"


@pytest.fixture
async def app_strict():
    """A server without FOLIO_WEBHOOK_ALLOW_PRIVATE, and its admin."""
    async with serving(create_app(make_settings(admins=[ADMIN]))) as application:
        async with client_for(application) as client:
            yield client, await register(client, ADMIN)


async def test_an_export_leaves_out_deliveries_and_secrets_and_an_import_needs_a_rotation(
    client, app, tmp_path
):
    admin = await register(client, ADMIN)
    hook = await create(client, admin, events=["report.created"])
    await consume(event("report.created"))
    assert await collection(WebhookDelivery).count_documents({}) == 1
    path = tmp_path / "export.jsonl"
    counts = await export(app.state.engine, path)
    text = path.read_text()
    assert counts["webhooks"] == 1 and "webhook_deliveries" not in counts
    assert "webhook_deliveries" not in text.rsplit("\n", 2)[0]
    assert hook["secret"] not in text and hook["secret"].removeprefix("whsec_") not in text
    target = await open_engine(make_settings())
    try:
        await import_dump(target, path)
        imported = await target.database["webhooks"].find_one({})
    finally:
        target.close()
    assert imported["secret"] is None and imported["enabled"] is False


async def test_deleting_the_admin_who_made_a_webhook_keeps_the_webhook(client):
    admin = await register(client, ADMIN)
    other = await register(client)
    await collection(User).update_one({"username": other.username}, {"$set": {"role": "admin"}})
    hook = await create(client, other)
    deleted = await client.request("DELETE", "/api/user", headers=other.headers,
                                   json={"user": {"password": PASSWORD}})
    assert deleted.status_code < 300, deleted.text
    for _ in range(100):  # the deletion finishes in the background
        if await collection(User).find_one({"username": other.username}) is None:
            break
        await asyncio.sleep(0.05)
    assert await collection(User).find_one({"username": other.username}) is None
    kept = await collection(Webhook).find_one({"_id": ObjectId(hook["id"])})
    assert kept is not None and kept["created_by"] is None and kept["enabled"] is True
    assert (await client.get(f"/api/webhooks/{hook['id']}", headers=admin.headers)).status_code == 200


def test_the_delivery_log_pipeline_reads_one_webhook_newest_first_from_the_cursor_on():
    webhook_id = ObjectId()
    first = deliveries_pipeline(webhook_id, 20, None)
    assert first == [{"$match": {"webhook_id": webhook_id}}, {"$sort": {"_id": -1}},
                     {"$limit": 20}]
    last = {"_id": ObjectId()}
    cursor = keyset_cursor(LOG_ORDER, last)
    match = deliveries_pipeline(webhook_id, 20, cursor)[0]["$match"]
    assert match["webhook_id"] == webhook_id
    assert match["_id"] == {"$lte": last["_id"]} and match["$or"] == [{"_id": {"$lt": last["_id"]}}]
    assert webhooks_pipeline() == [{"$match": {}}, {"$sort": {"created_at": 1, "_id": 1}},
                                   {"$limit": 100}]


def test_retry_delays_are_read_as_comma_separated_seconds_and_refused_when_wrong():
    from pydantic import ValidationError

    assert make_settings(webhook_retry_delays="0.2,0.5,1,2").webhook_retry_delays == [0.2, 0.5, 1, 2]
    default = Settings.model_fields["webhook_retry_delays"].default_factory()
    assert len(default) == 8 and sum(default) > 20 * 3600
    for wrong in ("", "0", "-1,5", "5,abc", "nan", "inf"):
        with pytest.raises(ValidationError):
            make_settings(webhook_retry_delays=wrong)


def test_security_md_no_longer_says_folio_fetches_no_url():
    from pathlib import Path

    security = (Path(__file__).parent.parent / "SECURITY.md").read_text()
    assert "Folio never fetches a URL" not in security
    assert "FOLIO_WEBHOOK_ALLOW_PRIVATE" in security and "rebinding" in security
