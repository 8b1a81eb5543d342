"""Tag queries. No HTTP here."""

from typing import Any

from models import Tag
from models.tags import LIVE_TAGS
from service.engine import collection
from service.tags.counting import CATCH_UP_BATCH, catch_up


def live_tags_pipeline() -> list[dict[str, Any]]:
    """Every tag some live article carries, alphabetically, one document per tag.

    Filter, order and fields all fit the partial `live_tags` index (`_id`, `articles`, only
    tags with articles > 0), so MongoDB runs it as one covered index scan: no document fetched,
    no sort, and tags left at zero never read.
    """
    return [{"$match": dict(LIVE_TAGS)}, {"$sort": {"_id": 1}}, {"$project": {"_id": 1}}]


async def all_tags() -> list[str]:
    """Every tag on a live article, alphabetically; drafts, scheduled and hidden articles add none.

    One covered read of `tags`, whose counts the article writes keep (service/tags/counting.py);
    never a read of `articles`, unless this process knows of a scheduled article that has just
    gone live, which it counts first (bounded). So the answer is exact in every process at once,
    and nothing is kept or cleared.
    """
    await catch_up(CATCH_UP_BATCH, only_if_due=True)
    cursor = collection(Tag).aggregate(live_tags_pipeline())
    return [tag["_id"] async for tag in cursor]
