"""Serving a rendition's bytes over HTTP: validators, ranges and the streamed body.

The bytes under a rendition's URL never change (a new upload is a new media id), so the file id
is a strong ETag and the answer may be cached for a year (`immutable`). A Range reads only the
chunks it spans; the body streams chunk by chunk, never the whole file in memory.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Response
from fastapi.responses import StreamingResponse

from models.media import CHUNK_SIZE
from service.engine import media_bucket
from service.observability import metrics

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


async def _stream(file_id: Any, first: int, last: int) -> AsyncIterator[bytes]:
    """Bytes `first`..`last` of a file, read chunk by chunk (only the chunks they span)."""
    first_chunk, last_chunk = first // CHUNK_SIZE, last // CHUNK_SIZE
    position = first_chunk * CHUNK_SIZE
    async for data in media_bucket().read(file_id, first_chunk, last_chunk):
        begin = max(first - position, 0)
        end = min(last + 1 - position, len(data))
        if begin < end:
            yield data[begin:end]
        position += len(data)


def rendition_response(
    rendition: dict[str, Any],
    *,
    method: str,
    if_none_match: str | None,
    range_header: str | None,
    shared: bool,
) -> Response:
    """The answer for one rendition: 304, 416, 206 or 200 (HEAD: the same headers, no body).

    `shared`: whether any cache may keep it (False for a hidden media shown to its owner).
    """
    etag = etag_of(rendition)
    size = int(rendition["size"])
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL if shared else PRIVATE_CACHE_CONTROL,
        "Accept-Ranges": "bytes",
        # X-Content-Type-Options: nosniff comes with every answer (RequestContext).
    }
    if matches(if_none_match, etag):
        metrics.media_served("not_modified")
        return Response(status_code=304, headers=headers)
    wanted = byte_range(range_header, size)
    if wanted is False:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    content_type = rendition["content_type"]
    if wanted is None:
        first, last, status = 0, size - 1, 200
    else:
        first, last = wanted
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1)
    metrics.media_served("partial" if status == 206 else "full")
    if method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers, media_type=content_type)
    return StreamingResponse(
        _stream(rendition["file_id"], first, last), status_code=status, headers=headers,
        media_type=content_type,
    )
