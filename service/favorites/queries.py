"""The favorite edges (`favorites`): viewer flags, a user's favorites page and its pipelines,
and the edge writes. No HTTP here.

Below articles: articles calls these inside its own reads and writes (the `favorited` flag,
the `?favorited=` list, favorite/unfavorite), so this module never imports articles; the
article fields a page carries are passed in.
"""

from collections.abc import Iterable
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import Favorite
from models.common import utc_now
from models.favorites import NEWEST_FAVORITED
from models.favorites import SCHEMA_VERSION as FAVORITE_VERSION
from service.engine import collection
from service.profiles.queries import author_stages


def favorites_page_pipeline(
    user_id: PydanticObjectId,
    article_match: dict[str, Any] | None,
    *,
    offset: int,
    limit: int,
    fields: dict[str, int],
    after: dict[str, Any] | None = None,
    scan_cap: int | None = None,
    then: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """A page of one user's favorites (the articles' `fields`), newest favorite first, with authors
    (and `then`, stages the caller joins to the page's rows: the viewer's edges).

    Driven from `favorites` by the `user_newest` index, so the edges read are bounded by the
    page however many favorites the user has; each edge joins its article by `_id`, and the
    edge's position rides along as `favorite` for the next cursor. Without `article_match`
    the page's edges are all joined (the caller drops articles that are no longer live).
    With it (other filters combined), the newest `scan_cap` edges are joined and filtered,
    and the page is taken from the matches: bounded by the cap, not by the page.
    """
    assert article_match is None or (scan_cap or 0) >= 1, "filtered pages need a scan cap"
    edges = {"user_id": user_id}
    condition = {"$and": [edges, after]} if after else edges
    paging = [*([] if after or not offset else [{"$skip": offset}]), {"$limit": limit}]
    projected = {**fields, "favorite": 1}
    return [
        {"$match": condition},
        {"$sort": dict(NEWEST_FAVORITED)},
        *(paging if article_match is None else [{"$limit": scan_cap}]),
        *_joined_articles(article_match, fields),
        *([] if article_match is None else paging),
        {"$addFields": {"article.favorite": {"at": "$created_at", "id": "$_id"}}},
        {"$replaceRoot": {"newRoot": "$article"}},
        {"$project": projected},
        *author_stages(projected),
        *(then or []),
    ]


def _joined_articles(
    article_match: dict[str, Any] | None, fields: dict[str, int]
) -> list[dict[str, Any]]:
    """Join each favorite edge to its article by `_id`, only if it matches `article_match`, and
    only its `fields` (never the body); edges whose article is gone or fails the filter drop.

    The concise correlated form (MongoDB 5.0+): `localField`/`foreignField` use the `_id`
    index, and the sub-pipeline filters and projects each joined article before it joins the
    edge, so a filtered page moves projected matches, not whole articles.
    """
    inner = [] if article_match is None else [{"$match": article_match}]
    return [
        {
            "$lookup": {
                "from": "articles",
                "localField": "article_id",
                "foreignField": "_id",
                "pipeline": [*inner, {"$project": fields}],
                "as": "article",
            }
        },
        {"$unwind": "$article"},
    ]


def favorites_count_pipeline(
    user_id: PydanticObjectId, article_match: dict[str, Any], *, scan_cap: int
) -> list[dict[str, Any]]:
    """How many of the user's newest `scan_cap` favorites match the other filters."""
    return [
        {"$match": {"user_id": user_id}},
        {"$sort": dict(NEWEST_FAVORITED)},
        {"$limit": scan_cap},
        *_joined_articles(article_match, {"_id": 1}),
        {"$count": "total"},
    ]


# The field `favorited_stages` adds: the viewer's edge to the row's article, if any.
FAVORITED_BY_VIEWER = "favorited_by_viewer"


def favorited_stages(user_id: PydanticObjectId, local_field: str = "_id") -> list[dict[str, Any]]:
    """Join the viewer's favorite edge to each row's article (`local_field`), as
    FAVORITED_BY_VIEWER: an empty list when they have not favorited it.

    One point lookup per row on `user_article_unique` (both its fields pinned, so the edge is
    found or not by one index key, however many favorites the article or the viewer has);
    only `_id` comes back. Bounded by the page it joins.
    """
    return [
        {
            "$lookup": {
                "from": "favorites",
                "localField": local_field,
                "foreignField": "article_id",
                "pipeline": [{"$match": {"user_id": user_id}}, {"$limit": 1},
                             {"$project": {"_id": 1}}],
                "as": FAVORITED_BY_VIEWER,
            }
        }
    ]


async def favorited_among(
    user_id: PydanticObjectId | None, article_ids: Iterable[PydanticObjectId]
) -> set[PydanticObjectId]:
    """Which of these articles the viewer has favorited, in one query (none when anonymous)."""
    ids = list(article_ids)
    if user_id is None or not ids:
        return set()
    cursor = collection(Favorite).find(
        {"user_id": user_id, "article_id": {"$in": ids}}, {"article_id": 1, "_id": 0}
    )
    return {edge["article_id"] async for edge in cursor}


def _edge_document(edge: dict[str, Any]) -> dict[str, Any]:
    """A favorite edge as stored, stamped now."""
    return edge | {"created_at": utc_now(), "schema_version": FAVORITE_VERSION}


class AlreadyDone(Exception):
    """The edge was already there (or already gone): nothing to write."""


async def favorites_total(user_id: PydanticObjectId) -> int:
    """How many favorite edges the user has (counted; the caller keeps the count)."""
    return await collection(Favorite).count_documents({"user_id": user_id})


async def narrowed_total(
    user_id: PydanticObjectId, article_match: dict[str, Any], *, scan_cap: int
) -> int:
    """How many of the user's newest `scan_cap` favorites match `article_match` (one aggregate)."""
    pipeline = favorites_count_pipeline(user_id, article_match, scan_cap=scan_cap)
    found = await collection(Favorite).aggregate(pipeline).to_list(length=1)
    return found[0]["total"] if found else 0


async def page_rows(
    user_id: PydanticObjectId,
    article_match: dict[str, Any] | None,
    *,
    offset: int,
    limit: int,
    fields: dict[str, int],
    after: dict[str, Any] | None = None,
    scan_cap: int | None = None,
    then: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The rows of one page of the user's favorites (see `favorites_page_pipeline`)."""
    pipeline = favorites_page_pipeline(
        user_id, article_match, offset=offset, limit=limit, fields=fields, after=after,
        scan_cap=scan_cap, then=then,
    )
    return await collection(Favorite).aggregate(pipeline).to_list(length=limit)


async def insert_edge(edge: dict[str, Any], session: Any = None) -> None:
    """Store a favorite edge, stamped now; AlreadyDone if the unique index says it exists."""
    try:
        await collection(Favorite).insert_one(_edge_document(edge), session=session)
    except DuplicateKeyError:
        raise AlreadyDone from None


async def delete_edge(edge: dict[str, Any], session: Any = None) -> bool:
    """Remove a favorite edge; False if it was not there."""
    by_session = {} if session is None else {"session": session}
    removed = await collection(Favorite).delete_one(edge, **by_session)
    return removed.deleted_count > 0


async def restore_edge(edge: dict[str, Any]) -> None:
    """Put back an edge removed outside a transaction (its counter update failed)."""
    await collection(Favorite).insert_one(_edge_document(edge))
