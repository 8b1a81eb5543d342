"""The floor of `tools.cpu_per_request`: a bare FastAPI app answering a fixed RealWorld page.

    uvicorn tools.cpu_floor:app --loop uvloop --http httptools

One route, `GET /api/articles`, answers the same 20-article page of the RealWorld shape every
time, through a pydantic response model (FastAPI validates and serialises it, as an ordinary
FastAPI app does), with no database, no middleware and no authentication. What Folio's own CPU
per request is compared with.
"""

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

STAMP = "2026-01-02T03:04:05.678Z"
ARTICLES = 20


class Author(BaseModel):
    """The author as RealWorld shows it."""

    username: str
    bio: str | None = None
    image: str | None = None
    following: bool


class ArticleItem(BaseModel):
    """One article of a list page, RealWorld 2.0 (no body)."""

    model_config = ConfigDict(populate_by_name=True)

    slug: str
    title: str
    description: str
    tag_list: list[str] = Field(alias="tagList")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    favorited: bool
    favorites_count: int = Field(alias="favoritesCount")
    author: Author


class ArticlesPage(BaseModel):
    """The `articles` envelope."""

    model_config = ConfigDict(populate_by_name=True)

    articles: list[ArticleItem]
    articles_count: int = Field(alias="articlesCount")


def page() -> dict:
    """The fixed page: 20 articles of typical sizes (titles, descriptions and tags as seeded)."""
    return {
        "articles": [{
            "slug": f"a-typical-article-title-of-some-words-{n}",
            "title": f"A typical article title of some words {n}",
            "description": "A one-sentence description of the article, about twelve words long.",
            "tagList": ["python", "mongodb", "webdev"][: n % 4],
            "createdAt": STAMP, "updatedAt": STAMP, "favorited": False, "favoritesCount": n,
            "author": {"username": f"author{n % 10}", "bio": "Writes about things.",
                       "image": None, "following": False},
        } for n in range(ARTICLES)],
        "articlesCount": 60,
    }


PAGE = page()
app = FastAPI()


@app.get("/api/articles", response_model=ArticlesPage, response_model_by_alias=True)
async def articles() -> dict:
    """The fixed page, validated and serialised through the response model."""
    return PAGE
