"""Wire shapes of the analytics domain."""

from service.contract.schemas import WireModel


class WeekCount(WireModel):
    """Live articles created with a tag in one ISO week."""

    week: str
    articles: int


class TagTrend(WireModel):
    """A tag's live articles created in the window, the favorites they hold, and weekly counts."""

    tag: str
    articles: int
    favorites: int
    weekly: list[WeekCount]


class TagTrendsResponse(WireModel):
    """The top tags of the window: by articles, then favorites, then tag."""

    tags: list[TagTrend]


class TopArticle(WireModel):
    """One of an author's most favorited live articles."""

    slug: str
    title: str
    favorites_count: int


class MonthCount(WireModel):
    """Live articles an author created in one month."""

    month: str
    articles: int


class AuthorStats(WireModel):
    """An author's figures over their live articles."""

    username: str
    articles: int
    favorites_received: int
    comments_received: int
    followers: int
    top_articles: list[TopArticle]
    monthly: list[MonthCount]


class AuthorStatsResponse(WireModel):
    """The `author` envelope."""

    author: AuthorStats


class Totals(WireModel):
    """All-time totals; articles, comments and favorites count live articles only."""

    users: int
    articles: int
    comments: int
    favorites: int


class DayCounts(WireModel):
    """What happened on one UTC day of the window."""

    date: str
    articles: int
    comments: int
    users: int


class OverviewResponse(WireModel):
    """Totals and one entry per day of the window, zeros included."""

    totals: Totals
    daily: list[DayCounts]
