"""Article slugs: a title's slug, made unique by a suffix while the unique index objects."""

import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.errors import DuplicateKeyError
from slugify import slugify

from service.contract.errors import (
    Conflict,
)

T = TypeVar("T")


SLUG_MAX_LENGTH = 80


SLUG_ATTEMPTS = 6


# Path segments that another route under /articles owns: `GET /api/articles/feed` is the feed,
# so an article titled "Feed" gets a suffixed slug, or it could never be read by slug.
RESERVED_SLUGS = frozenset({"feed"})


def slug_base(title: str) -> str:
    """The slug a title gives before any collision suffix."""
    return slugify(title, max_length=SLUG_MAX_LENGTH, word_boundary=True) or "article"


async def with_unique_slug(title: str, write: Callable[[str], Awaitable[T]]) -> T:
    """Run a write with the title's slug, adding a random suffix while the unique index objects."""
    base = slug_base(title)
    for attempt in range(SLUG_ATTEMPTS):
        plain = attempt == 0 and base not in RESERVED_SLUGS
        slug = base if plain else f"{base}-{secrets.token_hex(3)}"
        try:
            return await write(slug)
        except DuplicateKeyError:
            continue
    raise Conflict("slug", "could not find a free slug for this title; try another title")
