"""Wire shapes of the media library: the `media` envelope, lists, and the alt text edit."""

from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from models.media import ORIGINAL
from service.contract.errors import Invalid
from service.contract.schemas import MAX_LIMIT, RequestModel, Text, Timestamp, WireModel
from service.media.urls import absolute, rendition_path

ALT_MAX = 1000
AltText = Annotated[Text(ALT_MAX, blank=True), Field(description="the image's text alternative")]
_alt = TypeAdapter(AltText)


def clean_alt(value: str | None) -> str | None:
    """The multipart `alt` part checked as the JSON one is: stripped, bounded, no character XML
    1.0 forbids; blank means none. Invalid (422, field `alt`) otherwise."""
    if value is None:
        return None
    try:
        checked = _alt.validate_python(value)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first.get("ctx", {}).get("error", "")) or first.get("msg", "is invalid")
        if first.get("type") == "string_too_long":
            message = f"is too long (maximum is {ALT_MAX} characters)"
        raise Invalid("alt", message) from None
    return checked or None


class VariantOut(WireModel):
    """One resized rendition."""

    url: str
    width: int
    height: int
    content_type: str


class MediaOut(WireModel):
    """One upload as the API shows it: the original's URL and facts, and each variant's."""

    id: str
    url: str
    content_type: str
    size: int
    width: int
    height: int
    alt: str | None
    variants: dict[str, VariantOut]
    created_at: Timestamp

    @classmethod
    def from_doc(cls, doc: dict[str, Any], base: str) -> "MediaOut":
        """Build from a `media` document; URLs absolute on `base`."""
        media_id = str(doc["_id"])
        renditions = doc["renditions"]
        original = renditions[ORIGINAL]

        def url(name: str) -> str:
            return absolute(base, rendition_path(media_id, name))

        return cls(
            id=media_id,
            url=url(ORIGINAL),
            content_type=original["content_type"],
            size=original["size"],
            width=original["width"],
            height=original["height"],
            alt=doc.get("alt"),
            variants={
                name: VariantOut(url=url(name), width=r["width"], height=r["height"],
                                 content_type=r["content_type"])
                for name, r in renditions.items() if name != ORIGINAL
            },
            created_at=doc["created_at"],
        )


class SingleMediaResponse(WireModel):
    """The `media` envelope."""

    media: MediaOut


class MultipleMediaResponse(WireModel):
    """Your media, newest first, how many you have, and the next page's cursor."""

    media: list[MediaOut]
    media_count: int = Field(description="every upload of yours")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last one"
    )


class MediaPageParams(BaseModel):
    """Paging of your media: a page size and the previous page's `nextCursor`."""

    limit: int = Field(default=20, ge=1, le=MAX_LIMIT, description="uploads per page")
    cursor: str | None = Field(
        default=None, max_length=512,
        description="`nextCursor` of the previous page: continues after it, stable under uploads",
    )


class MediaChange(RequestModel):
    """The fields of an upload you may change."""

    alt: AltText | None = None


class UpdateMediaRequest(RequestModel):
    """The `media` envelope of an edit."""

    media: MediaChange
