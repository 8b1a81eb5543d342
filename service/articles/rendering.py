"""Article answers built once, straight from the pipeline's rows to JSON bytes. No HTTP here.

The hot reads (a list page, the feed, one article) go out without constructing a pydantic
model per article and without FastAPI validating the answer again: the rows a pipeline returns
are shaped here, field for field as `ArticleListItem`/`ArticleOut` serialise them (same keys,
same order, same defaults, `moderation` left out while null, timestamps as
`format_timestamp` writes them), and encoded by pydantic-core's JSON encoder, the one the models use. So the
bytes are those `MultipleArticlesResponse`/`SingleArticleResponse` would give, which
tests/test_rendering.py checks against the schemas; the routes keep those models as their
`response_model` for the OpenAPI document.
"""

import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json

from service.media.covers import wire_cover


@functools.lru_cache(maxsize=8192)
def timestamp(value: datetime) -> str:
    """`format_timestamp`'s text (ISO 8601 in UTC, milliseconds, `Z`) by `isoformat`, a few
    times faster than its `strftime`, and kept: a page shows three per article, and the same
    articles' instants come back request after request. A naive time is UTC (Motor returns
    them so); equal instants give equal text, so keying by the instant is safe."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _instant(value: Any) -> str | None:
    return None if value is None else timestamp(value)


def _text(value: Any) -> str | None:
    """A profile's `bio`/`image`: an empty string stored before RealWorld 2.0 reads as null."""
    return None if value == "" else value


def author_json(author: dict[str, Any], following: bool) -> dict[str, Any]:
    """The `author` profile of a row, as `Profile` serialises it."""
    return {
        "username": author["username"],
        "bio": _text(author.get("bio")),
        "image": _text(author.get("image")),
        "following": following,
    }


def cover_json(cover: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored cover as `CoverImageOut` serialises it: `{url, alt}`, and for a media cover its
    id, size, type and variants, with absolute URLs (service/media/covers.py)."""
    if cover is None:
        return None
    if cover.get("media_id") is None:
        return {"url": cover["url"], "alt": cover["alt"]}
    wired = wire_cover(cover)
    out = {"url": wired["url"], "alt": wired["alt"], "mediaId": wired["media_id"]}
    for field, key in (("width", "width"), ("height", "height"), ("content_type", "contentType")):
        if wired.get(field) is not None:
            out[key] = wired[field]
    if wired.get("variants") is not None:
        out["variants"] = {
            name: {"url": variant["url"], "width": variant["width"], "height": variant["height"],
                   "contentType": variant["content_type"]}
            for name, variant in wired["variants"].items()
        }
    return out


def list_item_json(article: dict[str, Any]) -> dict[str, Any]:
    """An article as `ArticleListItem` serialises it, from a row carrying its viewer flags."""
    cover = article.get("cover_image")
    item = {
        "slug": article["slug"],
        "title": article["title"],
        "description": article["description"],
        "tagList": article.get("tag_list") or [],
        "createdAt": timestamp(article["created_at"]),
        "updatedAt": timestamp(article["updated_at"]),
        "favorited": bool(article.get("favorited")),
        "favoritesCount": article.get("favorites_count", 0),
        "author": author_json(article["author"], bool(article["author"].get("following"))),
        "status": article.get("status") or "published",
        "publishAt": _instant(article.get("publish_at")),
        "publishedAt": _instant(article.get("published_at")),
        "readingTimeMinutes": article.get("reading_time_minutes"),
        "meta": article.get("meta") or {},
        "coverImage": cover_json(cover),
        "canonicalUrl": article.get("canonical_url"),
    }
    moderation = article.get("moderation")
    if moderation is not None:
        item["moderation"] = {
            "hidden": moderation.get("hidden", True),
            "reason": moderation["reason"],
            "at": timestamp(moderation["at"]),
        }
    return item


def article_json(article: dict[str, Any]) -> dict[str, Any]:
    """One article with its body and HTML, as `ArticleOut` serialises it."""
    return {
        **list_item_json(article),
        "body": article["body"],
        "bodyHtml": article.get("body_html") or "",
    }


def page_body(articles: Iterable[dict[str, Any]], total: int, next_cursor: str | None) -> bytes:
    """The JSON of a `MultipleArticlesResponse`: the page, the total and the next cursor."""
    return to_json({
        "articles": [list_item_json(article) for article in articles],
        "articlesCount": total,
        "nextCursor": next_cursor,
    })


def single_body(article: dict[str, Any]) -> bytes:
    """The JSON of a `SingleArticleResponse`."""
    return to_json({"article": article_json(article)})
