"""Wire conventions shared by every domain: camelCase JSON, timestamps, pagination."""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from models.common import to_milliseconds

# Offsets past this answer 422: deep offset pages cost a scan of everything before them.
MAX_OFFSET = 10_000
MAX_LIMIT = 100


# The characters XML 1.0 forbids (§2.2): C0 controls but tab, LF and CR; U+FFFE and U+FFFF; and
# surrogates, which are never characters on their own. Text that holds one cannot appear in an
# Atom feed, so every text field of every write refuses them (422), and every renderer replaces
# any that stored or imported data still holds.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"
FORBIDDEN_CHARACTER = "forbidden_character"
FORBIDDEN_MESSAGE = (
    "contains {character}: text may not hold control characters other than tab, line feed and "
    "carriage return, U+FFFE, U+FFFF or lone surrogates"
)
TEXT_RULE = (
    "Text fields refuse the characters XML 1.0 forbids: C0 control characters other than tab, "
    "line feed and carriage return, U+FFFE, U+FFFF and lone surrogates."
)


def forbidden_character(value: str) -> str | None:
    """The first character of `value` that XML 1.0 forbids, as `U+XXXX`; None if there is none."""
    found = XML_FORBIDDEN.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def refuse_forbidden(value: str) -> str:
    """Refuse text holding a character XML 1.0 forbids (the one policy for every text field)."""
    character = forbidden_character(value)
    if character is not None:
        raise PydanticCustomError(FORBIDDEN_CHARACTER, FORBIDDEN_MESSAGE, {"character": character})
    return value


def printable(value: str) -> str:
    """`value` with every character XML 1.0 forbids replaced by U+FFFD: what renderers emit, so
    that stored or imported text can never break a page or a feed."""
    return XML_FORBIDDEN.sub(REPLACEMENT, value)


def Text(  # noqa: N802  (a type, like pydantic's constr)
    max_length: int,
    *,
    min_length: int | None = None,
    strip: bool = True,
    blank: bool = False,
    pattern: str | None = None,
) -> Any:
    """The one string type of request bodies: at most `max_length` characters, no character XML
    1.0 forbids, stripped unless `strip` is False (Markdown keeps its white space), and not
    blank unless `blank`. Wrap it in `Annotated[Text(...), ...]` to add rules after these."""
    validators = [AfterValidator(refuse_forbidden)]
    if not blank:
        validators.append(AfterValidator(not_blank))
    return Annotated[
        str,
        StringConstraints(
            strip_whitespace=strip, min_length=min_length, max_length=max_length, pattern=pattern
        ),
        *validators,
    ]


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, e.g. 2026-01-02T03:04:05.678Z.

    Every answer formats a few of these per article, so this stays in C: `isoformat` pads the
    year to four digits and truncates to milliseconds, as MongoDB stores them.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


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

MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, tzinfo=UTC)


def _bounded_instant(value: datetime) -> datetime:
    """An instant in UTC at MongoDB's millisecond precision; a zone-less time is taken as UTC."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59, past year 9999 in UTC
        raise ValueError("must be between years 1970 and 9999") from None
    if not MIN_INSTANT <= value <= MAX_INSTANT:
        raise ValueError("must be between years 1970 and 9999")
    return to_milliseconds(value)


def _zoned(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. 2026-12-31T00:00:00Z")
    return value


# The one datetime type of request bodies: ISO 8601, from 1970 to 9999 once in UTC, stored at
# millisecond precision. `ZonedInstant` also refuses a time without a zone.
Instant = Annotated[datetime, AfterValidator(_bounded_instant)]
ZonedInstant = Annotated[datetime, AfterValidator(_zoned), AfterValidator(_bounded_instant)]

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


def _is_null(value: object) -> bool:
    return value is None


class SparseWireModel(WireModel):
    """A response body whose `OMITTED_WHEN_NULL` fields are left out while null.

    For Folio's additive fields (`moderation`, `suspension`) on RealWorld shapes: a plain
    RealWorld client then sees exactly the keys it knows.
    """

    OMITTED_WHEN_NULL: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Leave each `OMITTED_WHEN_NULL` field out of dumps while it is null.

        A field-level `exclude_if` is checked inside pydantic-core; a model-level wrap
        serializer doing the same ran Python for every item of every page (about 2.5 µs an
        article). The schema, and so the OpenAPI document, is unchanged.
        """
        super().__pydantic_init_subclass__(**kwargs)
        changed = False
        for name in cls.OMITTED_WHEN_NULL:
            info = cls.model_fields[name]
            if info.exclude_if is not _is_null:
                info.exclude_if = _is_null
                changed = True
        if changed:
            cls.model_rebuild(force=True)


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
