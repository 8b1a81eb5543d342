"""The media library's request dependencies."""

from fastapi import Request

from service.media.covers import base_url


async def bind_base_url(request: Request) -> None:
    """Remember FOLIO_PUBLIC_URL, or else the request's base URL, for the media URLs the
    answer carries: the answer is built without the request at hand."""
    public = request.app.state.settings.public_url
    base_url.set((public or str(request.base_url)).rstrip("/"))
