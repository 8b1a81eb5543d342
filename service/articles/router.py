"""Articles, the feed and favorites: `/articles...`."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from service.articles import reads, rendering, writes
from service.articles.deps import IfVersion, OwnedArticle
from service.articles.meta import meta_filters
from service.articles.schemas import (
    ListParams,
    MultipleArticlesResponse,
    NewArticleRequest,
    SingleArticleResponse,
    UpdateArticleRequest,
)
from service.contract.conditional import IfNoneMatch, digest, none_match, versioned_tag
from service.contract.errors import Invalid
from service.contract.schemas import PageParams, error_responses
from service.profiles.queries import followees_at
from service.users.deps import (
    OptionalViewer,
    ReadingFeed,
    WritingUser,
)
from service.web.query import QueryModel

router = APIRouter(
    prefix="/articles",
    tags=["Articles"],
    responses=error_responses(401, 403, 404, 409, 413, 422, 429),
)

# The list's and the feed's query strings, each validated in one call (service/web/query.py):
# the hottest reads of the API, where FastAPI's field-by-field reading cost more than the rest.
LIST_QUERY = QueryModel(ListParams)
PAGE_QUERY = QueryModel(PageParams)


def multiple(page: reads.ArticlePage) -> Response:
    """The `articles` envelope with the total number of matches and the next page's cursor.

    Built once from the rows (service/articles/rendering.py) and sent as it is: the route's
    `response_model` documents the shape, and tests/test_rendering.py holds the bytes to it.
    """
    body = rendering.page_body(page.articles, page.total, page.next_cursor)
    return Response(body, media_type="application/json")


@router.get(
    "",
    name="articles:list",
    response_model=MultipleArticlesResponse,
    summary="Get recent articles globally",
    openapi_extra=LIST_QUERY.openapi,
)
async def list_articles(
    request: Request, viewer: OptionalViewer, params: Annotated[ListParams, Depends(LIST_QUERY)]
) -> Response:
    """Newest articles first, filtered by tag, author, who favorited them and `meta.<key>=value`.

    Auth is optional. Any number (up to 5) of `meta.<key>=<value>` parameters filter on the
    article's metadata; the value matches as the number or boolean it parses as, or as text.
    """
    filters = reads.ArticleFilters(
        params.tag, params.author, params.favorited, params.status,
        meta_filters(list(request.query_params.items())),
    )
    query = await reads.resolve_filters(filters, viewer)
    viewer_id = None if viewer is None else viewer.id
    return multiple(
        await reads.article_page(
            query, viewer_id, offset=params.offset, limit=params.limit, cursor=params.cursor
        )
    )


@router.get(
    "/feed",
    name="articles:feed",
    response_model=MultipleArticlesResponse,
    summary="Get recent articles from users you follow",
    openapi_extra=PAGE_QUERY.openapi,
)
async def feed(reader: ReadingFeed, page: Annotated[PageParams, Depends(PAGE_QUERY)]) -> Response:
    """Newest articles by the authors the caller follows: the 200 most recently followed, when
    they follow more."""
    authors = await followees_at(reader.id, reader.follows_version)
    return multiple(
        await reads.article_page(
            reads.feed_query(authors, reader.id, reader.follows_version), reader.id,
            offset=page.offset, limit=page.limit,
            cursor=page.cursor, follows_every_author=True,
        )
    )


@router.post(
    "",
    name="articles:create",
    status_code=status.HTTP_201_CREATED,
    response_model=SingleArticleResponse,
    summary="Create an article",
)
async def create_article(body: NewArticleRequest, user: WritingUser) -> SingleArticleResponse:
    """Publish an article; its slug comes from the title, with a suffix if taken."""
    article = await writes.create_article(user, body.article.model_dump())
    article["favorited"] = False
    article["author"]["following"] = False
    return SingleArticleResponse.of(article)


def with_tag(article: dict[str, Any], if_none_match: str | None = None) -> Response:
    """The article's JSON with its versioned ETag (see `versioned_tag`); 304 and no body when
    If-None-Match names that tag. The JSON is built once (service/articles/rendering.py)."""
    body = rendering.single_body(article)
    etag = versioned_tag(article, digest(body))
    if none_match(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


@router.get(
    "/{slug}",
    name="articles:get",
    response_model=SingleArticleResponse,
    summary="Get an article",
    responses={304: {"description": "unchanged since the ETag sent in If-None-Match"}},
)
async def get_article(
    slug: str,
    viewer: OptionalViewer,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One article, body included; auth optional. Its `ETag` serves If-None-Match and If-Match."""
    article = await reads.article_by_slug(slug, viewer, with_flags=True)
    return with_tag(article, if_none_match)


@router.put(
    "/{slug}",
    name="articles:update",
    response_model=SingleArticleResponse,
    summary="Update an article",
    responses=error_responses(412),
)
async def update_article(
    body: UpdateArticleRequest, user: WritingUser, article: OwnedArticle, if_version: IfVersion
) -> Response:
    """Change an article you wrote; a new title gives a new slug.

    With `If-Match` (an ETag from GET), the change applies only if nobody changed the article
    since: otherwise 412, and nothing is written.
    """
    changes = body.article.changes()
    if not changes:
        raise Invalid("article", "at least one field is required")
    updated = await writes.update_article(article, user, changes, if_version=if_version)
    await reads.add_viewer_flags([updated], user.id)
    return with_tag(updated)


@router.delete(
    "/{slug}",
    name="articles:delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete an article",
    responses=error_responses(412),
)
async def delete_article(
    request: Request, article: OwnedArticle, if_version: IfVersion
) -> Response:
    """Delete an article you wrote, with its comments and favorites (honours If-Match)."""
    await request.app.state.deletions.delete_article(article, if_version=if_version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
