"""Notification dependencies: who opens a stream (header or ticket), and the stream's hub."""

from typing import Annotated

from beanie import PydanticObjectId
from fastapi import Depends, Header, Query, Request

from models import User
from service.contract.errors import Invalid, Unauthorized
from service.notifications import queries
from service.notifications.live import Hub
from service.users.deps import SecurityDep, current_user, presented_token, viewer_of
from service.users.queries import user_by_id


async def get_hub(request: Request) -> Hub:
    """The app's open streams."""
    return request.app.state.notification_hub


HubDep = Annotated[Hub, Depends(get_hub)]


async def stream_user(
    security: SecurityDep,
    token: Annotated[str | None, Depends(presented_token)],
    ticket: Annotated[str | None, Query(
        max_length=128,
        description="a single-use ticket from POST /api/notifications/stream-ticket, for "
        "clients that cannot send headers (EventSource); never the token itself")] = None,
) -> User:
    """Who opens the stream: the `Authorization` header, else a stream ticket (consumed
    here, once); 401 without either, before the stream starts."""
    if token is not None:
        return await current_user(viewer_of(security, token))
    if ticket is None:
        raise Unauthorized("token", "is missing; send Authorization or ?ticket=")
    user_id = await queries.redeem_ticket(ticket)
    user = None if user_id is None else await user_by_id(str(user_id))
    if user is None or user.deleting is not None:
        raise Unauthorized("ticket", "is invalid, expired or already used")
    return user


StreamUser = Annotated[User, Depends(stream_user)]


async def last_event_id(
    value: Annotated[str | None, Header(
        alias="Last-Event-ID",
        description="the `id` of the last event received: what came after it is sent first")] = None,
    in_query: Annotated[str | None, Query(
        alias="lastEventId", max_length=64,
        description="the same, for a browser opening a new EventSource (which cannot set the "
        "header) with a fresh ticket")] = None,
) -> PydanticObjectId | None:
    """The notification a resumed stream continues after (the header, else `?lastEventId=`);
    422 for one this API never sent."""
    value = value if value is not None and value.strip() else in_query
    if value is None or not value.strip():
        return None
    try:
        return PydanticObjectId(value.strip())
    except Exception:
        raise Invalid("Last-Event-ID", "is not an event id this stream sent") from None


LastEventId = Annotated[PydanticObjectId | None, Depends(last_event_id)]
