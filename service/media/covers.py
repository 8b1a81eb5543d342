"""Media used by articles: a cover set by `mediaId`, the media a body embeds, and their URLs.

A media cover is stored on the article with the media's id and the *paths* of its original
and variants (`/api/media/{id}/{rendition}`); the answer makes them absolute with
FOLIO_PUBLIC_URL or, unset, the request's base URL (`media_base`, from the request that
service/web/context.py binds). No HTTP here.
"""

import re
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from bson.errors import InvalidId

from models import Media
from models.media import ORIGINAL
from service.contract.errors import Invalid
from service.engine import collection
from service.media import urls
from service.media.urls import rendition_path
from service.web.context import request_base_url, request_settings

# Folio's media paths in a body, relative or absolute (any host: a moved site's old URLs
# still name its uploads). Only the id matters: it is what keeps an upload in use.
EMBEDDED = re.compile(r"/api/media/([0-9a-f]{24})(?=[/?#)\s\"'>]|$)")
MAX_EMBEDDED = 100  # media ids kept per article: a body cannot grow an unbounded array


def media_base() -> str | None:
    """FOLIO_PUBLIC_URL, or the served request's base URL (scheme, host, root path); None
    outside a request (the CLI), where paths stay relative."""
    settings = request_settings()
    if settings is None:
        return None
    if settings.public_url:
        return urls.public_base(settings.public_url, "")
    return urls.public_base(None, request_base_url() or "")


def absolute(path: str) -> str:
    """A stored media path as the absolute URL clients follow."""
    if not path.startswith("/"):
        return path  # already absolute
    base = media_base()
    return urls.absolute(base, path) if base else path


def wire_cover(stored: Any) -> Any:
    """How a stored cover renders: a media cover's paths become absolute URLs, its id text.

    A plain `{url, alt}` cover is answered as stored.
    """
    if not isinstance(stored, dict) or stored.get("media_id") is None:
        return stored
    return {
        "url": absolute(stored["url"]),
        "alt": stored["alt"],
        "media_id": str(stored["media_id"]),
        "width": stored.get("width"),
        "height": stored.get("height"),
        "content_type": stored.get("content_type"),
        "variants": {
            name: {**variant, "url": absolute(variant["url"])}
            for name, variant in (stored.get("variants") or {}).items()
        },
    }


def parse_media_id(value: str, field: str = "coverImage.mediaId") -> PydanticObjectId:
    """A media id from the API, or 422 naming the field."""
    try:
        return PydanticObjectId(ObjectId(value))
    except (InvalidId, TypeError):
        raise Invalid(field, "is not a media id") from None


async def media_cover(owner_id: PydanticObjectId, media_id: str, alt: str) -> dict[str, Any]:
    """The stored form of a cover by `mediaId`: 422 unless it is the owner's own, visible media.

    One read of `media` by `_id`. Unknown, being deleted and hidden media are "not found";
    someone else's is refused as not theirs (the media's URLs are public, so saying it exists
    reveals nothing).
    """
    field = "coverImage.mediaId"
    found = await collection(Media).find_one(
        {"_id": parse_media_id(media_id, field)},
        {"owner_id": 1, "renditions": 1, "moderation": 1, "deleting": 1},
    )
    if found is None or found.get("deleting") is not None:
        raise Invalid(field, "was not found")
    if found["owner_id"] != owner_id:
        raise Invalid(field, "is not yours: use media you uploaded")
    if found.get("moderation"):
        raise Invalid(field, "was hidden by a moderator")
    renditions = found["renditions"]
    original = renditions[ORIGINAL]
    return {
        "media_id": found["_id"],
        "url": rendition_path(found["_id"], ORIGINAL),
        "alt": alt,
        "width": original["width"],
        "height": original["height"],
        "content_type": original["content_type"],
        "variants": {
            name: {"url": rendition_path(found["_id"], name), "width": rendition["width"],
                   "height": rendition["height"], "content_type": rendition["content_type"]}
            for name, rendition in sorted(renditions.items()) if name != ORIGINAL
        },
    }


async def resolve_cover(owner_id: PydanticObjectId, fields: dict[str, Any]) -> dict[str, Any]:
    """The written fields with a cover by `mediaId` resolved to its stored form."""
    cover = fields.get("cover_image")
    if not isinstance(cover, dict):
        return fields
    if cover.get("media_id") is None:
        return {**fields, "cover_image": {"url": cover["url"], "alt": cover["alt"]}}
    return {**fields,
            "cover_image": await media_cover(owner_id, str(cover["media_id"]), cover["alt"])}


def used_media(cover: Any, body: str | None) -> list[PydanticObjectId] | None:
    """The uploads an article uses: its cover's and those its body embeds; None for none."""
    found: list[PydanticObjectId] = []
    if isinstance(cover, dict) and cover.get("media_id") is not None:
        found.append(PydanticObjectId(cover["media_id"]))
    for match in EMBEDDED.finditer(body or ""):
        media_id = PydanticObjectId(match.group(1))
        if media_id not in found:
            found.append(media_id)
        if len(found) >= MAX_EMBEDDED:
            break
    return found or None
