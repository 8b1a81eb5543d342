"""PLACEHOLDER, to be replaced at merge by the media-use branch's service/media/usage.py: which
articles use a media (as their cover). Here nothing uses any, so DELETE's 409 path is reached
only through this name (tests monkeypatch it)."""

from beanie import PydanticObjectId


async def articles_using(media_id: PydanticObjectId) -> list[str]:
    """The slugs of the articles that use this media (none, in this placeholder)."""
    return []
