"""Authentication dependencies: who is calling, from the Authorization header."""

from typing import Annotated

from beanie import PydanticObjectId
from bson.errors import InvalidId
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from models import User
from service.config import Settings
from service.contract.errors import Forbidden, Unauthorized
from service.users.credentials import Security
from service.users.queries import (
    NO_ACCOUNT,
    FeedReader,
    Viewer,
    confirm_writer,
    feed_reader,
    refuse_ended,
    refuse_if_suspended,
    user_by_id,
)
from service.users.roles import can_moderate, is_admin
from service.web.ratelimit import RateLimits

authorization_header = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="`Token <jwt>` (the RealWorld scheme) or `Bearer <jwt>`",
    auto_error=False,
)


# Every dependency here is `async def` although none awaits: FastAPI runs a plain `def`
# dependency in a worker thread, and a thread hop per dependency cost more than the work.


async def get_security(request: Request) -> Security:
    """The app's password hasher and token codec."""
    return request.app.state.security


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


async def get_rate_limits(request: Request) -> RateLimits:
    """The app's rate limits."""
    return request.app.state.rate_limits


async def client_address(request: Request) -> str:
    """The peer's address; uvicorn puts the X-Forwarded-For client here only for trusted proxies."""
    return request.client.host if request.client else "unknown"


SecurityDep = Annotated[Security, Depends(get_security)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RateLimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]
ClientAddress = Annotated[str, Depends(client_address)]


AuthorizationHeader = Annotated[str | None, Depends(authorization_header)]


def token_in(authorization: str | None) -> str | None:
    """The raw token from `Token <jwt>` or `Bearer <jwt>`, or None when no header was sent."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise Unauthorized("token", "is invalid; send 'Token <jwt>' or 'Bearer <jwt>'")
    return token.strip()


def required(token: str | None) -> str:
    """The raw token; a protected endpoint without one answers 401."""
    if token is None:
        raise Unauthorized("token", "is missing")
    return token


async def presented_token(authorization: AuthorizationHeader) -> str | None:
    """The raw token from `Token <jwt>` or `Bearer <jwt>`, or None when no header was sent."""
    return token_in(authorization)


async def required_token(authorization: AuthorizationHeader) -> str:
    """The raw token; a protected endpoint without one answers 401."""
    return required(token_in(authorization))


def viewer_of(security: Security, token: str) -> Viewer:
    """Who a token names, by its signature and claims alone; 401 when it is not valid."""
    claims = security.tokens.claims(token)
    try:
        return Viewer(PydanticObjectId(claims.user_id), claims.session_id, claims.token_version)
    except (InvalidId, TypeError, ValueError):
        raise Unauthorized("token", "is invalid") from None


# The viewer dependencies read the header and the app's token codec themselves rather than
# through `presented_token` and `get_security`: FastAPI resolves every node of a dependency
# tree on every request, and on the hot reads those two nodes cost more than the work
# (about 16 µs a request, measured in process).
async def optional_viewer(request: Request, authorization: AuthorizationHeader) -> Viewer | None:
    """Who a valid token names, without a database read; None when anonymous.

    Enough for public reads and viewer flags; anything private re-checks with `is_current`.
    """
    token = token_in(authorization)
    return None if token is None else viewer_of(request.app.state.security, token)


async def optional_viewer_id(
    viewer: Annotated[Viewer | None, Depends(optional_viewer)],
) -> PydanticObjectId | None:
    """The caller's user id from a valid token, or None when anonymous."""
    return None if viewer is None else viewer.id


async def token_viewer(request: Request, authorization: AuthorizationHeader) -> Viewer:
    """Who a required token names, by its signature alone (the account is not read yet)."""
    return viewer_of(request.app.state.security, required(token_in(authorization)))


async def current_user(viewer: Annotated[Viewer, Depends(token_viewer)]) -> User:
    """The calling account, loaded and checked; 401 for an ended session or a deleted account."""
    user = await user_by_id(str(viewer.id))
    if user is None:
        raise Unauthorized("token", NO_ACCOUNT)
    refuse_ended(viewer, (session.id for session in user.sessions), user.token_version)
    return user


async def reading_feed(viewer: Annotated[Viewer, Depends(token_viewer)]) -> FeedReader:
    """The caller of the feed, checked as `current_user` checks it, without loading the account."""
    return await feed_reader(viewer)


async def writing_user(user: Annotated[User, Depends(current_user)], limits: RateLimitsDep) -> User:
    """The calling account, if it may write (403 while suspended), counted against the per-user
    write limit (429 past it)."""
    refuse_if_suspended(user.suspension)
    await limits.hit(limits.writes_per_user, "writes", str(user.id))
    return user


async def acting_viewer(
    viewer: Annotated[Viewer, Depends(token_viewer)], limits: RateLimitsDep
) -> Viewer:
    """The caller of an edge write (favorite, follow): a current token of an account that may
    write (403 while suspended), counted as a write.

    Unlike `current_user` it loads no account: a confirmation of the token from the last
    `CONFIRMED_FOR_SECONDS` is trusted, which keeps these writes within four round trips.
    """
    await confirm_writer(viewer)
    await limits.hit(limits.writes_per_user, "writes", str(viewer.id))
    return viewer


def _moderator(user: User) -> User:
    if not can_moderate(user):
        raise Forbidden("user", "must be a moderator or an admin")
    return user


def _admin(user: User) -> User:
    if not is_admin(user):
        raise Forbidden("user", "must be an admin")
    return user


async def moderating_user(user: Annotated[User, Depends(writing_user)]) -> User:
    """The caller, if a moderator or admin (403 otherwise); counted as a write."""
    return _moderator(user)


async def admin_user(user: Annotated[User, Depends(writing_user)]) -> User:
    """The caller, if an admin (403 otherwise); counted as a write."""
    return _admin(user)


async def moderator_reading(user: Annotated[User, Depends(current_user)]) -> User:
    """The caller of a moderation read, if a moderator or admin (403 otherwise)."""
    return _moderator(user)


async def admin_reading(user: Annotated[User, Depends(current_user)]) -> User:
    """The caller of an admin read, if an admin (403 otherwise)."""
    return _admin(user)


AccessToken = Annotated[str, Depends(required_token)]
ActingViewer = Annotated[Viewer, Depends(acting_viewer)]
TokenViewer = Annotated[Viewer, Depends(token_viewer)]
WritingUser = Annotated[User, Depends(writing_user)]
OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
OptionalViewerId = Annotated[PydanticObjectId | None, Depends(optional_viewer_id)]
CurrentUser = Annotated[User, Depends(current_user)]
ReadingFeed = Annotated[FeedReader, Depends(reading_feed)]
ModeratingUser = Annotated[User, Depends(moderating_user)]
AdminUser = Annotated[User, Depends(admin_user)]
ModeratorReading = Annotated[User, Depends(moderator_reading)]
AdminReading = Annotated[User, Depends(admin_reading)]
