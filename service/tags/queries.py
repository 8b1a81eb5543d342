"""Tag queries. No HTTP here."""

from typing import Any

from models import Tag
from models.tags import LIVE_TAGS
from service.db import collection
from service.tags.counting import CATCH_UP_BATCH, catch_up


def live_tags_query() -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, int]]]:
    """The filter, projection and order of the tag list: every tag some live article carries,
    alphabetically. All three fit the partial `live_tags` index, so the read is covered by it."""
    return dict(LIVE_TAGS), {"_id": 1}, [("_id", 1)]


async def all_tags() -> list[str]:
    """Every tag on a live article, alphabetically; drafts, scheduled and hidden articles add none.

    One covered read of `tags`, whose counts the article writes keep (service/tags/counting.py);
    never a read of `articles`, unless this process knows of a scheduled article that has just
    gone live, which it counts first (bounded). So the answer is exact in every process at once,
    and nothing is kept or cleared.
    """
    await catch_up(CATCH_UP_BATCH, only_if_due=True)
    condition, projection, order = live_tags_query()
    cursor = collection(Tag).find(condition, projection).sort(order)
    return [tag["_id"] async for tag in cursor]
