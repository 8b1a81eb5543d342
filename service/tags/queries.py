"""Tag queries. No HTTP here."""

from models import Article
from models.common import utc_now
from service.articles.queries import visible_at
from service.db import collection


async def all_tags() -> list[str]:
    """Every tag on a live article, alphabetically; drafts and scheduled articles add none."""
    return sorted(await collection(Article).distinct("tag_list", visible_at(utc_now())))
