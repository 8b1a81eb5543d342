"""The webhooks consumer of the event drain: one pending delivery per subscribed webhook.

It makes no network call: it writes delivery documents (the unique `webhook_event_unique`
index makes a repeated event a no-op) and wakes this process's sender.
"""

import json
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from models import Webhook, WebhookDelivery
from models.common import as_utc
from service.contract.schemas import format_timestamp
from service.engine import collection
from service.webhooks.queries import MAX_WEBHOOKS
from service.webhooks.sender import wake


def _plain(value: Any) -> Any:
    """JSON for what BSON holds and JSON does not: dates as ISO 8601 UTC, ids as strings."""
    if isinstance(value, datetime):
        return format_timestamp(as_utc(value))
    if isinstance(value, ObjectId):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def event_body(event: dict[str, Any]) -> str:
    """The Standard Webhooks body: `{"type", "timestamp", "data"}`, as compact JSON."""
    payload = {
        "type": event["type"],
        "timestamp": format_timestamp(as_utc(event["at"])),
        "data": event.get("data") or {},
    }
    return json.dumps(payload, default=_plain, separators=(",", ":"), ensure_ascii=False)


async def consume(event: dict[str, Any]) -> None:
    """Queue this event for every enabled webhook subscribed to its type (idempotent)."""
    subscribed = await collection(Webhook).find(
        {"events": event["type"], "enabled": True}, {"_id": 1}
    ).to_list(MAX_WEBHOOKS)
    if not subscribed:
        return
    body = event_body(event)
    created = 0
    for webhook in subscribed:
        delivery = WebhookDelivery(
            webhook_id=webhook["_id"], event_id=event["_id"], event=event["type"],
            event_at=as_utc(event["at"]), body=body,
        )
        try:
            await collection(WebhookDelivery).insert_one(delivery.model_dump(exclude={"id"}))
        except DuplicateKeyError:
            continue  # handed this event before: its delivery is there already
        created += 1
    if created:
        wake()
