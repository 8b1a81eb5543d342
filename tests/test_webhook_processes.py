"""Two API processes on one database send each webhook delivery once (the senders' claims).

Needs a database server both processes share: the wire tier (`bash .ci/wire-tier`) or a real
MongoDB; the embedded engine lives inside one process, so this skips there. Each process is
`uvicorn service.main:app`, stopped by its process id.
"""

import asyncio
from contextlib import ExitStack

import pytest
from bson import ObjectId

from models import WebhookDelivery
from models.common import utc_now
from service.main import create_app
from tests.conftest import REAL_MONGODB_URL, TEST_SECRET, client_for, make_settings, serving
from tests.factories import register
from tests.servers import free_port, running, uvicorn_command
from tests.webhook_receiver import Receiver, eventually

pytestmark = pytest.mark.skipif(
    REAL_MONGODB_URL is None,
    reason="needs a database server both processes share (the wire tier, `bash .ci/wire-tier`, "
    "or FOLIO_TEST_MONGODB_URL); the embedded engine lives inside one process",
)
DELIVERIES = 12


async def test_two_processes_send_each_delivery_once_and_retry_it_under_one_webhook_id():
    settings = make_settings(admins=["root"], webhook_allow_private=True)
    env = {
        "FOLIO_MONGODB_URL": str(REAL_MONGODB_URL), "FOLIO_DATABASE": settings.database,
        "FOLIO_JWT_SECRET": TEST_SECRET, "FOLIO_WEBHOOK_ALLOW_PRIVATE": "true",
        "FOLIO_WEBHOOK_RETRY_DELAYS": "0.2,0.5", "FOLIO_WEBHOOK_POLL_SECONDS": "0.2",
    }
    async with Receiver(fail_first=1) as receiver, serving(create_app(settings)) as app:
        async with client_for(app) as client:  # this process only creates the webhook
            admin = await register(client, "root")
            created = await client.post("/api/webhooks", headers=admin.headers, json={
                "webhook": {"url": receiver.url, "events": ["article.published"]}})
            assert created.status_code == 201, created.text
        webhook_id = ObjectId(created.json()["webhook"]["id"])
        deliveries = app.state.engine.database["webhook_deliveries"]
        with ExitStack() as stack:
            for _ in range(2):
                port = free_port()
                stack.enter_context(running(uvicorn_command("service.main:app", port), port, env))
            # Queued as the drain would, with no process told: both find them by polling.
            await deliveries.insert_many([WebhookDelivery(
                webhook_id=webhook_id, event_id=ObjectId(), event="article.published",
                event_at=utc_now(), body='{"type":"article.published"}',
            ).model_dump(exclude={"id"}) for _ in range(DELIVERIES)])

            async def all_delivered() -> bool:
                return await deliveries.count_documents({"status": "delivered"}) == DELIVERIES

            await eventually(all_delivered, seconds=30)
            await asyncio.sleep(0.5)  # a duplicate attempt would show by now
            stored = await deliveries.find({}).to_list(None)
    assert [d["attempt_count"] for d in stored] == [2] * DELIVERIES
    per_id = receiver.per_id
    assert len(per_id) == DELIVERIES
    assert set(per_id.values()) == {2}  # one failure, then one success: never a second success
