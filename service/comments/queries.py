"""Comment queries. No HTTP here."""

from typing import Any

from beanie import PydanticObjectId

from models import Comment, User
from models.common import utc_now
from service.articles.queries import counted_insert, move_counter
from service.counters import next_sequence
from service.db import atomically, collection
from service.errors import NotFound
from service.profiles.queries import author_stages, followed_among, public_author

COMMENT_FIELDS = {"body": 1, "created_at": 1, "updated_at": 1, "author_id": 1}


def comments_pipeline(article_id: PydanticObjectId) -> list[dict[str, Any]]:
    """An article's comments, newest first, each with its author."""
    return [
        {"$match": {"article_id": article_id}},
        {"$sort": {"created_at": -1, "_id": -1}},
        *author_stages(COMMENT_FIELDS),
    ]


async def comments_for(
    article_id: PydanticObjectId, viewer_id: PydanticObjectId | None
) -> list[dict[str, Any]]:
    """An article's comments with `author.following` set for the viewer (two round trips)."""
    comments = await collection(Comment).aggregate(comments_pipeline(article_id)).to_list(None)
    followed = await followed_among(viewer_id, (comment["author_id"] for comment in comments))
    for comment in comments:
        comment["author"]["following"] = comment["author_id"] in followed
    return comments


async def add_comment(article_id: PydanticObjectId, author: User, body: str) -> dict[str, Any]:
    """Store a comment under the next integer id from the `comments` counter, and count it.

    The comment and the article's `$inc` are one transaction on a replica set; elsewhere a
    failed `$inc` takes the comment back (`folio db recount` repairs what a failover leaves).
    """
    now = utc_now()
    comment = Comment(
        id=await next_sequence("comments"),
        article_id=article_id,
        author_id=author.id,  # type: ignore[arg-type]
        body=body,
        created_at=now,
        updated_at=now,
    )

    async def write(session: Any) -> None:
        await counted_insert(
            article_id, "comments_count", lambda session: comment.insert(session=session),
            lambda: collection(Comment).delete_one({"_id": comment.id}), session,
        )

    await atomically(write)
    return {
        "_id": comment.id,
        "body": body,
        "created_at": now,
        "updated_at": now,
        "author_id": author.id,
        "author": {**public_author(author), "following": False},
    }


async def comment_on_article(article_id: PydanticObjectId, comment_id: int) -> dict[str, Any]:
    """The comment with this id under this article; NotFound otherwise."""
    comment = await collection(Comment).find_one(
        {"_id": comment_id, "article_id": article_id}, {"author_id": 1, "article_id": 1}
    )
    if comment is None:
        raise NotFound("comment", "not found")
    return comment


async def delete_comment(comment: dict[str, Any]) -> None:
    """Delete one comment and uncount it (one transaction on a replica set)."""

    async def write(session: Any) -> None:
        removed = await collection(Comment).delete_one({"_id": comment["_id"]}, session=session)
        if removed.deleted_count:  # a concurrent delete already uncounted it otherwise
            await move_counter(comment["article_id"], "comments_count", -1, session)

    await atomically(write)
