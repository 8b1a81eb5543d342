"""Notifications: `/notifications` (the list, read marks) and its live stream."""

from typing import Annotated

from fastapi import APIRouter, Query
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from service.contract.schemas import error_responses
from service.notifications import queries, stream
from service.notifications.deps import HubDep, LastEventId, StreamUser
from service.notifications.schemas import (
    MarkReadRequest,
    NotificationOut,
    NotificationPageParams,
    NotificationsResponse,
    StreamTicketResponse,
    UnreadResponse,
    stream_data,
)
from service.users.deps import CurrentUser, RateLimitsDep, SettingsDep

router = APIRouter(
    prefix="/notifications", tags=["Notifications"], responses=error_responses(401, 422, 429)
)
# A send the client does not take within this long ends the stream (it resumes with
# Last-Event-ID): a reader that stopped reading holds no connection for ever.
SEND_TIMEOUT_SECONDS = 30


@router.get("", name="notifications:list", response_model=NotificationsResponse,
            summary="Your notifications")
async def list_notifications(
    user: CurrentUser, page: Annotated[NotificationPageParams, Query()]
) -> NotificationsResponse:
    """Your notifications, newest first, with how many are unread.

    Notifications about content that is gone or hidden, or from an account that is gone, are
    left out; a page that skips many may be shorter than `limit` and still have a `nextCursor`.
    """
    found = await queries.page(user.id, limit=page.limit, cursor=page.cursor)  # type: ignore[arg-type]
    return NotificationsResponse(
        notifications=[NotificationOut.from_doc(doc) for doc in found.notifications],
        unread_count=await queries.unread_count(user.id),  # type: ignore[arg-type]
        next_cursor=found.next_cursor,
    )


@router.post("/read", name="notifications:read", response_model=UnreadResponse,
             summary="Mark notifications read")
async def mark_read(body: MarkReadRequest, user: CurrentUser) -> UnreadResponse:
    """Mark your notifications read: `{"ids": [...]}` (others' ids change nothing) or
    `{"all": true}`. Answers how many stay unread."""
    ids = None if body.all else queries.parse_ids(body.ids or [])
    await queries.mark_read(user.id, ids)  # type: ignore[arg-type]
    return UnreadResponse(unread_count=await queries.unread_count(user.id))  # type: ignore[arg-type]


@router.post("/stream-ticket", name="notifications:stream-ticket",
             response_model=StreamTicketResponse, summary="A ticket to open the stream")
async def stream_ticket(
    user: CurrentUser, settings: SettingsDep, limits: RateLimitsDep
) -> StreamTicketResponse:
    """A short-lived, single-use ticket for `GET /api/notifications/stream?ticket=...`, for
    browsers' `EventSource`, which cannot send an Authorization header. Never put the token
    itself in a URL: URLs end up in logs."""
    await limits.hit(limits.writes_per_user, "writes", str(user.id))
    ticket, expires_at = await queries.issue_ticket(
        user.id, settings.notification_ticket_seconds)  # type: ignore[arg-type]
    return StreamTicketResponse(ticket=ticket, expires_at=expires_at)


@router.get(
    "/stream",
    name="notifications:stream",
    response_class=EventSourceResponse,
    summary="Your notifications, live (Server-Sent Events)",
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "`event: notification`, `id:` the notification's id, "
                     "`data:` its JSON as the list shows it; comment lines as heartbeats"},
               **error_responses(503)},
)
async def notification_stream(
    user: StreamUser, hub: HubDep, settings: SettingsDep, resume_after: LastEventId
) -> EventSourceResponse:
    """New notifications as they are made, as Server-Sent Events.

    Sign in with `Authorization`, or with `?ticket=` from `POST /notifications/stream-ticket`.
    `Last-Event-ID` (sent by EventSource when it reconnects) first sends what was made after
    that event, once. At most FOLIO_NOTIFICATION_STREAMS_PER_USER streams per user (429).
    """
    user_id = user.id
    assert user_id is not None
    wakeup = hub.admit(user_id)  # 429 or 503 before any read
    released = False

    def release() -> None:  # once: from the events' end, or after a response never streamed
        nonlocal released
        if not released:
            released = True
            hub.release(user_id, wakeup)

    try:
        position = await stream.start(user_id, resume_after)
    except BaseException:
        release()
        raise

    async def events():  # noqa: ANN202
        try:
            async for note in stream.notifications(
                user_id, position, hub=hub, wakeup=wakeup,
                poll_seconds=settings.notification_poll_seconds,
                budget_seconds=settings.operation_timeout_ms / 1000 or None,
            ):
                yield ServerSentEvent(data=stream_data(NotificationOut.from_doc(note)),
                                      event="notification", id=str(note["_id"]))
        finally:
            release()

    return EventSourceResponse(
        events(), ping=settings.notification_heartbeat_seconds, send_timeout=SEND_TIMEOUT_SECONDS,
        headers={"Cache-Control": "no-store"}, background=BackgroundTask(release),
    )
