"""Wire shapes of the users domain: registration, login, the current user."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from service.schemas import RequestModel, WireModel, web_url
from service.users.names import normalise_username, single_script

USERNAME_PATTERN = r"^\w[\w.\-]*$"
CLEARED_BY_NULL = {"bio": "", "image": ""}
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _normalise_email(value: str) -> str:
    """Lower-case an address and check its rough shape (one @, a dotted domain)."""
    value = value.strip().lower()
    if not EMAIL_PATTERN.match(value):
        raise ValueError("is not a valid email address")
    return value


def _blank_means_unchanged(value: object) -> object:
    return None if value == "" else value


Username = Annotated[
    str,
    BeforeValidator(normalise_username),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=USERNAME_PATTERN),
    AfterValidator(single_script),
    Field(
        description=(
            "1–40 letters, digits, `_`, `.` or `-`, starting with a letter, digit or `_`; "
            "normalised to NFKC, letters from one script only, and unique ignoring case"
        )
    ),
]
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_normalise_email),
    Field(description="an email address; stored lower-cased"),
]
Password = Annotated[
    str, StringConstraints(min_length=8, max_length=128), Field(description="8–128 characters")
]
Bio = Annotated[str, StringConstraints(max_length=1000)]


def _web_url_or_blank(value: str) -> str:
    """An absolute http(s) URL, or empty for no image."""
    return web_url(value) if value else value


ImageUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(_web_url_or_blank)
]


class NewUser(RequestModel):
    """Registration details."""

    username: Username
    email: Email
    password: Password


class NewUserRequest(RequestModel):
    """The `user` envelope of a registration."""

    user: NewUser


class LoginUser(RequestModel):
    """Login credentials."""

    email: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class LoginUserRequest(RequestModel):
    """The `user` envelope of a login."""

    user: LoginUser


class UpdateUser(RequestModel):
    """Fields of the current user to change; at least one is required.

    An empty password means "unchanged", as settings forms send one when left blank.
    """

    READ_ONLY = frozenset({"token"})

    email: Email | None = None
    username: Username | None = None
    password: Annotated[Password | None, BeforeValidator(_blank_means_unchanged)] = None
    bio: Bio | None = None
    image: ImageUrl | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the client sent; null clears bio and image and leaves the others alone."""
        return self.sent_fields(CLEARED_BY_NULL)


class UpdateUserRequest(RequestModel):
    """The `user` envelope of an update."""

    user: UpdateUser


class UserOut(WireModel):
    """The current user, with a token for the Authorization header."""

    email: str
    token: str
    username: str
    bio: str
    image: str


class UserResponse(WireModel):
    """The `user` envelope."""

    user: UserOut
