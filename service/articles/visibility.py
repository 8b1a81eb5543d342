"""Who may see an article: live, visible to a viewer, readable (pure, or one read). No HTTP here."""

from datetime import datetime
from typing import Any

from models.articles import NEWEST_CREATED, NEWEST_PUBLISHED
from models.common import as_utc, utc_now
from service.articles.content import reading_time_minutes, render_markdown
from service.users.queries import Viewer, is_current, viewer_account
from service.users.roles import MODERATING_ROLES

Sort = list[tuple[str, int]]


def visible_at(now: datetime) -> dict[str, Any]:
    """The condition for articles everyone may see: published, and not scheduled past `now`."""
    return {"published_at": {"$lte": now}}


def status_condition(status: str, now: datetime) -> tuple[dict[str, Any], Sort]:
    """The condition and order for one status: published (live), draft or scheduled."""
    if status == "draft":
        return {"status": "draft"}, NEWEST_CREATED
    if status == "scheduled":
        return {"status": "published", "published_at": {"$gt": now}}, NEWEST_PUBLISHED
    return visible_at(now), NEWEST_PUBLISHED


def is_live(article: dict[str, Any]) -> bool:
    """Whether everyone may see this article: published, and its instant has come."""
    published_at = article.get("published_at")
    return published_at is not None and as_utc(published_at) <= utc_now()


async def is_visible(article: dict[str, Any], viewer: Viewer | None) -> bool:
    """Live articles to everyone; drafts and scheduled ones to their author, and hidden ones to
    their author and moderators (token re-checked, one read). An article whose deletion has
    started is seen by no one."""
    if article.get("status") == "deleted":
        return False
    if is_live(article):
        return True
    if viewer is None:
        return False
    if article["author_id"] == viewer.id:
        return await is_current(viewer)
    if article.get("moderation") is None:
        return False
    account = await viewer_account(viewer)
    return account is not None and account.get("role") in MODERATING_ROLES


def readable(article: dict[str, Any]) -> dict[str, Any]:
    """Fill what a schema-version-1 article lacks until migration 0001 backfills it."""
    if article.get("body_html") is None and "body" in article:
        article["body_html"] = render_markdown(article["body"])
        article["reading_time_minutes"] = reading_time_minutes(article["body"])
    return article
