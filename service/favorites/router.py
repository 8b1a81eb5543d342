"""Favorites: `/articles/{slug}/favorite`, under the spec's own `Favorites` tag only."""

from fastapi import APIRouter

from service.articles import queries
from service.articles.deps import ArticleBySlug
from service.articles.schemas import SingleArticleResponse
from service.profiles.queries import is_following
from service.schemas import error_responses
from service.users.deps import ActingViewer

router = APIRouter(
    prefix="/articles", tags=["Favorites"], responses=error_responses(401, 404, 413, 422, 429)
)


@router.post(
    "/{slug}/favorite",
    name="articles:favorite",
    response_model=SingleArticleResponse,
    summary="Favorite an article",
)
async def favorite(viewer: ActingViewer, article: ArticleBySlug) -> SingleArticleResponse:
    """Favorite an article (idempotent)."""
    article["favorites_count"] = await queries.favorite(article, viewer.id)
    article["favorited"] = True
    article["author"]["following"] = await is_following(viewer.id, article["author_id"])
    return SingleArticleResponse.of(article)


@router.delete(
    "/{slug}/favorite",
    name="articles:unfavorite",
    response_model=SingleArticleResponse,
    summary="Unfavorite an article",
)
async def unfavorite(viewer: ActingViewer, article: ArticleBySlug) -> SingleArticleResponse:
    """Take back a favorite (idempotent)."""
    article["favorites_count"] = await queries.unfavorite(article, viewer.id)
    article["favorited"] = False
    article["author"]["following"] = await is_following(viewer.id, article["author_id"])
    return SingleArticleResponse.of(article)
