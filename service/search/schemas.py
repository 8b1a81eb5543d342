"""Wire shapes of the search domain."""

from pydantic import Field

from service.articles.schemas import ArticleListItem
from service.contract.schemas import WireModel


class TagFacet(WireModel):
    """How many matches carry a tag."""

    tag: str
    count: int


class AuthorFacet(WireModel):
    """How many matches an author wrote."""

    username: str
    count: int


class SearchFacets(WireModel):
    """Counts over the best 1,000 matches (not just the page), by count descending then name;
    top 20 each."""

    tags: list[TagFacet]
    authors: list[AuthorFacet]


class SearchResponse(WireModel):
    """A page of the best matching articles, how many of the best 1,000 matches there are, and
    facets over them."""

    articles: list[ArticleListItem]
    articles_count: int = Field(
        description="matches considered, at most 1,000 (SEARCH_CANDIDATES): a search keeps only "
        "the best 1,000 by relevance, and its pages and facets come from those"
    )
    next_cursor: str | None = None
    facets: SearchFacets
