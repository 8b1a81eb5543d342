"""Article dependencies: find by slug, then check ownership."""

from typing import Annotated, Any

from fastapi import Depends

from service.articles import queries
from service.errors import Forbidden
from service.users.deps import OptionalViewer, WritingUser


async def article_by_slug(slug: str, viewer: OptionalViewer) -> dict[str, Any]:
    """The article named in the path, with its author; 404 if none, or a draft of someone else."""
    return await queries.article_by_slug(slug, viewer)


ArticleBySlug = Annotated[dict[str, Any], Depends(article_by_slug)]


async def owned_article(user: WritingUser, article: ArticleBySlug) -> dict[str, Any]:
    """The article in the path, if the caller wrote it: 401 first, then 404, then 403."""
    if article["author_id"] != user.id:
        raise Forbidden("article", "forbidden")
    return article


OwnedArticle = Annotated[dict[str, Any], Depends(owned_article)]
