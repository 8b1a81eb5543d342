"""Wire shapes of the users domain: registration, login, the current user."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, field_validator

from models.users import Role
from service.contract.schemas import (
    NullableProfileText,
    RequestModel,
    SparseWireModel,
    Text,
    Timestamp,
    WireModel,
    web_url,
)
from service.users.names import normalise_username, single_script

USERNAME_PATTERN = r"^\w[\w.\-]*$"
CLEARED_BY_NULL = {"bio": None, "image": None}
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _normalise_email(value: str) -> str:
    """Lower-case an address and check its rough shape (one @, a dotted domain)."""
    value = value.strip().lower()
    if not EMAIL_PATTERN.match(value):
        raise ValueError("is not a valid email address")
    return value


def _blank_means_unset(value: object) -> object:
    """Blank text clears the field: it is stored and answered as null, as RealWorld 2.0 says."""
    return None if isinstance(value, str) and not value.strip() else value


Username = Annotated[
    Text(40, min_length=1, pattern=USERNAME_PATTERN),
    BeforeValidator(normalise_username),
    AfterValidator(single_script),
    Field(
        description=(
            "1–40 letters, digits, `_`, `.` or `-`, starting with a letter, digit or `_`; "
            "normalised to NFKC, letters from one script only, and unique ignoring case"
        )
    ),
]
Email = Annotated[
    Text(254, strip=False, blank=True),
    AfterValidator(_normalise_email),
    Field(description="an email address; stored lower-cased"),
]
Password = Annotated[
    Text(128, min_length=8, strip=False, blank=True), Field(description="8–128 characters")
]
Bio = Text(1000, strip=False, blank=True)
ImageUrl = Annotated[Text(2048, blank=True), AfterValidator(web_url)]
# Credentials that are only compared with what is stored, never stored or shown: any text, so
# that an account made before the text policy can still sign in (tests/test_hostile_input.py).
Credential = Annotated[str, StringConstraints(min_length=1, max_length=128)]


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
    password: Credential


class LoginUserRequest(RequestModel):
    """The `user` envelope of a login."""

    user: LoginUser


class DeletingUser(RequestModel):
    """The password that confirms an account's deletion."""

    password: Credential


class DeleteUserRequest(RequestModel):
    """The `user` envelope of an account deletion."""

    user: DeletingUser


class UpdateUser(RequestModel):
    """Fields of the current user to change; at least one is required.

    Email, username and password can be left out but not blanked: `""` or `null` answers
    422 `can't be blank`, as RealWorld 2.0 requires.
    """

    READ_ONLY = frozenset({"token"})

    email: Email | None = None
    username: Username | None = None
    password: Password | None = None
    bio: Annotated[Bio | None, BeforeValidator(_blank_means_unset)] = None
    image: Annotated[ImageUrl | None, BeforeValidator(_blank_means_unset)] = None

    @field_validator("email", "username", "password", mode="before")
    @classmethod
    def _sent_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("can't be blank")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent; null or "" clears bio and image, null leaves the rest."""
        return self.sent_fields(CLEARED_BY_NULL)


class UpdateUserRequest(RequestModel):
    """The `user` envelope of an update."""

    user: UpdateUser


class SuspensionOut(WireModel):
    """Why and until when an account may not write."""

    reason: str
    until: Timestamp | None = Field(description="null: until a moderator lifts it")


class UserOut(WireModel):
    """The current user, with a token for the Authorization header."""

    email: str
    token: str
    username: str
    bio: NullableProfileText = Field(description="null until set")
    image: NullableProfileText = Field(description="an http(s) URL; null until set")


class CurrentUserOut(UserOut, SparseWireModel):
    """What `GET /api/user` answers: the user, plus Folio's `role` (shown nowhere else, never in
    public profiles) and, only while suspended, `suspension`."""

    OMITTED_WHEN_NULL = frozenset({"suspension"})

    role: Role = Field(default="author", description="author, moderator or admin (Folio)")
    suspension: SuspensionOut | None = Field(
        default=None, description="present only while suspended: writes answer 403 (Folio)"
    )


class UserResponse(WireModel):
    """The `user` envelope."""

    user: UserOut


class CurrentUserResponse(WireModel):
    """The `user` envelope of `GET /api/user`."""

    user: CurrentUserOut


class RevokedSessionsOut(WireModel):
    """How many sessions ended, and the token the caller goes on with."""

    revoked: int = Field(description="sessions of this account that were signed out")
    token: str = Field(description="the caller's token: the one sent, unless it predates sessions")


class RevokedSessionsResponse(WireModel):
    """The `sessions` envelope of a revocation."""

    sessions: RevokedSessionsOut
