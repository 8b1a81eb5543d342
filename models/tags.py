"""The `tags` collection: how many live articles carry each tag, moved only by `$inc`."""

from beanie import Document
from pymongo import ASCENDING, IndexModel

# `GET /api/tags` reads this, alphabetically: only tags some live article carries are in it.
LIVE_TAGS = {"articles": {"$gt": 0}}


class Tag(Document):
    """`{_id: "dragons", articles: 12}`: how many live articles (visible to anonymous readers) carrying
    the tag. Moved by `$inc` beside every article write that changes the set of counted tags
    (service/tags/counting.py), never recomputed on a request; `folio db recount` rebuilds it.
    A tag no live article carries may stay at 0 until a recount removes it.
    """

    id: str  # type: ignore[assignment]  # the tag itself
    articles: int = 0

    class Settings:
        name = "tags"
        indexes = [
            # Partial on articles > 0 and holding both fields: the tag list is one covered scan of
            # exactly the tags it answers, in order, however many tags sit at zero.
            IndexModel([("_id", ASCENDING), ("articles", ASCENDING)], name="live_tags",
                       partialFilterExpression=LIVE_TAGS),
        ]
