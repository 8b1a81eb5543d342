"""Webhooks and their delivery log in the database: create, change, list, redeliver. No HTTP."""

import base64
import secrets
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from models import User, Webhook, WebhookDelivery
from models.common import utc_now
from models.webhooks import LOG_ORDER, OLDEST_FIRST
from service.contract.cursors import after_condition, next_page_cursor
from service.contract.errors import Conflict, Invalid, NotFound
from service.engine import collection
from service.webhooks import addresses

# Webhooks are an admin's short list: every consume() reads the subscribed ones by index, and
# GET /api/webhooks answers them all in one page.
MAX_WEBHOOKS = 100
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def object_id(value: str, what: str) -> ObjectId:
    """An id from the path; anything else is simply not found."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound(what, "not found") from None


async def create_webhook(
    admin: User, url: str, events: list[str], allow_private: bool
) -> dict[str, Any]:
    """Store a new, enabled webhook with a fresh secret; the document, secret included."""
    await addresses.vet_url(url, allow_private)
    webhooks = collection(Webhook)
    # Collection metadata, no scan: the cap is a guard on an admin's list, not a count to
    # the last document (two creations at the same moment may both pass it).
    if await webhooks.estimated_document_count() >= MAX_WEBHOOKS:
        raise Conflict("webhook", f"a site has at most {MAX_WEBHOOKS} webhooks; delete one first")
    document = Webhook(url=url, events=events, secret=new_secret(), created_by=admin.id)
    stored = document.model_dump(exclude={"id"})
    result = await webhooks.insert_one(stored)
    return {**stored, "_id": result.inserted_id}


async def webhook_by_id(webhook_id: str) -> dict[str, Any]:
    """One webhook, or NotFound."""
    found = await collection(Webhook).find_one({"_id": object_id(webhook_id, "webhook")})
    if found is None:
        raise NotFound("webhook", "not found")
    return found


def webhooks_pipeline() -> list[dict[str, Any]]:
    """Every webhook, oldest first (index `oldest`), at most MAX_WEBHOOKS."""
    return [{"$match": {}}, {"$sort": dict(OLDEST_FIRST)}, {"$limit": MAX_WEBHOOKS}]


async def list_webhooks() -> list[dict[str, Any]]:
    """Every webhook, oldest first."""
    return await collection(Webhook).aggregate(webhooks_pipeline()).to_list(MAX_WEBHOOKS)


async def change_webhook(
    webhook: dict[str, Any], changes: dict[str, Any], rotate: bool, allow_private: bool
) -> dict[str, Any]:
    """Apply url/events/enabled changes (and a new secret when `rotate`); the new document."""
    updates: dict[str, Any] = {key: value for key, value in changes.items() if value is not None}
    if "url" in updates:
        await addresses.vet_url(updates["url"], allow_private)
    if rotate:
        updates["secret"] = new_secret()
    if updates.get("enabled"):
        if not (updates.get("secret") or webhook.get("secret")):
            raise Invalid("enabled", "this webhook has no secret (imported): rotate it too")
        # Enabled again by an admin: the failure streak starts over.
        updates.update(failing_since=None, disabled_reason=None)
    updates["updated_at"] = utc_now()
    changed = await collection(Webhook).find_one_and_update(
        {"_id": webhook["_id"]}, {"$set": updates}, return_document=ReturnDocument.AFTER
    )
    if changed is None:
        raise NotFound("webhook", "not found")
    return changed


async def delete_webhook(webhook: dict[str, Any]) -> None:
    """Remove a webhook, then its deliveries (a sender meeting one of those skips it)."""
    await collection(Webhook).delete_one({"_id": webhook["_id"]})
    await collection(WebhookDelivery).delete_many({"webhook_id": webhook["_id"]})


def deliveries_pipeline(webhook_id: ObjectId, limit: int, cursor: str | None) -> list[dict]:
    """A page of one webhook's deliveries, newest first (index `webhook_newest`)."""
    match: dict[str, Any] = {"webhook_id": webhook_id}
    if cursor is not None:
        match.update(after_condition(cursor, LOG_ORDER))
    return [{"$match": match}, {"$sort": dict(LOG_ORDER)}, {"$limit": limit}]


async def deliveries_page(
    webhook: dict[str, Any], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The webhook's newest deliveries after the cursor, and the next page's cursor."""
    pipeline = deliveries_pipeline(webhook["_id"], limit, cursor)
    rows = await collection(WebhookDelivery).aggregate(pipeline).to_list(limit)
    return rows, next_page_cursor(LOG_ORDER, rows, limit)


async def redeliver(webhook: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """Start a new round of attempts for a delivered or failed delivery, due now."""
    if not webhook.get("enabled"):
        raise Conflict("webhook", "is disabled: enable it before redelivering")
    found = await collection(WebhookDelivery).find_one_and_update(
        {"_id": object_id(delivery_id, "delivery"), "webhook_id": webhook["_id"],
         "status": {"$ne": "pending"}},
        {"$set": {"status": "pending", "next_attempt_at": utc_now(), "round_attempts": 0,
                  "lease": None},
         "$inc": {"round": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if found is None:
        exists = await collection(WebhookDelivery).find_one(
            {"_id": object_id(delivery_id, "delivery"), "webhook_id": webhook["_id"]}, {"_id": 1}
        )
        if exists is None:
            raise NotFound("delivery", "not found")
        raise Conflict("delivery", "is still pending: it is sent when due")
    return found
