"""Registration, login and the current user: `/users`, `/users/login`, `/user`."""

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from models import User
from service.contract.errors import Forbidden, Invalid, Unauthorized
from service.contract.schemas import error_responses
from service.engine import detached
from service.users import queries
from service.users.deps import (
    AccessToken,
    ClientAddress,
    CurrentUser,
    RateLimitsDep,
    SecurityDep,
    SettingsDep,
    TokenViewer,
    WritingUser,
)
from service.users.queries import live_suspension
from service.users.roles import role_for_new_account
from service.users.schemas import (
    CurrentUserOut,
    CurrentUserResponse,
    DeleteUserRequest,
    LoginUserRequest,
    NewUserRequest,
    RevokedSessionsOut,
    RevokedSessionsResponse,
    UpdateUserRequest,
    UserOut,
    UserResponse,
)

router = APIRouter(
    tags=["User and Authentication"], responses=error_responses(401, 409, 413, 422, 429)
)


def user_response(user: User, token: str) -> UserResponse:
    """The `user` envelope for an account and a token."""
    return UserResponse(
        user=UserOut(
            email=user.email, token=token, username=user.username, bio=user.bio, image=user.image
        )
    )


@router.post(
    "/users",
    name="users:register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserResponse,
    summary="Register a new user",
)
async def register(
    body: NewUserRequest,
    security: SecurityDep,
    settings: SettingsDep,
    limits: RateLimitsDep,
    address: ClientAddress,
) -> UserResponse:
    """Create an account and answer it with a token (409 if the username or email is taken)."""
    await limits.hit(limits.register_per_address, "registration", address)
    await limits.hit(limits.register_per_account, "registration", body.user.email)
    await limits.hit(limits.register_per_account, "registration", body.user.username)
    role = role_for_new_account(body.user.username, settings.admins)
    user, session_id = await queries.register(
        security.passwords, **body.user.model_dump(), role=role
    )
    return user_response(user, security.tokens.issue(str(user.id), session_id))


@router.post(
    "/users/login", name="users:login", response_model=UserResponse, summary="Existing user login"
)
async def login(
    body: LoginUserRequest, security: SecurityDep, limits: RateLimitsDep, address: ClientAddress
) -> UserResponse:
    """Exchange email and password for a token in a new session (401 `credentials` on failure)."""
    account = body.user.email.strip().lower()
    await limits.hit(limits.login_per_address, "login", address)
    # Only failures count against an account, so guessing cannot lock its owner out as quickly.
    await limits.check(limits.login_per_account, "login", account)
    try:
        user, session_id = await queries.authenticate(
            security.passwords, email=body.user.email, password=body.user.password
        )
    except Unauthorized:
        await limits.hit(limits.login_per_account, "login", account)
        raise
    return user_response(user, security.tokens.issue(str(user.id), session_id))


@router.get(
    "/user", name="users:current", response_model=CurrentUserResponse, summary="Get current user"
)
async def current(user: CurrentUser, token: AccessToken) -> CurrentUserResponse:
    """The calling account, with the token it presented, its role and any suspension."""
    return CurrentUserResponse(
        user=CurrentUserOut(
            **user_response(user, token).user.model_dump(),
            role=user.role,
            suspension=live_suspension(user.suspension),
        )
    )


@router.put(
    "/user", name="users:update", response_model=UserResponse, summary="Update current user"
)
async def update(
    body: UpdateUserRequest,
    user: WritingUser,
    viewer: TokenViewer,
    security: SecurityDep,
    token: AccessToken,
) -> UserResponse:
    """Change any of email, username, password, bio and image (at least one).

    `bio` or `image` set to `""` or `null` is stored and answered as `null`. A new password
    signs out every other session; the token sent stays valid, and the answer carries a fresh
    one for the same session.
    """
    changes = body.user.changes()
    if not changes:
        raise Invalid("user", "at least one field is required")
    updated, session_id = await queries.update_user(security.passwords, user, viewer, changes)
    if session_id is not None:
        token = security.tokens.issue(str(updated.id), session_id)
    return user_response(updated, token)


@router.post(
    "/user/logout",
    name="users:logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign out this session (Folio)",
)
async def logout(user: CurrentUser, viewer: TokenViewer) -> Response:
    """End the calling session: the token sent (and any other of this session) stops working.

    The account's other sessions go on. Not part of RealWorld; additive.
    """
    await queries.end_session(viewer)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/user/sessions/revoke",
    name="users:revoke_sessions",
    response_model=RevokedSessionsResponse,
    summary="Sign out every other session (Folio)",
)
async def revoke_sessions(
    user: WritingUser, viewer: TokenViewer, security: SecurityDep, token: AccessToken
) -> RevokedSessionsResponse:
    """End every session of the account but the caller's, e.g. after losing a device.

    Answers how many ended, and the token to go on with: the one sent, unless it was issued
    before sessions existed, in which case a new one. Not part of RealWorld; additive.
    """
    revoked, session_id = await queries.end_other_sessions(viewer)
    if session_id != viewer.session_id:
        token = security.tokens.issue(str(user.id), session_id)
    return RevokedSessionsResponse(sessions=RevokedSessionsOut(revoked=revoked, token=token))


@router.delete(
    "/user",
    name="users:delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(403),
    summary="Delete the current user's account (Folio)",
)
async def delete(
    request: Request,
    body: DeleteUserRequest,
    user: CurrentUser,
    viewer: TokenViewer,
    security: SecurityDep,
    limits: RateLimitsDep,
    background: BackgroundTasks,
) -> Response:
    """Delete the account, confirmed by its password (403 `password` if wrong).

    At once every session ends (tokens stop working) and sign-in fails; the account's follows,
    favorites, comments, reports and articles (with everything on them) are then removed, and
    last the account, which frees its username and email. Suspended accounts may delete
    themselves. Not part of RealWorld; additive.
    """
    await limits.hit(limits.writes_per_user, "writes", str(user.id))
    # Wrong passwords count as failed logins of the account: the same guessing budget.
    await limits.check(limits.login_per_account, "login", user.email)
    try:
        await request.app.state.deletions.request_account_deletion(
            security.passwords, user, viewer, body.user.password
        )
    except Forbidden:
        await limits.hit(limits.login_per_account, "login", user.email)
        raise
    # The removal runs after the answer, `detached` from the request's deadline (background
    # work has its own budget): once marked, the account is gone for its holder, and a run
    # that stops is resumed (start-up, `folio users finish-deletions`).
    background.add_task(detached, request.app.state.deletions.finish_account, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
