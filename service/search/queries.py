"""Search: one aggregation for the page, the total and the facets. No HTTP here."""

from typing import Any

from beanie import PydanticObjectId

from models import Article
from service.articles.reads import LIST_FIELDS, ArticleQuery, add_viewer_flags
from service.contract.cursors import offset_cursor
from service.contract.schemas import MAX_OFFSET
from service.engine import collection, text_search_stages
from service.profiles.queries import author_stages

FACET_SIZE = 20
# The best matches a search considers: its page, total and facets come from these alone. With
# the `$limit` right after the relevance `$sort`, MongoDB keeps only the top ones while sorting
# (a bounded top-k sort) instead of sorting, and faceting, every match in memory.
SEARCH_CANDIDATES = 1_000


def facet_counts(result: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The one document a `$facet` pipeline returns, and its `total` count (0 when empty)."""
    facets = result[0] if result else {"total": [], "page": []}
    return facets, facets["total"][0]["n"] if facets["total"] else 0


def search_pipeline(
    search_stages: list[dict[str, Any]], *, offset: int, limit: int
) -> list[dict[str, Any]]:
    """The best SEARCH_CANDIDATES matches in relevance order, then in one `$facet`: their
    number, a page and tag/author counts."""
    return [
        *search_stages,
        {"$limit": SEARCH_CANDIDATES},
        {"$project": LIST_FIELDS},
        {
            "$facet": {
                "total": [{"$count": "n"}],
                "page": [{"$skip": offset}, {"$limit": limit}, *author_stages(LIST_FIELDS)],
                "tags": [
                    {"$unwind": "$tag_list"},
                    {"$group": {"_id": "$tag_list", "count": {"$sum": 1}}},
                    {"$sort": {"count": -1, "_id": 1}},
                    {"$limit": FACET_SIZE},
                    {"$project": {"_id": 0, "tag": "$_id", "count": 1}},
                ],
                "authors": [
                    {"$group": {"_id": "$author_id", "count": {"$sum": 1}}},
                    {
                        "$lookup": {
                            "from": "users",
                            "localField": "_id",
                            "foreignField": "_id",
                            "as": "user",
                        }
                    },
                    {"$unwind": "$user"},
                    {"$project": {"_id": 0, "username": "$user.username", "count": 1}},
                    {"$sort": {"count": -1, "username": 1}},
                    {"$limit": FACET_SIZE},
                ],
            }
        },
    ]


async def search_articles(
    text: str,
    query: ArticleQuery,
    viewer_id: PydanticObjectId | None,
    *,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """Search live articles matching the filters: page with viewer flags, total and facets."""
    if query.match is None:
        return {"articles": [], "articles_count": 0, "facets": {"tags": [], "authors": []}}
    stages = text_search_stages(text, query.match)
    result = await collection(Article).aggregate(
        search_pipeline(stages, offset=offset, limit=limit)
    ).to_list(length=1)
    facets, total = facet_counts(result)
    page = await add_viewer_flags(facets["page"], viewer_id)
    # Relevance order has no key to continue from, so a search cursor carries the next offset.
    following = offset + limit
    return {
        "articles": page,
        "articles_count": total,
        # No cursor past the deepest offset a cursor may carry (it would only be refused).
        "next_cursor": offset_cursor(following)
        if following < total and following <= MAX_OFFSET else None,
        "facets": {"tags": facets.get("tags", []), "authors": facets.get("authors", [])},
    }
