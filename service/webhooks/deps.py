"""Webhook dependencies: the webhook in the path, for an admin (401, then 403, then 404)."""

from typing import Annotated, Any

from fastapi import Depends, Path

from service.users.deps import AdminReading, AdminUser
from service.webhooks import queries

WebhookId = Annotated[str, Path(alias="id", max_length=64, description="the webhook's id")]


async def webhook_to_read(admin: AdminReading, webhook_id: WebhookId) -> dict[str, Any]:
    """The webhook in the path, read by an admin."""
    return await queries.webhook_by_id(webhook_id)


async def webhook_to_change(admin: AdminUser, webhook_id: WebhookId) -> dict[str, Any]:
    """The webhook in the path, about to be changed by an admin (counted as a write)."""
    return await queries.webhook_by_id(webhook_id)


WebhookToRead = Annotated[dict[str, Any], Depends(webhook_to_read)]
WebhookToChange = Annotated[dict[str, Any], Depends(webhook_to_change)]
