"""Wire shapes of the articles domain."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from service.articles.meta import MAX_DEPTH, MAX_ENCODED_BYTES, MAX_KEYS, validate_meta
from service.articles.reads import FAVORITES_FILTER_CAP
from service.contract.errors import Invalid
from service.contract.schemas import (
    Instant,
    PageParams,
    RequestModel,
    SparseWireModel,
    Text,
    Timestamp,
    WireModel,
    web_url,
)
from service.media.covers import wire_cover
from service.profiles.schemas import Profile

MAX_TAGS = 20
CLEARED_BY_NULL = {"publish_at": None, "cover_image": None, "canonical_url": None, "meta": {}}


Title = Text(200)
Description = Text(1000)
# The body keeps its own leading and trailing white space: Markdown can depend on it.
Body = Text(100_000, strip=False)
Tag = Text(64, min_length=1)


def _drop_blank_tags(value: object) -> object:
    """Blank entries (an empty input box) are dropped; null is refused, as RealWorld 2.0 says."""
    if value is None:
        raise ValueError("must be a list; send [] for no tags")
    if isinstance(value, list):
        return [tag for tag in value if not (isinstance(tag, str) and not tag.strip())]
    return value


def _unique_sorted(tags: list[str]) -> list[str]:
    """Tags are a set: duplicates collapse and they are kept in alphabetical order."""
    return sorted(set(tags))


def _checked_meta(value: Any) -> dict[str, Any]:
    """Apply the meta rules, reporting the offending path as the error's field."""
    try:
        return validate_meta(value)
    except Invalid as error:
        raise PydanticCustomError(
            "meta_invalid", "{message}", {"field": error.field, "message": error.message}
        ) from None


WebUrl = Annotated[Text(2048, blank=True), AfterValidator(web_url)]


def _refuse_null_meta(value: object) -> object:
    """On create, null is not "no metadata": say so rather than "can't be blank"."""
    if value is None:
        raise ValueError("must be an object; send {} for none")
    return value


Meta = Annotated[
    dict[str, Any],
    BeforeValidator(_refuse_null_meta),
    AfterValidator(_checked_meta),
    Field(
        description=(
            f"free-form metadata: at most {MAX_KEYS} keys, {MAX_DEPTH} levels, "
            f"{MAX_ENCODED_BYTES} bytes encoded; keys match ^[A-Za-z][A-Za-z0-9_]{{0,63}}$; "
            "values are strings, numbers, booleans, lists or objects"
        )
    ),
]
PublishAt = Annotated[
    Instant,
    Field(description="when a published article becomes visible; in the future it is scheduled"),
]
Status = Annotated[
    Literal["draft", "published"],
    Field(description="drafts and scheduled articles are visible only to their author"),
]


class CoverImageIn(RequestModel):
    """A cover image: a `url`, or a `mediaId` from your media library (one of the two);
    `alt` text is required for accessibility."""

    url: WebUrl | None = None
    media_id: Text(24) | None = Field(
        default=None,
        description="an upload of yours (POST /api/media): the answer carries its URL and "
        "resized variants; someone else's, a hidden or an unknown one answers 422",
    )
    alt: Text(500)

    @model_validator(mode="after")
    def _one_source(self) -> "CoverImageIn":
        """Exactly one of `url` and `mediaId`."""
        if self.url is None and self.media_id is None:
            raise PydanticCustomError("missing", "can't be blank", {"field": "coverImage.url"})
        if self.url is not None and self.media_id is not None:
            raise PydanticCustomError(
                "cover_source", "{message}",
                {"field": "coverImage", "message": "takes either url or mediaId, not both"},
            )
        return self


TagList = Annotated[
    list[Tag],
    BeforeValidator(_drop_blank_tags),
    AfterValidator(_unique_sorted),
    Field(max_length=MAX_TAGS, description=f"up to {MAX_TAGS} tags; stored sorted and unique"),
]


# What an article response carries that the server owns; clients that send a whole article
# back (some RealWorld frontends do) have these dropped, never applied.
ARTICLE_READ_ONLY = frozenset({
    "slug", "createdAt", "updatedAt", "favorited", "favoritesCount", "author",
    "bodyHtml", "readingTimeMinutes", "publishedAt",
})


