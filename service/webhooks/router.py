"""Webhooks, for admins: `/webhooks`, their delivery log, and redelivery."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from service.contract.schemas import error_responses
from service.users.deps import AdminReading, AdminUser, SettingsDep
from service.webhooks import queries
from service.webhooks.deps import WebhookToChange, WebhookToRead
from service.webhooks.schemas import (
    AttemptOut,
    DeliveriesResponse,
    DeliveryOut,
    DeliveryParams,
    DeliveryResponse,
    NewWebhookRequest,
    WebhookChangeRequest,
    WebhookOut,
    WebhookResponse,
    WebhooksResponse,
)
from service.webhooks.sender import wake

router = APIRouter(
    prefix="/webhooks",
    tags=["Webhooks"],
    responses=error_responses(401, 403, 404, 409, 413, 422, 429),
)


def webhook_out(document: dict[str, Any], with_secret: bool = False) -> WebhookOut:
    """A webhook's answer; the secret only when asked (creation and rotation)."""
    return WebhookOut(
        id=str(document["_id"]), url=document["url"], events=document["events"],
        enabled=document["enabled"], created_at=document["created_at"],
        updated_at=document["updated_at"], disabled_reason=document.get("disabled_reason"),
        secret=document.get("secret") if with_secret else None,
    )


def delivery_out(document: dict[str, Any]) -> DeliveryOut:
    """One delivery-log entry."""
    attempts = document.get("attempts") or []
    last = attempts[-1] if attempts else {}
    return DeliveryOut(
        id=str(document["_id"]), event=document["event"], event_id=str(document["event_id"]),
        status=document["status"], attempts=document.get("attempt_count", 0),
        last_response_status=last.get("status"), last_error=last.get("error"),
        next_attempt_at=document.get("next_attempt_at") if document["status"] == "pending" else None,
        created_at=document["created_at"],
        history=[AttemptOut(at=a["at"], response_status=a.get("status"), error=a.get("error"),
                            round=a.get("round", 1)) for a in attempts],
    )


@router.post(
    "",
    name="webhooks:create",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookResponse,
    summary="Create a webhook (admins); the answer shows its signing secret, once",
)
async def create_webhook(
    body: NewWebhookRequest, admin: AdminUser, settings: SettingsDep
) -> WebhookResponse:
    """A new enabled webhook; the URL must reach a public address (422 otherwise)."""
    created = await queries.create_webhook(
        admin, body.webhook.url, list(body.webhook.events), settings.webhook_allow_private
    )
    return WebhookResponse(webhook=webhook_out(created, with_secret=True))


@router.get("", name="webhooks:list", response_model=WebhooksResponse,
            summary="Every webhook (admins), without secrets")
async def list_webhooks(admin: AdminReading) -> WebhooksResponse:
    """Every webhook, oldest first."""
    return WebhooksResponse(webhooks=[webhook_out(w) for w in await queries.list_webhooks()])


@router.get("/{id}", name="webhooks:get", response_model=WebhookResponse,
            summary="One webhook (admins), without its secret")
async def get_webhook(webhook: WebhookToRead) -> WebhookResponse:
    """The webhook in the path."""
    return WebhookResponse(webhook=webhook_out(webhook))


@router.put("/{id}", name="webhooks:update", response_model=WebhookResponse,
            summary="Change a webhook's url, events or enabled, or rotate its secret (admins)")
async def update_webhook(
    webhook: WebhookToChange, body: WebhookChangeRequest, settings: SettingsDep
) -> WebhookResponse:
    """Apply the changes; with `rotateSecret: true` the answer shows the new secret, once."""
    change = body.webhook
    changed = await queries.change_webhook(
        webhook, {"url": change.url, "events": change.events, "enabled": change.enabled},
        change.rotate_secret, settings.webhook_allow_private,
    )
    return WebhookResponse(webhook=webhook_out(changed, with_secret=change.rotate_secret))


@router.delete("/{id}", name="webhooks:delete", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a webhook and its delivery log (admins)")
async def delete_webhook(webhook: WebhookToChange) -> Response:
    """Remove the webhook; nothing more is sent to it."""
    await queries.delete_webhook(webhook)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{id}/deliveries", name="webhooks:deliveries", response_model=DeliveriesResponse,
            summary="A webhook's delivery log, newest first (admins)")
async def deliveries(
    webhook: WebhookToRead, params: Annotated[DeliveryParams, Query()]
) -> DeliveriesResponse:
    """Each delivery's status and attempts; `nextCursor` continues the log."""
    rows, next_cursor = await queries.deliveries_page(webhook, params.limit, params.cursor)
    return DeliveriesResponse(deliveries=[delivery_out(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/{id}/deliveries/{deliveryId}/redeliver",
    name="webhooks:redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryResponse,
    summary="Send a delivered or failed delivery again (admins), under the same webhook-id",
)
async def redeliver(
    webhook: WebhookToChange,
    delivery_id: Annotated[str, Path(alias="deliveryId", max_length=64, description="the delivery's id")],
) -> DeliveryResponse:
    """A new round of attempts, due now (409 while the delivery is still pending)."""
    found = await queries.redeliver(webhook, delivery_id)
    wake()
    return DeliveryResponse(delivery=delivery_out(found))
