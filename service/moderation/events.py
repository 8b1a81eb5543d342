"""The `moderation.*` events: one per moderation action that changed something, written in the
action's transaction. No HTTP here."""

from collections.abc import Mapping
from typing import Any

from models import User
from service.events import actor_of, record
from service.profiles.queries import authors_by_id
from service.profiles.schemas import public_profile


async def moderation_event(
    action: str, moderator: User, reason: str | None, session: Any, *,
    article: Mapping[str, Any] | None = None, comment: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
) -> None:
    """Write `moderation.<action>`: `user` is whom it is about (the author of the article or
    comment, or the suspended account), with `_id`, `username`, `bio` and `image`."""
    data: dict[str, Any] = {"action": action, "reason": reason}
    refs: dict[str, Any] = {}
    if article is not None:
        data["article"] = {"slug": article["slug"], "title": article["title"]}
        refs["article"] = article["_id"]
    if comment is not None:
        data["comment"] = {"id": comment["_id"], "body": comment["body"]}
        refs["comment"] = comment["_id"]
        refs["article"] = comment["article_id"]
    if user is not None:
        data["user"] = public_profile(user)
        refs["user"] = user["_id"]
    await record(f"moderation.{action}", actor=actor_of(moderator), data=data, refs=refs,
                 session=session)


async def author_profile(user_id: Any) -> dict[str, Any] | None:
    """The public fields of one account (one read), None if it is gone."""
    return (await authors_by_id([user_id])).get(user_id)


def user_fields(user: User) -> dict[str, Any]:
    """A User's public fields, as `moderation_event` takes `user`."""
    return {"_id": user.id, "username": user.username, "bio": user.bio, "image": user.image}
