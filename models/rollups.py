"""The analytics rollups: one document per UTC day (`daily_stats`) and per day and tag
(`tag_days`), moved by `$inc` beside the writes they count, so that no analytics request reads
`articles`, `comments` or `users` (service/rollups/queries.py keeps them; `folio db recount` rebuilds them).
"""

from beanie import Document
from pymongo import ASCENDING, IndexModel

SCHEMA_VERSION = 1


class DailyStat(Document):
    """One UTC day (`_id` "YYYY-MM-DD"): live articles published that day, and the favorites
    and comments they hold; comments written and accounts created that day (those that still
    exist)."""

    id: str  # type: ignore[assignment]  # the day, "YYYY-MM-DD": sorts as text, ranges by `_id`
    articles: int = 0
    favorites: int = 0
    comments_held: int = 0
    comments: int = 0
    users: int = 0
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "daily_stats"


class TagDay(Document):
    """One tag on one UTC day: live articles published that day with it, and their favorites.

    `week` (ISO "YYYY-Www") is the day's, stored so that weekly series group without dates.
    `_id` is "<day>/<tag>": every write finds its document by it (upserting), and a copy
    (export, import) reproduces it exactly.
    """

    id: str  # type: ignore[assignment]  # "<day>/<tag>"
    day: str
    week: str
    tag: str
    articles: int = 0
    favorites: int = 0
    # Set by a rebuild (`folio db recount`): what the day's rebuild did not stamp is removed.
    rebuilt: str | None = None
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "tag_days"
        indexes = [
            # The upsert key of every `$inc`, and the window's range (`day` leads it).
            IndexModel([("day", ASCENDING), ("tag", ASCENDING)], name="day_tag_unique", unique=True),
        ]
