"""The floor of `tools.cpu_per_request`: a bare FastAPI app answering a fixed RealWorld page.

    uvicorn tools.cpu_floor:app --loop uvloop --http httptools

One route, `GET /api/articles`, answers the same 20-article page of the RealWorld shape every
time, through a pydantic response model (FastAPI validates and serialises it, as an ordinary
FastAPI app does), with no database, no middleware and no authentication. What Folio's own CPU
per request is compared with.

    uvicorn --factory tools.cpu_floor:stack --loop uvloop --http httptools

The **stack floor** beside it: the same app and answers, each after one driver operation through
a bare Motor client (`FOLIO_MONGODB_URL`, `FOLIO_DATABASE`) made with Folio's own arguments: the
first page's `find` (by tag too), an article's `find_one` by slug, and for a signed-in reader the
page's and the article's aggregations. No Folio code is on the request's path, so this is what FastAPI, Motor
and the wire tier's server cost for that operation on this machine, below which no endpoint that
makes it can go. `GET /api/wait?ms=N` answers after an idle wait and no operation: what waiting
alone costs the process.
"""

import asyncio
import os
from typing import Any

from fastapi import FastAPI, HTTPException
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


class Article(ArticleItem):
    """A single article, RealWorld 2.0 (with its body)."""

    body: str


class SingleArticle(BaseModel):
    """The `article` envelope."""

    article: Article


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
SINGLE = {"article": {**PAGE["articles"][0], "body": "A paragraph of the article's body. " * 40}}
app = FastAPI()


@app.get("/api/articles", response_model=ArticlesPage, response_model_by_alias=True)
async def articles() -> dict:
    """The fixed page, validated and serialised through the response model."""
    return PAGE


def stack() -> FastAPI:
    """The floor's app and answers, each after one operation on the database (see above)."""
    from bson import ObjectId
    from motor.motor_asyncio import AsyncIOMotorClient

    from models.common import utc_now
    from service.articles.reads import (
        BY_SLUG_FIELDS,
        article_by_slug_pipeline,
        article_page_pipeline,
        page_find,
        status_condition,
    )

    client = AsyncIOMotorClient(os.environ["FOLIO_MONGODB_URL"], uuidRepresentation="standard")
    articles = client[os.environ["FOLIO_DATABASE"]]["articles"]
    stacked = FastAPI()

    @stacked.get("/api/articles", response_model=ArticlesPage, response_model_by_alias=True)
    async def first_page(tag: str | None = None, viewer: str | None = None) -> dict[str, Any]:
        """The fixed page, after reading the first page of live articles as Folio does: by a
        `find`, with the tag if given, or for a `viewer` (a user id) by the aggregation that
        joins their favorites and follows to the rows."""
        match, sort = status_condition("published", utc_now())
        if tag is not None:
            match["tag_list"] = tag
        if viewer is not None:
            pipeline = article_page_pipeline(match, offset=0, limit=ARTICLES, sort=sort,
                                             viewer_id=ObjectId(viewer))
            rows = await articles.aggregate(pipeline).to_list(None)
        else:
            read = page_find(match, offset=0, limit=ARTICLES, sort=sort)
            rows = await articles.find(**read).to_list(None)  # as reads._page_rows sends it
        if not rows or (tag is None and len(rows) != ARTICLES):
            raise HTTPException(500, f"read {len(rows)} articles")
        return PAGE

    @stacked.get("/api/wait", response_model=ArticlesPage, response_model_by_alias=True)
    async def after_waiting(ms: float) -> dict[str, Any]:
        """The fixed page after an idle wait of `ms` milliseconds and no operation: what
        waiting for an answer costs the process by itself."""
        await asyncio.sleep(ms / 1000)
        return PAGE

    @stacked.get("/api/articles/{slug}", response_model=SingleArticle,
                 response_model_by_alias=True)
    async def one_article(slug: str, viewer: str | None = None) -> dict[str, Any]:
        """The fixed article, after reading the article by its slug as Folio does: a
        `find_one`, or for a `viewer` the aggregation that joins their edges to it."""
        if viewer is not None:
            pipeline = article_by_slug_pipeline(slug, ObjectId(viewer))
            found = await articles.aggregate(pipeline).to_list(None)
        else:
            found = await articles.find_one({"slug": slug}, BY_SLUG_FIELDS)
        if not found:
            raise HTTPException(404, "no such article")
        return SINGLE

    return stacked
