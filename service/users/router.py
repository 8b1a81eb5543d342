"""Registration, login and the current user: `/users`, `/users/login`, `/user`."""

from fastapi import APIRouter, status

from models import User
from service.errors import Invalid, Unauthorized
from service.schemas import error_responses
from service.users import queries
from service.users.deps import (
    AccessToken,
    ClientAddress,
    CurrentUser,
    RateLimitsDep,
    SecurityDep,
    WritingUser,
)
from service.users.schemas import (
    LoginUserRequest,
    NewUserRequest,
    UpdateUserRequest,
    UserOut,
    UserResponse,
)

router = APIRouter(
    tags=["User and Authentication"], responses=error_responses(401, 413, 422, 429)
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
    body: NewUserRequest, security: SecurityDep, limits: RateLimitsDep, address: ClientAddress
) -> UserResponse:
    """Create an account and answer it with a token (422 if the username or email is taken)."""
    await limits.hit(limits.register_per_address, "registration", address)
    await limits.hit(limits.register_per_account, "registration", body.user.email)
    await limits.hit(limits.register_per_account, "registration", body.user.username)
    user = await queries.register(security.passwords, **body.user.model_dump())
    return user_response(user, security.tokens.issue(str(user.id), user.token_version))


@router.post(
    "/users/login", name="users:login", response_model=UserResponse, summary="Existing user login"
)
async def login(
    body: LoginUserRequest, security: SecurityDep, limits: RateLimitsDep, address: ClientAddress
) -> UserResponse:
    """Exchange email and password for a token (401 with one generic message on failure)."""
    account = body.user.email.strip().lower()
    await limits.hit(limits.login_per_address, "login", address)
    # Only failures count against an account, so guessing cannot lock its owner out as quickly.
    await limits.check(limits.login_per_account, "login", account)
    try:
        user = await queries.authenticate(
            security.passwords, email=body.user.email, password=body.user.password
        )
    except Unauthorized:
        await limits.hit(limits.login_per_account, "login", account)
        raise
    return user_response(user, security.tokens.issue(str(user.id), user.token_version))


@router.get("/user", name="users:current", response_model=UserResponse, summary="Get current user")
async def current(user: CurrentUser, token: AccessToken) -> UserResponse:
    """The calling account, with the token it presented."""
    return user_response(user, token)


@router.put(
    "/user", name="users:update", response_model=UserResponse, summary="Update current user"
)
async def update(
    body: UpdateUserRequest, user: WritingUser, security: SecurityDep, token: AccessToken
) -> UserResponse:
    """Change any of email, username, password, bio and image (at least one).

    A new password revokes every earlier token; the answer carries a fresh one.
    """
    changes = body.user.changes()
    if not changes:
        raise Invalid("user", "at least one field is required")
    updated = await queries.update_user(security.passwords, user, changes)
    if updated.token_version != user.token_version:
        token = security.tokens.issue(str(updated.id), updated.token_version)
    return user_response(updated, token)
