"""Aggregate figures over live articles: `/analytics/...`."""

from typing import Annotated

from fastapi import APIRouter, Query

from service.analytics import queries
from service.analytics.schemas import (
    AuthorStatsResponse,
    OverviewResponse,
    TagTrendsResponse,
)
from service.contract.schemas import error_responses

router = APIRouter(
    prefix="/analytics", tags=["Analytics"], responses=error_responses(404, 422)
)

WINDOW = (
    "days ending today (UTC), today included: one of {windows}; any other number answers 422 "
    "(each window is read from daily rollups, and cached per window)"
)


@router.get(
    "/tags", name="analytics:tags", response_model=TagTrendsResponse, summary="Tag trends"
)
async def tag_trends(
    days: Annotated[
        int, Query(description=WINDOW.format(windows="1, 7, 30, 90, 365"),
                   json_schema_extra={"enum": list(queries.TAG_WINDOWS)})
    ] = 30,
) -> TagTrendsResponse:
    """The top 50 tags of live articles published in the window (by UTC day), with an ISO-weekly
    series; from the daily rollups, so it never scans articles."""
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
    days: Annotated[
        int, Query(description=WINDOW.format(windows="1, 7, 30, 90"),
                   json_schema_extra={"enum": list(queries.OVERVIEW_WINDOWS)})
    ] = 7,
) -> OverviewResponse:
    """All-time totals, and per day of the window: live articles published, comments written and
    accounts created that day (those that still exist); from the daily rollups."""
    return OverviewResponse.model_validate(await queries.overview(days))
