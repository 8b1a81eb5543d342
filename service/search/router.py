"""Full-text search over live articles: `/search`."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints

from service.articles.reads import ArticleFilters, resolve_filters
from service.contract.cursors import offset_of
from service.contract.errors import Invalid
from service.contract.schemas import PageParams, error_responses
from service.search import queries
from service.search.schemas import SearchResponse
from service.users.deps import OptionalViewer, OptionalViewerId

router = APIRouter(prefix="/search", tags=["Search"], responses=error_responses(401, 422))


@router.get("", name="search:articles", response_model=SearchResponse, summary="Search articles")
async def search(
    request: Request,
    viewer: OptionalViewer,
    viewer_id: OptionalViewerId,
    page: Annotated[PageParams, Query()],
    q: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Query(description="the words to look for (1–200 characters)"),
    ],
    tag: Annotated[str | None, Query(max_length=64, description="only articles with this tag")] = None,
    author: Annotated[
        str | None,
        Query(max_length=64, description="only this author's; required where the deployment "
              "searches within one author (FOLIO_SEARCH_SCOPE=author)"),
    ] = None,
) -> SearchResponse:
    """Live articles matching `q`, most relevant first, with tag and author facets.

    Only the best 1,000 matches are considered: `articlesCount` (at most 1,000), the pages and
    the facets all come from them. On MongoDB, relevance comes from a text index weighting title
    over description over body; every document holding one of the words is still read before
    the best 1,000 are kept, so very common words cost more. The embedded engine matches the
    text case-insensitively instead, newest first. Where FOLIO_SEARCH_SCOPE=author, the text
    index is prefixed by the author and `author` is required (422 without it).
    """
    if author is None and request.app.state.settings.search_scope == "author":
        # The text index is prefixed by author_id: MongoDB runs no `$text` query without it.
        raise Invalid("author", "is required: this site searches within one author")
    query = await resolve_filters(ArticleFilters(tag=tag, author=author), viewer)
    offset = offset_of(page.cursor) if page.cursor else page.offset
    result = await queries.search_articles(q, query, viewer_id, offset=offset, limit=page.limit)
    return SearchResponse.model_validate(result)
