"""The media library: `/media...` (upload, list, read, edit, delete) and the bytes themselves."""

import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from models.media import CHUNK_SIZE
from service.contract.errors import FolioError, NotFound
from service.contract.schemas import error_responses
from service.engine import deadline, detached, media_bucket
from service.media import images, queries
from service.media.deps import read_upload
from service.media.schemas import (
    MediaOut,
    MediaPageParams,
    MultipleMediaResponse,
    SingleMediaResponse,
    UpdateMediaRequest,
    clean_alt,
)
from service.media.serving import (
    CACHE_CONTROL,
    PRIVATE_CACHE_CONTROL,
    byte_range,
    etag_of,
    matches,
)
from service.media.urls import public_base
from service.observability import metrics
from service.users.deps import CurrentUser, OptionalViewer, SettingsDep, WritingUser
from service.users.roles import can_moderate, moderates

router = APIRouter(prefix="/media", tags=["Media"], responses=error_responses(401, 404, 422))

MediaId = Annotated[str, Path(alias="id", description="the media's id")]
RenditionName = Annotated[str, Path(description='"original" or a variant\'s name, e.g. "w320"')]
RENDITION = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # a field name safe in a projection
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "a JPEG, PNG, GIF or WebP image"},
                "alt": {"type": "string", "maxLength": 1000,
                        "description": "the image's text alternative"},
            },
        }}},
    }
}
UNSUPPORTED = {415: {"description": "the file is not a JPEG, PNG, GIF or WebP image"}}
# What each refusal counts as in the upload metrics.
OUTCOMES = {415: "unsupported", 422: "invalid", 413: "quota"}


def _base(request: Request, settings: Any) -> str:
    return public_base(settings.public_url, str(request.base_url))


async def _store(seconds: float, *args: Any) -> dict[str, Any]:
    """Store a processed upload under a deadline of its own (run `detached`)."""
    with deadline(seconds):
        return await queries.store_upload(*args)


@router.post(
    "",
    name="media:upload",
    status_code=status.HTTP_201_CREATED,
    response_model=SingleMediaResponse,
    summary="Upload an image",
    openapi_extra=UPLOAD_BODY,
    responses={**error_responses(413), **UNSUPPORTED},
)
async def upload_media(
    request: Request, user: WritingUser, settings: SettingsDep
) -> SingleMediaResponse:
    """Upload an image (`multipart/form-data`: `file`, optional `alt`); 201 with its URLs.

    The type comes from the bytes (415 unless JPEG, PNG, GIF or WebP); empty, truncated or
    over FOLIO_MEDIA_MAX_PIXELS answers 422. The original is stored upright and without
    metadata, with WebP variants 320, 960 and 1600 pixels wide (never upscaled). Bodies over
    FOLIO_MEDIA_MAX_BYTES and uploads past your FOLIO_MEDIA_QUOTA_BYTES answer 413.
    """
    upload = await read_upload(request, settings.media_max_bytes)
    try:
        alt = clean_alt(upload.alt)
        processed = await to_thread.run_sync(
            partial(images.process, upload.file, max_pixels=settings.media_max_pixels)
        )
        # The request's database deadline started before the body streamed in and the image
        # was processed, both at the client's pace: the writes get a budget of their own.
        media = await detached(_store, settings.operation_timeout_ms / 1000, user.id, processed,
                               alt, settings.media_quota_bytes)
    except FolioError as error:
        if error.status_code in OUTCOMES:
            metrics.media_upload(OUTCOMES[error.status_code])
        raise
    finally:
        upload.file.close()
    metrics.media_upload("stored")
    return SingleMediaResponse(media=MediaOut.from_doc(media, _base(request, settings)))