class NewArticle(RequestModel):
    """An article to create; everything past `tagList` is Folio's optional extension."""

    READ_ONLY = ARTICLE_READ_ONLY

    title: Title
    description: Description
    body: Body
    tag_list: TagList = Field(default_factory=list)
    status: Status = "published"
    publish_at: PublishAt | None = None
    meta: Meta = Field(default_factory=dict)
    cover_image: CoverImageIn | None = None
    canonical_url: WebUrl | None = None


class NewArticleRequest(RequestModel):
    """The `article` envelope of a create."""

    article: NewArticle


class UpdateArticle(RequestModel):
    """Fields of an article to change; a new title gives a new slug."""

    READ_ONLY = ARTICLE_READ_ONLY

    title: Title | None = None
    description: Description | None = None
    body: Body | None = None
    tag_list: TagList | None = None
    status: Status | None = None
    publish_at: PublishAt | None = None
    meta: Meta | None = None
    cover_image: CoverImageIn | None = None
    canonical_url: WebUrl | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the client sent; null clears the optional extensions and leaves the rest."""
        return self.sent_fields(CLEARED_BY_NULL)


class UpdateArticleRequest(RequestModel):
    """The `article` envelope of an update."""

    article: UpdateArticle


class CoverVariantOut(WireModel):
    """A resized variant of a media cover."""

    url: str
    width: int
    height: int
    content_type: str


class CoverImageOut(SparseWireModel):
    """A cover image; a media cover also has its `mediaId`, size, type and resized variants."""

    OMITTED_WHEN_NULL = frozenset({"media_id", "width", "height", "content_type", "variants"})

    url: str
    alt: str
    media_id: str | None = None
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    variants: dict[str, CoverVariantOut] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_stored(cls, value: Any) -> Any:
        """A stored media cover's paths become absolute URLs (the one place covers render)."""
        return wire_cover(value)


class ModerationOut(WireModel):
    """Why a moderator hid this, shown only to those who can still see it (author, moderators)."""

    hidden: bool = True
    reason: str
    at: Timestamp


class ArticleListItem(SparseWireModel):
    """An article as lists show it: everything but the body and its HTML.

    `moderation` appears only on a hidden article, which only its author and moderators see.
    """

    OMITTED_WHEN_NULL = frozenset({"moderation"})

    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    favorited: bool
    favorites_count: int
    author: Profile
    status: Literal["draft", "published"] = "published"
    publish_at: Timestamp | None = Field(default=None, description="the requested publication time")
    published_at: Timestamp | None = Field(
        default=None, description="when the article is, or becomes, public; null for drafts"
    )
    reading_time_minutes: int | None = Field(
        default=None, description="null only for a legacy article until migration 0001 runs"
    )
    meta: dict[str, Any] = Field(default_factory=dict)
    cover_image: CoverImageOut | None = None
    canonical_url: str | None = None
    moderation: ModerationOut | None = None


class ArticleOut(ArticleListItem):
    """A single article, with its Markdown body and the sanitised HTML rendered from it."""

    body: str
    body_html: str = ""


class SingleArticleResponse(WireModel):
    """The `article` envelope."""

    article: ArticleOut

    @classmethod
    def of(cls, article: dict[str, Any]) -> "SingleArticleResponse":
        """The envelope for a pipeline result that carries its viewer flags."""
        return cls(article=ArticleOut.model_validate(article))


class MultipleArticlesResponse(WireModel):
    """A page of articles and the total number that match."""

    articles: list[ArticleListItem]
    articles_count: int = Field(description="all matching articles, not just this page")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )


class ListParams(PageParams):
    """`GET /api/articles`'s query parameters: the page, then the filters. One model, so that
    FastAPI validates them in one step (issue 21: each parameter resolved on its own cost a
    few microseconds per request); the OpenAPI document lists them as before."""

    tag: str | None = Field(default=None, max_length=64, description="filter by tag")
    author: str | None = Field(default=None, max_length=64, description="filter by author")
    favorited: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "filter by a user's favorites, most recently favorited first. Combined with "
            f"other filters (tag, author, status, meta), only users with at most "
            f"{FAVORITES_FILTER_CAP:,} favorites can be listed (more answers 422: "
            "list their favorites alone)"
        ),
    )
    status: Literal["published", "draft", "scheduled"] = Field(
        default="published",
        description="`draft` and `scheduled` list the caller's own articles (auth required)",
    )
