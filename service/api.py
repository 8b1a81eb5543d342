"""The table of contents: every domain router, mounted under /api, and the event consumers."""

from fastapi import APIRouter

from service.analytics.router import router as analytics_router
from service.articles.favorite_router import router as favorites_router
from service.articles.history_router import router as revisions_router
from service.articles.router import router as articles_router
from service.comments.router import router as comments_router
from service.events import Consumer
from service.media.router import router as media_router
from service.moderation.router import reports_router
from service.moderation.router import router as moderation_router
from service.notifications.consumer import consume as notify
from service.notifications.router import router as notifications_router
from service.profiles.router import router as profiles_router
from service.search.router import router as search_router
from service.tags.router import router as tags_router
from service.users.router import router as users_router
from service.webhooks import consumer as webhooks_consumer
from service.webhooks.router import router as webhooks_router

# In this order, which is the order routes are tried in (service/web/routing.py adds them to
# the app as one flat table).
API_ROUTERS: tuple[APIRouter, ...] = (
    users_router,
    profiles_router,
    articles_router,
    comments_router,
    revisions_router,
    favorites_router,
    tags_router,
    search_router,
    analytics_router,
    reports_router,
    moderation_router,
    webhooks_router,
    notifications_router,
    media_router,
)

# The event consumers, by name (the drain records per name which events are done; renaming
# one makes it see every pending event again). Each is `async def consume(event: dict)`:
# idempotent, fast, raising to be retried (service/events/types.py).
EVENT_CONSUMERS: dict[str, Consumer] = {
    "webhooks": webhooks_consumer.consume,
    "notifications": notify,
}
