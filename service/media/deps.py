"""Media dependencies: an upload's multipart body, bounded while it streams and spooled to a
temporary file.

Starlette's multipart parser (on python-multipart) writes the `file` part to a spooled
temporary file (in memory up to 1 MiB, then on disk); the stream it reads is counted, so a
body without Content-Length (chunked) is refused with 413 as soon as it passes the limit.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.contract.errors import FolioError, Invalid
from service.observability import metrics


class TooLarge(FolioError):
    """The body is over FOLIO_MEDIA_MAX_BYTES (413)."""

    status_code = 413


def too_large(limit: int) -> TooLarge:
    """The 413 of a body over the upload limit (counted in the upload metrics)."""
    metrics.media_upload("too_large")
    return TooLarge("body", f"must be at most {limit} bytes")


@dataclass
class Upload:
    """The parts of an upload: the file, spooled, and the alt text if sent."""

    file: IO[bytes]
    alt: str | None


async def _counted(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request's body, refused (413) once it passes `limit` bytes."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        yield chunk


async def read_upload(request: Request, limit: int) -> Upload:
    """The `file` and `alt` parts of a multipart upload; 413 past `limit`, 422 without a file."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Invalid("body", "must be multipart/form-data with a `file` part")
    parser = MultiPartParser(request.headers, _counted(request, limit), max_files=1, max_fields=4)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise Invalid("body", f"is not a valid multipart body: {error.message}") from None
    file, alt = form.get("file"), form.get("alt")
    if not isinstance(file, UploadFile):
        await form.close()
        raise Invalid("file", "can't be blank")
    if alt is not None and not isinstance(alt, str):
        await form.close()
        raise Invalid("alt", "must be text")
    return Upload(file=file.file, alt=alt)
