"""Conditional requests (RFC 9110 §13): entity tags, If-None-Match and If-Match. HTTP only."""

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel
from starlette.responses import Response

from service.contract.versions import version_of

# A GET's conditional header: with the current ETag, the answer is 304 with no body.
IfNoneMatch = Annotated[str | None, Header(description="an ETag from an earlier GET")]


def digest(document: bytes) -> str:
    """A short digest of a representation, for an entity tag."""
    return hashlib.sha256(document).hexdigest()[:16]


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names this tag (weak comparison, §13.1.2): answer 304 if so."""
    if if_none_match is None:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in _tags(if_none_match))


def match_tags(if_match: str) -> list[str] | None:
    """The opaque tags If-Match names, strong ones only (§13.1.1: a weak tag never matches);
    None for `*`, which any current representation satisfies."""
    tags = _tags(if_match)
    if "*" in tags:
        return None
    return [tag.strip('"') for tag in tags if not tag.startswith("W/") and tag.startswith('"')]


def _version_part(document: dict[str, Any]) -> str:
    """The part of a document's tags that names its version: `<id>-<version>-`."""
    return f"{document['_id']}-{version_of(document)}-"


def versioned_tag(document: dict[str, Any], representation: str) -> str:
    """A strong entity tag, `"<id>-<version>-<digest of this representation>"`.

    The digest makes a 304 safe (a count or a viewer flag that moved changes the tag); the
    version is what If-Match compares, so a favorite never makes an editor's write fail.
    """
    return f'"{_version_part(document)}{representation}"'


def must_match_version(
    document: dict[str, Any], if_match: str | None, stale: Callable[[], Exception]
) -> bool:
    """Whether a write must be at the version read: False without If-Match or with `*` (any
    current document will do, and this one exists); raises `stale()` at once if it names
    another version."""
    if if_match is None:
        return False
    tags = match_tags(if_match)
    if tags is None:
        return False
    if not any(tag.startswith(_version_part(document)) for tag in tags):
        raise stale()
    return True


def tagged_response(
    document: dict[str, Any], envelope: BaseModel, if_none_match: str | None = None
) -> Response:
    """The envelope's JSON with the document's versioned ETag; 304 with no body when
    If-None-Match names that tag."""
    body = envelope.model_dump_json(by_alias=True).encode()
    etag = versioned_tag(document, digest(body))
    if none_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})
