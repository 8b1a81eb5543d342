"""Tag queries. No HTTP here."""

from models import Article
from service.db import collection


async def all_tags() -> list[str]:
    """Every tag in use, alphabetically (a distinct scan of the tag index on MongoDB)."""
    return sorted(await collection(Article).distinct("tag_list"))