@router.get(
    "", name="media:list", response_model=MultipleMediaResponse, summary="List your media"
)
async def list_media(
    request: Request, user: CurrentUser, settings: SettingsDep,
    page: Annotated[MediaPageParams, Query()],
) -> MultipleMediaResponse:
    """Your uploads, newest first, with `mediaCount` and `nextCursor` (pass it as `cursor`)."""
    found = await queries.media_page(user.id, page.limit, page.cursor)
    base = _base(request, settings)
    return MultipleMediaResponse(
        media=[MediaOut.from_doc(doc, base) for doc in found.media],
        media_count=found.total, next_cursor=found.next_cursor,
    )


async def _visible(media: dict[str, Any], viewer_id: Any) -> None:
    """NotFound for hidden media, unless the viewer owns it or moderates (read only then)."""
    if not queries.is_hidden(media):
        return
    if viewer_id is not None and (media["owner_id"] == viewer_id or await moderates(viewer_id)):
        return
    raise NotFound("media", "not found")


@router.get(
    "/{id}", name="media:get", response_model=SingleMediaResponse, summary="Get one upload"
)
async def get_media(
    media_id: MediaId, request: Request, viewer: OptionalViewer, settings: SettingsDep
) -> SingleMediaResponse:
    """One upload; auth optional. Hidden by moderation, it is 404 to all but its owner and
    moderators."""
    media = await queries.live_media(queries.media_object_id(media_id))
    await _visible(media, None if viewer is None else viewer.id)
    return SingleMediaResponse(media=MediaOut.from_doc(media, _base(request, settings)))


@router.put(
    "/{id}", name="media:update", response_model=SingleMediaResponse,
    summary="Edit an upload's alt text", responses=error_responses(403),
)
async def update_media(
    media_id: MediaId, body: UpdateMediaRequest, request: Request, user: WritingUser,
    settings: SettingsDep,
) -> SingleMediaResponse:
    """Change the alt text of an upload of yours (403 for anyone else's)."""
    media = queries.owned(await queries.live_media(queries.media_object_id(media_id)), user.id)
    changed = await queries.set_alt(media, body.media.alt or None)
    return SingleMediaResponse(media=MediaOut.from_doc(changed, _base(request, settings)))


@router.delete(
    "/{id}", name="media:delete", status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response, summary="Delete an upload", responses=error_responses(403, 409),
)
async def delete_media(media_id: MediaId, user: WritingUser) -> Response:
    """Delete an upload of yours (a moderator may delete any): 409, naming the articles, while
    an article uses it. Its URLs answer 404 at once; its bytes go before its record does."""
    media = await queries.live_media(queries.media_object_id(media_id))
    if not can_moderate(user):
        queries.owned(media, user.id)
    await queries.delete_media(media)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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


@router.get(
    "/{id}/{rendition}", name="media:bytes",
    summary="The bytes of an upload's original or variant", response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "the bytes"},
               206: {"description": "the Range asked for, with Content-Range"},
               304: {"description": "unchanged: the ETag sent in If-None-Match"},
               416: {"description": "the Range lies outside the file"}},
)
async def media_bytes(
    media_id: MediaId,
    rendition: RenditionName,
    request: Request,
    viewer: OptionalViewer,
    if_none_match: Annotated[str | None, Header()] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The stored bytes (public; `HEAD` too): `ETag`/`If-None-Match` (304), `Range` (206), cached
    for a year (`immutable`: the bytes under a URL never change). 404 for unknown or deleted
    media; hidden media are 404 to all but their owner and moderators."""
    if not RENDITION.match(rendition):
        raise NotFound("media", "not found")
    facts = await queries.serving_facts(queries.media_object_id(media_id), rendition)
    if facts is None:
        raise NotFound("media", "not found")
    await _visible(facts, None if viewer is None else viewer.id)
    return rendition_response(
        facts["renditions"][rendition], method=request.method, if_none_match=if_none_match,
        range_header=range_, shared=not queries.is_hidden(facts),
    )


# HEAD: the same answer without a body (one operation in the OpenAPI document, the GET).
router.add_api_route(
    "/{id}/{rendition}", media_bytes, methods=["HEAD"], name="media:bytes-head",
    response_class=Response, include_in_schema=False,
)
