"""Atom feeds: the newest live articles, bodies included, as Atom 1.0. No HTTP here."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator

from models import Article
from models.common import as_utc
from service.articles.reads import (
    FULL_FIELDS,
    ArticleFilters,
    page_find,
    resolve_filters,
)
from service.articles.visibility import readable
from service.contract.errors import NotFound
from service.contract.schemas import printable
from service.engine import collection
from service.users.authors import with_authors

FEED_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def feed_articles(tag: str | None, author: str | None) -> list[dict[str, Any]]:
    """The newest FEED_SIZE live articles, with bodies and authors; NotFound for unknown filters.

    Served like a list page (the `published_at`, `tag_published_at` or `author_published_at`
    index), without a count. A tag no live article carries is as unknown as a missing author.
    """
    query = await resolve_filters(ArticleFilters(tag=tag, author=author), None)
    if query.match is None:
        raise NotFound("feed", "no such author")
    read = page_find(query.match, offset=0, limit=FEED_SIZE, fields=FULL_FIELDS)
    articles = await collection(Article).find(**read).to_list(length=FEED_SIZE)
    if tag is not None and not articles:
        raise NotFound("feed", "no such tag")
    return [readable(article) for article in await with_authors(articles)]


def feed_title(tag: str | None, author: str | None) -> str:
    """The feed's title, naming its filters."""
    parts = [f"tag {tag}" if tag else "", f"by {author}" if author else ""]
    return " · ".join(["Folio", *[part for part in parts if part]])


def atom_document(
    articles: list[dict[str, Any]],
    *,
    title: str,
    self_url: str,
    authority: str,
    article_url: Any,
) -> bytes:
    """The feed as Atom 1.0 bytes, built by feedgen; entries newest first.

    Ids are tag URIs (RFC 4151) on `authority` and the article's `_id`, so an entry keeps its
    id when its title and slug change. `article_url(slug)` gives each entry's link. Every text
    goes through `printable`: a character XML forbids, stored before the text policy or
    imported, becomes U+FFFD instead of failing the whole feed.
    """
    feed = FeedGenerator()
    feed.id(f"tag:{authority},2026:{urlsplit(self_url)._replace(scheme='', netloc='').geturl()}")
    feed.title(printable(title))
    feed.link(href=self_url, rel="self")
    feed.author(name="Folio")
    feed.generator("Folio")
    # The newest change of an entry, so that an unchanged feed is byte-identical (its ETag too).
    feed.updated(max((as_utc(a["updated_at"]) for a in articles), default=EPOCH))
    for article in articles:
        entry = feed.add_entry(order="append")
        entry.id(f"tag:{authority},2026:article:{article['_id']}")
        entry.title(printable(article["title"]))
        entry.link(href=printable(article_url(article["slug"])), rel="alternate")
        entry.author(name=printable(article["author"]["username"]))
        entry.summary(printable(article["description"]))
        # Sanitised when it was stored; printable again for HTML stored before the text policy.
        entry.content(printable(article["body_html"]), type="html")
        entry.published(as_utc(article["published_at"]))
        entry.updated(as_utc(article["updated_at"]))
        for tag in article.get("tag_list", []):
            entry.category(term=printable(tag))
    return feed.atom_str(pretty=False)
