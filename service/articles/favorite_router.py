"""Favorites: `/articles/{slug}/favorite`, under the spec's own `Favorites` tag only."""

from typing import Any

from fastapi import APIRouter

from service.articles import counters
from service.articles.deps import ArticleBySlug
from service.articles.schemas import SingleArticleResponse
from service.contract.schemas import error_responses
from service.profiles.queries import is_following
from service.users.deps import ActingViewer
from service.users.queries import Viewer, current_username

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
    username = await current_username(viewer)  # the event's actor
    return await _answer(article, viewer,
                         await counters.favorite(article, viewer.id, username), True)


@router.delete(
    "/{slug}/favorite",
    name="articles:unfavorite",
    response_model=SingleArticleResponse,
    summary="Unfavorite an article",
)
async def unfavorite(viewer: ActingViewer, article: ArticleBySlug) -> SingleArticleResponse:
    """Take back a favorite (idempotent)."""
    return await _answer(article, viewer, await counters.unfavorite(article, viewer.id), False)


async def _answer(
    article: dict[str, Any], viewer: Viewer, favorites_count: int, favorited: bool
) -> SingleArticleResponse:
    """The article as the viewer now sees it: its new count, their flag, and whether they follow."""
    article["favorites_count"] = favorites_count
    article["favorited"] = favorited
    article["author"]["following"] = await is_following(viewer.id, article["author_id"])
    return SingleArticleResponse.of(article)
