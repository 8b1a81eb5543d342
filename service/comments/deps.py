"""Comment dependencies: find under the article, then check ownership."""

from typing import Annotated, Any

from fastapi import Depends, Path

from service.articles.deps import ArticleBySlug
from service.comments import queries
from service.errors import Forbidden
from service.users.deps import WritingUser


async def owned_comment(
    user: WritingUser,
    article: ArticleBySlug,
    comment_id: Annotated[int, Path(alias="id", ge=1, le=2**63 - 1, description="the comment's integer id")],
) -> dict[str, Any]:
    """The comment in the path, if the caller wrote it: 401, then 404, then 403."""
    comment = await queries.comment_on_article(article["_id"], comment_id)
    if comment["author_id"] != user.id:
        raise Forbidden("comment", "forbidden")
    return comment


OwnedComment = Annotated[dict[str, Any], Depends(owned_comment)]
