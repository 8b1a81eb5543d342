"""Print docs/pipelines.md: every aggregation pipeline Folio runs, from its builder.

    python -m tools.pipelines_doc > docs/pipelines.md
"""

import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from models.comments import NEWEST_COMMENTS
from service.analytics.queries import (
    author_stats_pipeline,
    day_labels,
    overview_pipeline,
    tag_trends_pipeline,
    week_labels,
    window_start,
)
from service.articles.reads import (
    FAVORITES_FILTER_CAP,
    LIST_FIELDS,
    article_by_slug_pipeline,
    article_page_pipeline,
)
from service.articles.visibility import visible_at
from service.comments.queries import (
    COMMENTS_CAP,
    comment_pipeline,
    comments_page_pipeline,
    visible_comments,
)
from service.contract.cursors import after_condition, keyset_cursor
from service.engine import text_search_stages
from service.favorites.queries import favorites_count_pipeline, favorites_page_pipeline
from service.rollups.queries import day_articles_pipeline, day_tags_pipeline
from service.search.queries import search_pipeline
from service.tags.queries import live_tags_pipeline

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
AUTHOR = ObjectId("65a000000000000000000001")
ARTICLE = ObjectId("65a000000000000000000002")


def _shell(value: Any) -> Any:
    """Render BSON values the way mongosh shows them."""
    if isinstance(value, datetime):
        return f'ISODate("{value.strftime("%Y-%m-%dT%H:%M:%S.000Z")}")'
    if isinstance(value, ObjectId):
        return f'ObjectId("{value}")'
    if isinstance(value, dict):
        return {key: _shell(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_shell(inner) for inner in value]
    return value


def _block(pipeline: list[dict[str, Any]]) -> str:
    text = json.dumps(_shell(pipeline), indent=2)
    return "```js\n" + text.replace('"ISODate(\\"', 'ISODate("').replace('"ObjectId(\\"', 'ObjectId("').replace('\\")"', '")') + "\n```"


def sections() -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    """(title, collection, explanation, pipeline) for every pipeline, with example arguments."""
    week_start = window_start(30, NOW)
    day_start = window_start(7, NOW)
    days = day_labels(day_start, NOW)
    live = visible_at(NOW)
    return [
        ("Article list page", "articles",
         "`GET /api/articles` and the feed, signed in: filter, newest first, one page, then "
         "the viewer's favorite and follow edges joined to its rows by point lookups. Served "
         "by `tag_published_at` here. Read anonymously, the page is a `find` with the same "
         "filter, sort, limit and projection (the first four stages). Either way the authors "
         "come from the profiles each process keeps (service/users/authors.py: one `$in` on "
         "`_id` for those it lacks), and the total from the count cache or `count_documents`.",
         article_page_pipeline({"tag_list": "dragons", **live}, offset=0, limit=20,
                               viewer_id=AUTHOR)),
        ("Article by slug", "articles",
         "`GET /api/articles/{slug}`, signed in; served by `slug_unique`. Anonymously it is a "
         "`findOne` on `slug` with the same projection; the author comes as for a page.",
         article_by_slug_pipeline("how-to-train-your-dragon", AUTHOR)),
        ("A user's favorites", "favorites",
         "`GET /api/articles?favorited=anna`: anna's edges, most recently favorited first, by "
         "`user_newest`; only the page's edges are joined to their articles (by `_id`) and "
         "authors. Articles no longer live are dropped after the next cursor is taken.",
         favorites_page_pipeline(AUTHOR, None, fields=LIST_FIELDS, offset=0, limit=20)),
        ("A user's favorites, with other filters", "favorites",
         f"`?favorited=anna&tag=dragons`: the newest {FAVORITES_FILTER_CAP:,} edges at most "
         "join their articles by `_id`, each filtered and projected inside the `$lookup` (the "
         "concise correlated form: no body ever joins), then the matches are paged; a user "
         "with more favorites gets a 422 for such a list.",
         favorites_page_pipeline(AUTHOR, {"tag_list": "dragons", **live}, fields=LIST_FIELDS, offset=0, limit=20,
                                 scan_cap=FAVORITES_FILTER_CAP)),
        ("Count of a user's favorites, with other filters", "favorites",
         "The total for the list above (alone, the total is a `count_documents` on `user_newest`).",
         favorites_count_pipeline(AUTHOR, {"tag_list": "dragons", **live},
                                  scan_cap=FAVORITES_FILTER_CAP)),
        ("Comments of an article", "comments",
         "`GET /api/articles/{slug}/comments` without parameters, anonymous: up to "
         f"{COMMENTS_CAP} (one more tells whether `nextCursor` is due), hidden comments left "
         "out. `commentsCount` is the page's length when it holds them all, else the "
         "article's `comments_count - hidden_comments_count` (never a count). Authors follow "
         "in one `$in` on `users`. Served by `article_created_at`.",
         comments_page_pipeline(visible_comments(ARTICLE, None), offset=0,
                                limit=COMMENTS_CAP + 1)),
        ("Comments of an article, next page", "comments",
         "`?limit=20&cursor=…` as a signed-in reader: their own hidden comments stay in; the "
         "cursor's position joins the filter, so the index bounds start at it.",
         comments_page_pipeline(
             visible_comments(ARTICLE, AUTHOR), offset=0, limit=21,
             after=after_condition(keyset_cursor(NEWEST_COMMENTS, {"created_at": NOW, "_id": 42}),
                                   NEWEST_COMMENTS))),
        ("One comment", "comments",
         "`GET /api/articles/{slug}/comments/{id}`; served by `_id`.",
         comment_pipeline(visible_comments(ARTICLE, None), 42)),
        ("Search on MongoDB", "articles",
         "`GET /api/search`: the weighted `text_search` index, in text-score order, then the "
         "total, the page and both facets in one `$facet`.",
         search_pipeline(text_search_stages("dragons", live, embedded=False), offset=0, limit=20)),
        ("Search on the embedded engine", "articles",
         "The same, with an escaped case-insensitive match instead of `$text` (mongomock has "
         "no text search); only `service/engine/client.py` knows the difference.",
         search_pipeline(text_search_stages("dragons", live, embedded=True), offset=0, limit=20)),
        ("Tag list", "tags",
         "`GET /api/tags`: the counts that article writes keep by `$inc`, never the articles; a "
         "covered scan of the partial `live_tags` index (tags with articles > 0), in order.",
         live_tags_pipeline()),
        ("Tag trends", "tag_days",
         "`GET /api/analytics/tags?days=30`: the window's day-and-tag rollups, served by "
         "`day_tag_unique`; each tag gathers one entry per ISO week, never one per article.",
         tag_trends_pipeline(week_start.strftime("%Y-%m-%d"), NOW.strftime("%Y-%m-%d"),
                             week_labels(week_start, NOW))),
        ("Author figures", "articles",
         "`GET /api/analytics/authors/{username}`, after finding the user by `username_unique` and "
         "counting followers on `follows.followee`; served by `author_published_at`.",
         author_stats_pipeline(AUTHOR, NOW)),
        ("Overview", "daily_stats",
         "`GET /api/analytics/overview?days=7`: the daily rollups up to today, by `_id` (the "
         "day); the user and comment totals are `estimatedDocumentCount`s.",
         overview_pipeline(days[0], days[-1])),
        ("Rollup rebuild: one day's articles", "articles",
         "`folio db recount` and migration 0007, one day at a time; served by `published_at`.",
         day_articles_pipeline(days[-1])),
        ("Rollup rebuild: one day's tags", "articles",
         "The same day, per tag.", day_tags_pipeline(days[-1])),
    ]


def render() -> str:
    """The whole Markdown document."""
    parts = [
        "# Aggregation pipelines",
        "",
        "Every pipeline Folio runs, printed from its builder with example arguments "
        f"(now = {NOW.isoformat()}). Regenerate with "
        "`python -m tools.pipelines_doc > docs/pipelines.md`; a test fails when this file is "
        "out of date. Paste any of them into `mongosh` as `db.<collection>.aggregate(<pipeline>)`.",
    ]
    for title, collection, explanation, pipeline in sections():
        parts += ["", f"## {title} (`{collection}`)", "", explanation, "", _block(pipeline)]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
