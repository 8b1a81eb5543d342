"""Aggregate figures over live articles: `/analytics/...`."""

from typing import Annotated

from fastapi import APIRouter, Query

from service.analytics import queries
from service.analytics.schemas import (
    AuthorStatsResponse,
    OverviewResponse,
    TagTrendsResponse,
)
from service.schemas import error_responses

router = APIRouter(
    prefix="/analytics", tags=["Analytics"], responses=error_responses(404, 422)
)

WINDOW = "days ending today (UTC), today included"


@router.get(
    "/tags", name="analytics:tags", response_model=TagTrendsResponse, summary="Tag trends"
)
async def tag_trends(
    days: Annotated[int, Query(ge=1, le=365, description=WINDOW)] = 30,
) -> TagTrendsResponse:
    """The top 50 tags of live articles created in the window, with an ISO-weekly series."""
    return TagTrendsResponse.model_validate({"tags": await queries.tag_trends(days)})


@router.get(
    "/authors/{username}",
    name="analytics:author",
    response_model=AuthorStatsResponse,
    summary="An author's figures",
)
async def author_stats(username: str) -> AuthorStatsResponse:
    """Live articles, favorites and comments received, followers, top 5 articles, monthly series."""
    return AuthorStatsResponse.model_validate({"author": await queries.author_stats(username)})


@router.get(
    "/overview", name="analytics:overview", response_model=OverviewResponse, summary="Overview"
)
async def overview(
    days: Annotated[int, Query(ge=1, le=90, description=WINDOW)] = 7,
) -> OverviewResponse:
    """All-time totals, and per day of the window: live articles, comments and sign-ups."""
    return OverviewResponse.model_validate(await queries.overview(days))
