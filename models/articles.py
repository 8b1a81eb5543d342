"""The `articles` collection: posts, with a denormalized `favorites_count` and flexible `meta`."""

from datetime import datetime
from typing import Any, Literal

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, TEXT, IndexModel

from models.common import Moderation, utc_now

# Version 2 added the computed `body_html` and `reading_time_minutes` (migration 0001); a
# version-1 document lacks both and is still read (see service.articles.queries.readable).
SCHEMA_VERSION = 2

# Public lists run newest-published first; `_id` breaks ties within one millisecond.
NEWEST_PUBLISHED = [("published_at", DESCENDING), ("_id", DESCENDING)]
NEWEST_CREATED = [("created_at", DESCENDING), ("_id", DESCENDING)]
SEARCH_WEIGHTS = {"title": 10, "description": 5, "body": 1}
# Published (so with an instant) but not counted in `tags`: scheduled, or due and not swept yet.
UNCOUNTED = {"tags_counted": False, "published_at": {"$type": "date"}}
# Published (with an instant) but not announced (no `article.published` event yet): scheduled,
# or due and not swept yet (service/articles/announcing.py).
UNANNOUNCED = {"announced": False, "published_at": {"$type": "date"}}

_TEXT_KEYS = [(field, TEXT) for field in SEARCH_WEIGHTS]

# Relevance search on MongoDB; the embedded engine can build it but not query it. A collection
# holds at most one text index, so the deployment picks one of these (FOLIO_SEARCH_SCOPE):
# site-wide, or prefixed by `author_id`, where every `$text` query must give an equality on
# `author_id` and reads only that author's entries.
TEXT_INDEXES = {
    "site": IndexModel(
        _TEXT_KEYS, name="text_search", weights=SEARCH_WEIGHTS, default_language="english"
    ),
    "author": IndexModel(
        [("author_id", ASCENDING), *_TEXT_KEYS],
        name="author_text_search",
        weights=SEARCH_WEIGHTS,
        default_language="english",
    ),
}


class CoverImage(BaseModel):
    """An image shown with the article; `alt` is required for accessibility."""

    url: str
    alt: str


class CoverVariant(BaseModel):
    """One resized variant of a media cover: its stored path (`/api/media/{id}/{name}`)."""

    url: str
    width: int
    height: int
    content_type: str


class MediaCover(BaseModel):
    """A cover from the media library: the media's id, and the paths of its original and
    variants as they were when the cover was set (a media's renditions never change).

    Paths, not absolute URLs: the answer makes them absolute (FOLIO_PUBLIC_URL or the
    request's base URL), so a moved site needs no rewrite.
    """

    media_id: PydanticObjectId
    url: str
    alt: str
    width: int
    height: int
    content_type: str
    variants: dict[str, CoverVariant] = Field(default_factory=dict)


class ArticleModeration(Moderation):
    """A hidden article's moderation; `published_at` keeps the instant hiding took away."""

    published_at: datetime | None = None


