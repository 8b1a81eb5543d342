"""Revision dependencies: the article in the path, if the caller may see and restore its history."""

from typing import Annotated, Any

from fastapi import Depends

from models import User
from service.articles.deps import ArticleBySlug, IfMatch, at_tagged_version
from service.contract.errors import Forbidden
from service.users.deps import CurrentUser, WritingUser
from service.users.roles import can_moderate


def _may_revise(user: User, article: dict[str, Any]) -> dict[str, Any]:
    """The article, if the caller wrote it or moderates; 403 otherwise."""
    if article["author_id"] != user.id and not can_moderate(user):
        raise Forbidden("article", "forbidden")
    return article


async def article_history(user: CurrentUser, article: ArticleBySlug) -> dict[str, Any]:
    """The article whose revisions the caller may read: 401 first, then 404, then 403."""
    return _may_revise(user, article)


async def restorable_article(user: WritingUser, article: ArticleBySlug) -> dict[str, Any]:
    """The article the caller may restore (counted as a write): 401, then 404, then 403."""
    return _may_revise(user, article)


ArticleHistory = Annotated[dict[str, Any], Depends(article_history)]
RestorableArticle = Annotated[dict[str, Any], Depends(restorable_article)]


async def checked_restore_version(article: RestorableArticle, if_match: IfMatch = None) -> bool:
    """Whether the restore must be at the version read; 412 at once if If-Match names another."""
    return at_tagged_version(article, if_match)


IfRestoreVersion = Annotated[bool, Depends(checked_restore_version)]
