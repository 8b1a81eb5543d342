"""Serving a rendition's bytes: its validator, cache policy and the one byte range asked for.
Pure functions; the router builds the answer (and streams the chunks) from them.

The bytes under a rendition's URL never change (a new upload is a new media id), so the file id
is a strong ETag and the answer may be cached for a year (`immutable`).
"""

import re
from typing import Any

CACHE_CONTROL = "public, max-age=31536000, immutable"
# A hidden media's bytes are seen only by its owner and moderators: never by a shared cache.
PRIVATE_CACHE_CONTROL = "private, no-store"
RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def etag_of(rendition: dict[str, Any]) -> str:
    """The strong ETag of a rendition: its GridFS file id (the bytes never change under it)."""
    return f'"{rendition["file_id"]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weakly compared, as RFC 9110 says for it) or `*`."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """The one range a Range header asks for, as (first, last) inclusive; None to send the whole
    body (no header, a malformed one, several ranges, another unit: RFC 9110 lets a server
    ignore those); False when it cannot be satisfied (416)."""
    if not header:
        return None
    found = RANGE.match(header)
    if found is None:
        return None
    start, end = found.groups()
    if not start and not end:
        return None
    if not start:  # the last N bytes
        length = int(end)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if end and int(end) < first:
        return None  # invalid: ignored
    if first >= size:
        return False
    return first, last