class Article(Document):
    """A post. `published_at` is when it is (or will be) public: null for drafts.

    `favorites_count` and `comments_count` move only by `$inc`, next to the edge or comment
    write; `hidden_comments_count` (how many of the comments a moderator hid) moves beside
    them when a comment is hidden, shown again or deleted (`folio db recount` reconciles all
    three). A comment total is read from them, never counted. `body_html` and
    `reading_time_minutes` are computed from `body` on every write that changes it.
    """

    slug: str
    title: str
    description: str
    body: str
    body_html: str | None = None
    reading_time_minutes: int | None = None
    tag_list: list[str] = Field(default_factory=list)
    author_id: PydanticObjectId
    favorites_count: int = 0
    comments_count: int = 0
    hidden_comments_count: int = 0
    # Moves by one on every update (`$inc`); `If-Match` compares it. Absent on documents from
    # before versions, which read as version 1 and store 2 at their next update.
    version: int = 1
    # Who wrote the current version (null: its author); a revision keeps it as its editor.
    edited_by: PydanticObjectId | None = None
    # Null unless hidden by a moderator. Hiding moves `published_at` in here and sets it to
    # null, so that every visibility filter (`published_at <= now`) and its index stay as they
    # are: a hidden article is a draft to everyone but its author and moderators.
    moderation: ArticleModeration | None = None
    # "deleted" marks an article whose deletion has started (service/deletion/articles.py): with
    # `published_at` null and its slug moved aside, every read, list and count already leaves
    # it out through the indexes above, while its comments, favorites, revisions and reports
    # are swept in batches; the article itself goes last.
    status: Literal["draft", "published", "deleted"] = "published"
    publish_at: datetime | None = None
    published_at: datetime | None = None
    # Whether `tag_list` is counted in `tags` (service/tags/counting.py): set with each write
    # to whether the article is live then; a scheduled one is counted by the sweep once due.
    tags_counted: bool = False
    # Whether its going live was announced (an `article.published` event): set with each write
    # to whether the article is live then; a scheduled one is announced by the sweep once due.
    # Absent (or null) on articles from before events, which count as announced when live
    # (migration 0008 flags the scheduled ones false, so the sweep announces them).
    announced: bool | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    # A media cover first: a plain {url, alt} is not one (it has no `media_id`).
    cover_image: MediaCover | CoverImage | None = Field(default=None, union_mode="left_to_right")
    # The media library's uploads this article uses: its cover's and those its body embeds
    # (Folio's media paths), kept on every write that changes either. `folio media gc` and
    # media deletion ask `media_used` whether an upload is used; null when none.
    media_ids: list[PydanticObjectId] | None = None
    canonical_url: str | None = None
    schema_version: int = SCHEMA_VERSION
    # Set (by the server's clock) when deletion starts; until when one sweeper holds it.
    deleting: datetime | None = None
    deletion_claimed_until: datetime | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "articles"
        indexes = [
            IndexModel([("slug", ASCENDING)], name="slug_unique", unique=True),
            # Visibility is `published_at <= now`: a range on the sort key, so each list index
            # serves equality, sort and visibility at once.
            IndexModel(NEWEST_PUBLISHED, name="published_at"),
            IndexModel([("author_id", ASCENDING), *NEWEST_PUBLISHED], name="author_published_at"),
            IndexModel([("tag_list", ASCENDING), *NEWEST_PUBLISHED], name="tag_published_at"),
            # An author's own drafts (`status` pinned), newest first: equality on both leading
            # fields, then the sort, so a page reads only drafts, never the author's published
            # articles. Its `author_id` prefix also finds an author's articles on deletion.
            IndexModel(
                [("author_id", ASCENDING), ("status", ASCENDING), *NEWEST_CREATED],
                name="author_status_created_at",
            ),
            # Analytics windows by creation time.
            IndexModel(NEWEST_CREATED, name="created_at"),
            # Deletions to sweep, oldest first: only marked articles are in it.
            IndexModel(
                [("status", ASCENDING), ("deleting", ASCENDING)],
                name="deleting",
                partialFilterExpression={"status": "deleted"},
            ),
            # Scheduled articles whose tags are not counted yet, by instant: the sweep that
            # counts them once due reads only these (drafts and hidden ones have no instant).
            IndexModel([("published_at", ASCENDING)], name="tags_uncounted",
                       partialFilterExpression=UNCOUNTED),
            # Scheduled articles not announced yet, by instant: the sweep that announces them
            # once due reads only these (equality on `announced`, then the instant's range and
            # sort; a key pattern of its own beside `tags_uncounted`).
            IndexModel([("announced", ASCENDING), ("published_at", ASCENDING)],
                       name="unannounced", partialFilterExpression=UNANNOUNCED),
            # Which articles use an upload (cover or body): media deletion's 409 and `folio media
            # gc` (`$in` over a batch of uploads). Partial: only articles that use media.
            IndexModel([("media_ids", ASCENDING), ("author_id", ASCENDING)], name="media_used",
                       partialFilterExpression={"media_ids": {"$type": "objectId"}}),
            # `?meta.<key>=` filters on any key: one wildcard index instead of one per key.
            IndexModel([("meta.$**", ASCENDING)], name="meta_wildcard"),
            TEXT_INDEXES["site"],  # or TEXT_INDEXES["author"]: see use_text_index
        ]


def use_text_index(scope: str) -> None:
    """Declare the text index of this search scope ("site" or "author") as the articles' one.

    Called when an engine opens, from the one Settings object, so that `folio db sync`/`check`
    and the API agree on which of the two the collection holds.
    """
    wanted = TEXT_INDEXES[scope]
    Article.Settings.indexes = [
        index for index in Article.Settings.indexes
        if index not in TEXT_INDEXES.values()
    ] + [wanted]
