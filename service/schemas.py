"""Wire conventions shared by every domain: camelCase JSON, timestamps, pagination."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# Offsets past this answer 422: deep offset pages cost a scan of everything before them.
MAX_OFFSET = 10_000
MAX_LIMIT = 100


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, e.g. 2026-01-02T03:04:05.678Z."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def not_blank(value: str) -> str:
    """Reject text that is only white space, with the RealWorld wording."""
    if not value.strip():
        raise ValueError("can't be blank")
    return value


def web_url(value: str) -> str:
    """Accept only absolute http(s) URLs: no `javascript:`, `data:` or scheme-relative links."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http or https URL")
    return value


def _blank_is_null(value: object) -> object:
    return None if value == "" else value


# `bio` and `image` in every user, profile and author: null until set. An empty string stored
# before RealWorld 2.0 reads as null too.
NullableProfileText = Annotated[str | None, BeforeValidator(_blank_is_null)]

Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-01-02T03:04:05.678Z"}),
]


class WireModel(BaseModel):
    """Base for request and response bodies: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def sent_fields(self, cleared_by_null: Mapping[str, Any]) -> dict[str, Any]:
        """The fields the client sent, for a partial update.

        A null resets the fields named in `cleared_by_null` to the value given there; for any
        other field a null means "leave it as it is".
        """
        sent = self.model_dump(include=self.model_fields_set)
        return {
            field: cleared_by_null[field] if value is None else value
            for field, value in sent.items()
            if value is not None or field in cleared_by_null
        }


class SparseWireModel(WireModel):
    """A response body whose `OMITTED_WHEN_NULL` fields are left out while null.

    For Folio's additive fields (`moderation`, `suspension`) on RealWorld shapes: a plain
    RealWorld client then sees exactly the keys it knows.
    """

    OMITTED_WHEN_NULL: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_nulls(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for field in self.OMITTED_WHEN_NULL:
            info = type(self).model_fields[field]
            for key in (field, info.alias):
                if key in data and data[key] is None:
                    del data[key]
        return data


class RequestModel(WireModel):
    """Base for request bodies: unknown fields answer 422 (no mass assignment).

    Fields the server owns that clients commonly echo back from a response they received
    (`READ_ONLY`, e.g. an article's `slug` or `favoritesCount`) are dropped, never applied.
    """

    model_config = ConfigDict(extra="forbid")
    READ_ONLY: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.READ_ONLY:
            return {key: value for key, value in data.items() if key not in cls.READ_ONLY}
        return data


class ErrorEnvelope(BaseModel):
    """Every error: `{"errors": {"<field or resource>": ["<message>", ...]}}`."""

    errors: dict[str, list[str]]


ERROR_MEANINGS = {
    401: "missing, invalid, expired or revoked token",
    403: "the resource belongs to someone else",
    404: "no such resource (or not visible to the caller)",
    409: "the request collides with current state",
    412: "If-Match names a version that is no longer current; nothing was written",
    413: "request body over the size limit",
    422: "invalid request (the key names the field)",
    429: "rate limit reached; see Retry-After",
    500: "unexpected error; the message carries the request id",
    503: "the database cannot be reached, or is busy (no free connection, or write conflicts on "
    "a busy article until the request's time ran out); see Retry-After",
    504: "the request's database work ran out of its time budget (FOLIO_OPERATION_TIMEOUT_MS)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the error statuses a router answers, all with the envelope."""
    return {
        code: {"model": ErrorEnvelope, "description": ERROR_MEANINGS[code]}
        for code in sorted({*codes, 500, 503, 504})
    }


class PageParams(BaseModel):
    """Offset pagination, as the RealWorld spec defines it."""

    limit: int = Field(default=20, ge=1, le=MAX_LIMIT, description="items per page")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="items to skip")
    cursor: str | None = Field(
        default=None,
        max_length=512,
        description="`nextCursor` of the previous page: continues after it, stable under inserts "
        "(instead of offset)",
    )

    @model_validator(mode="after")
    def _one_way_of_paging(self) -> "PageParams":
        if self.cursor is not None and self.offset:
            raise PydanticCustomError(
                "paging", "{message}", {"field": "cursor", "message": "use either offset or cursor"}
            )
        return self
