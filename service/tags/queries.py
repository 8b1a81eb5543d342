"""Tag queries. No HTTP here."""

from typing import Any

from models import Article
from models.common import utc_now
from service.articles.counts import TAGS_KEY, kept
from service.articles.queries import visible_at
from service.db import collection


def live_tags_pipeline(match: dict[str, Any]) -> list[dict[str, Any]]:
    """Every distinct tag of the matching articles, alphabetically, one document per tag.

    A `$group` streams its answer through a cursor, where `distinct` returns one document and
    fails past 16 MB of tags.
    """
    return [
        {"$match": match},
        {"$project": {"tag_list": 1}},
        {"$unwind": "$tag_list"},
        {"$group": {"_id": "$tag_list"}},
        {"$sort": {"_id": 1}},
    ]


async def all_tags() -> list[str]:
    """Every tag on a live article, alphabetically; drafts and scheduled articles add none.

    Kept for COUNT_TTL_SECONDS (10 s) per process, and cleared at once by this process's
    article writes: other processes show a new tag within 10 s.
    """

    async def scan() -> list[str]:
        cursor = collection(Article).aggregate(live_tags_pipeline(visible_at(utc_now())))
        return [group["_id"] async for group in cursor]

    return await kept(TAGS_KEY, scan)
