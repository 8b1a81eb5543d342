"""Which articles use an upload: media deletion's 409 names them. No HTTP here."""

from beanie import PydanticObjectId

from models import Article, Media
from service.engine import collection

# Named in a 409: enough to act on, bounded whatever the number of articles.
MAX_NAMED = 20
USED_PAGE = 200


async def articles_using(media_id: PydanticObjectId,
                         owner_id: PydanticObjectId | None = None) -> list[str]:
    """Slugs of the live articles (drafts included, not those being deleted) of the media's
    owner whose cover or body uses it, at most MAX_NAMED.

    Only the owner's own articles count: anyone may embed a public media URL in a body, and
    that must not stop the owner from deleting their upload. Served by `media_used`
    (media_ids, author_id); one more read of the media for its owner when not given.
    """
    if owner_id is None:
        media = await collection(Media).find_one({"_id": media_id}, {"owner_id": 1})
        if media is None:
            return []
        owner_id = media["owner_id"]
    found = await collection(Article).find(
        {"media_ids": media_id, "author_id": owner_id, "status": {"$ne": "deleted"}},
        {"slug": 1},
    ).limit(MAX_NAMED).to_list(None)
    return sorted(article["slug"] for article in found)


async def used_among(media_ids: list[PydanticObjectId]) -> set[PydanticObjectId]:
    """Which of these uploads any article uses (cover or body, any author, drafts and articles
    being deleted included), on `media_used`.

    Reads pages of USED_PAGE articles, dropping the uploads found used from the next page's
    `$in`: each round settles at least one upload, however many articles embed a popular one.
    """
    remaining = set(media_ids)
    used: set[PydanticObjectId] = set()
    while remaining:
        page = await collection(Article).find(
            {"media_ids": {"$in": sorted(remaining)}}, {"media_ids": 1}
        ).limit(USED_PAGE).to_list(None)
        for article in page:
            used.update(remaining.intersection(article.get("media_ids") or ()))
        remaining -= used
        if len(page) < USED_PAGE:
            break
    return used
