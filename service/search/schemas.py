"""Wire shapes of the search domain."""

from service.articles.schemas import ArticleListItem
from service.schemas import WireModel


class TagFacet(WireModel):
    """How many matches carry a tag."""

    tag: str
    count: int


class AuthorFacet(WireModel):
    """How many matches an author wrote."""

    username: str
    count: int


class SearchFacets(WireModel):
    """Counts over all matches (not just the page), by count descending then name; top 20 each."""

    tags: list[TagFacet]
    authors: list[AuthorFacet]


class SearchResponse(WireModel):
    """A page of matching articles, the total number of matches, and facets."""

    articles: list[ArticleListItem]
    articles_count: int
    next_cursor: str | None = None
    facets: SearchFacets
