"""Wire shapes of the profiles domain."""

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from models import User
from service.contract.schemas import NullableProfileText, WireModel


class Profile(WireModel):
    """A user as others see them, with whether the viewer follows them."""

    username: str
    bio: NullableProfileText = Field(default=None, description="null until set")
    image: NullableProfileText = Field(default=None, description="an http(s) URL; null until set")
    following: bool

    @classmethod
    def from_user(cls, user: User, *, following: bool) -> "Profile":
        """Build from a user document."""
        return cls(username=user.username, bio=user.bio, image=user.image, following=following)

    @classmethod
    def from_author(cls, author: Mapping[str, Any], *, following: bool) -> "Profile":
        """Build from the `author` sub-document a pipeline's `$lookup` attached."""
        return cls(
            username=author["username"],
            bio=author.get("bio"),
            image=author.get("image"),
            following=following,
        )


class ProfileResponse(WireModel):
    """The `profile` envelope."""

    profile: Profile


def public_profile(author: Mapping[str, Any]) -> dict[str, Any]:
    """A user's profile as an anonymous reader sees it, in wire form (an event's payload)."""
    return Profile.from_author(author, following=False).model_dump(mode="json", by_alias=True)
