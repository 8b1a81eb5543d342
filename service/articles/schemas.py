"""Wire shapes of the articles domain."""

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from service.profiles.schemas import Profile
from service.schemas import Timestamp, WireModel, not_blank

MAX_TAGS = 20


Title = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(not_blank)
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000), AfterValidator(not_blank)
]
# The body keeps its own leading and trailing white space: Markdown can depend on it.
Body = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(not_blank)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _drop_blank_tags(value: object) -> object:
    """Null means no tags; blank entries (an empty input box) are dropped."""
    if value is None:
        return []
    if isinstance(value, list):
        return [tag for tag in value if not (isinstance(tag, str) and not tag.strip())]
    return value


def _unique_sorted(tags: list[str]) -> list[str]:
    """Tags are a set: duplicates collapse and they are kept in alphabetical order."""
    return sorted(set(tags))


TagList = Annotated[
    list[Tag],
    BeforeValidator(_drop_blank_tags),
    AfterValidator(_unique_sorted),
    Field(max_length=MAX_TAGS, description=f"up to {MAX_TAGS} tags; stored sorted and unique"),
]


class NewArticle(WireModel):
    """An article to create."""

    title: Title
    description: Description
    body: Body
    tag_list: TagList = Field(default_factory=list)


class NewArticleRequest(WireModel):
    """The `article` envelope of a create."""

    article: NewArticle


class UpdateArticle(WireModel):
    """Fields of an article to change; a new title gives a new slug."""

    title: Title | None = None
    description: Description | None = None
    body: Body | None = None
    tag_list: TagList | None = None


class UpdateArticleRequest(WireModel):
    """The `article` envelope of an update."""

    article: UpdateArticle


class ArticleListItem(WireModel):
    """An article as lists show it: everything but the body."""

    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    favorited: bool
    favorites_count: int
    author: Profile


class ArticleOut(ArticleListItem):
    """A single article, body included."""

    body: str


class SingleArticleResponse(WireModel):
    """The `article` envelope."""

    article: ArticleOut


class MultipleArticlesResponse(WireModel):
    """A page of articles and the total number that match."""

    articles: list[ArticleListItem]
    articles_count: int = Field(description="all matching articles, not just this page")
