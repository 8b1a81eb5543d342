"""Profiles and following: `/profiles/{username}` and `/profiles/{username}/follow`."""

from fastapi import APIRouter

from service.contract.schemas import error_responses
from service.profiles import queries
from service.profiles.schemas import Profile, ProfileResponse
from service.users.deps import OptionalViewerId, WritingUser

router = APIRouter(
    prefix="/profiles", tags=["Profile"], responses=error_responses(401, 404, 413, 422, 429)
)


@router.get(
    "/{username}", name="profiles:get", response_model=ProfileResponse, summary="Get a profile"
)
async def get_profile(username: str, viewer_id: OptionalViewerId) -> ProfileResponse:
    """A user's profile; `following` is filled for a signed-in viewer."""
    user = await queries.user_by_username(username)
    following = await queries.is_following(viewer_id, user.id)  # type: ignore[arg-type]
    return ProfileResponse(profile=Profile.from_user(user, following=following))


@router.post(
    "/{username}/follow",
    name="profiles:follow",
    response_model=ProfileResponse,
    summary="Follow a user",
)
async def follow(username: str, viewer: WritingUser) -> ProfileResponse:
    """Follow a user (idempotent); following yourself answers 422."""
    user = await queries.user_by_username(username)
    await queries.follow(viewer, user)
    return ProfileResponse(profile=Profile.from_user(user, following=True))


@router.delete(
    "/{username}/follow",
    name="profiles:unfollow",
    response_model=ProfileResponse,
    summary="Unfollow a user",
)
async def unfollow(username: str, viewer: WritingUser) -> ProfileResponse:
    """Stop following a user (idempotent)."""
    user = await queries.user_by_username(username)
    await queries.unfollow(viewer.id, user)  # type: ignore[arg-type]
    return ProfileResponse(profile=Profile.from_user(user, following=False))
