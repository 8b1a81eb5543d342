"""Atom feeds for readers: `/feeds/articles.atom`, outside `/api` like any site's feed."""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Query, Request, Response, status

from service.contract.conditional import digest, none_match
from service.contract.errors import NotFound
from service.contract.schemas import error_responses
from service.feeds import queries

ATOM = "application/atom+xml"
FILTER_MAX_LENGTH = 64

router = APIRouter(prefix="/feeds", tags=["Feeds"], responses=error_responses(404))


def _filter(value: str | None) -> str | None:
    """A filter as given; a blank or over-long one names nothing, which Atom clients see as 404."""
    if value is not None and (not value.strip() or len(value) > FILTER_MAX_LENGTH):
        raise NotFound("feed", "no such feed")
    return value


@router.get(
    "/articles.atom",
    name="feeds:articles",
    response_class=Response,
    summary="Atom feed of the newest articles",
    responses={
        200: {"content": {ATOM: {"schema": {"type": "string"}}},
              "description": "Atom 1.0: the newest 50 live articles, full HTML bodies"},
        304: {"description": "unchanged since the ETag sent in If-None-Match"},
    },
)
async def articles_feed(
    request: Request,
    tag: Annotated[str | None, Query(description="only articles with this tag")] = None,
    author: Annotated[str | None, Query(description="only articles by this username")] = None,
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The newest 50 live articles, optionally by tag or author; 404 for unknown filters."""
    articles = await queries.feed_articles(_filter(tag), _filter(author))
    site = (request.app.state.settings.site_url or "").rstrip("/")
    api = str(request.base_url).rstrip("/")

    def article_url(slug: str) -> str:
        # The reading site's page when FOLIO_SITE_URL is set (RealWorld frontends' route),
        # else the article in the API.
        return f"{site}/article/{slug}" if site else f"{api}/api/articles/{slug}"

    document = queries.atom_document(
        articles,
        title=queries.feed_title(tag, author),
        self_url=str(request.url),
        authority=urlsplit(site).hostname if site else request.url.hostname,
        article_url=article_url,
    )
    etag = f'W/"{digest(document)}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if none_match(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(document, media_type=ATOM, headers=headers)
