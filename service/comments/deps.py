"""Comment dependencies: find under the article, check ownership, and the comment's ETag."""

from typing import Annotated, Any

from fastapi import Depends, Header, Path

from service.articles.deps import VisibleArticle
from service.comments import queries
from service.contract.conditional import must_match_version
from service.contract.errors import Forbidden
from service.users.deps import OptionalViewer, WritingUser

CommentId = Annotated[
    int, Path(alias="id", ge=1, le=2**63 - 1, description="the comment's integer id")
]


async def visible_comment(
    article: VisibleArticle, viewer: OptionalViewer, comment_id: CommentId
) -> dict[str, Any]:
    """The comment in the path with its author, if the caller may see it (404 otherwise)."""
    return await queries.visible_comment(article["_id"], comment_id, viewer)


VisibleComment = Annotated[dict[str, Any], Depends(visible_comment)]


async def owned_comment(
    user: WritingUser, article: VisibleArticle, comment_id: CommentId
) -> dict[str, Any]:
    """The comment in the path, if the caller wrote it: 401, then 404, then 403."""
    comment = await queries.comment_on_article(article["_id"], comment_id, user.id)
    if comment["author_id"] != user.id:
        raise Forbidden("comment", "forbidden")
    return comment


OwnedComment = Annotated[dict[str, Any], Depends(owned_comment)]


async def checked_version(
    comment: OwnedComment,
    if_match: Annotated[
        str | None,
        Header(description="an ETag from GET: write only while the comment is at that version"),
    ] = None,
) -> bool:
    """Whether the write must be at the version read; 412 at once if If-Match names another."""
    return must_match_version(comment, if_match, queries.stale)


IfVersion = Annotated[bool, Depends(checked_version)]
