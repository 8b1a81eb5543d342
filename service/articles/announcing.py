"""Announcing articles: the `article.*` events' payloads, which event an article write makes,
and the sweep that announces scheduled articles when they go live. No HTTP here.

An article's `announced` says whether its going live was announced (an `article.published`
event). Every write sets it to whether the article is live then, guarded by the value it read
(as `tags_counted` is, service/tags/counting.py), and writes the event the change makes in its
own transaction: going live is `article.published`, an edit of a live one `article.updated`,
leaving (back to draft, rescheduled, hidden, deleted) `article.unpublished`. A scheduled
article goes live with no write: the sweep claims each due, unannounced one by flipping
`announced` in a findAndModify on the partial `unannounced` index (only one claimant, in any
process, can) and inserts its event in the same transaction.
"""

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from models import Article, User
from models.articles import UNANNOUNCED
from models.common import as_utc, utc_now
from service.articles.reads import FULL_FIELDS
from service.articles.schemas import SingleArticleResponse
from service.articles.visibility import readable
from service.engine import Engine, atomically, collection, current_engine
from service.events import actor_of, record
from service.profiles.queries import authors_by_id
from service.profiles.schemas import public_profile
from service.tags.counting import Schedule, is_live, pause

log = logging.getLogger("folio.events")

SWEEP_BATCH = 500


# --- payloads, in the API's own shapes ----------------------------------------------------------


def article_payload(article: Mapping[str, Any], author: Mapping[str, Any]) -> dict[str, Any]:
    """The single-article answer's `article` object, as an anonymous reader sees it."""
    shown = {**readable(dict(article)), "author": {**author, "following": False},
             "favorited": False}
    return SingleArticleResponse.of(shown).model_dump(mode="json", by_alias=True)["article"]


def article_summary(article: Mapping[str, Any], author: Mapping[str, Any]) -> dict[str, Any]:
    """`{"slug", "title", "author"}`: how other events name an article."""
    return {"slug": article["slug"], "title": article["title"], "author": public_profile(author)}


def article_refs(article: Mapping[str, Any]) -> dict[str, Any]:
    """The refs of an event about an article: the article, and its author as the user."""
    return {"article": article["_id"], "user": article["author_id"]}


# --- which event a write makes ------------------------------------------------------------------


@dataclass(frozen=True)
class Announcing:
    """The event side of one article write: a condition for its filter (the `announced` read),
    fields for its `$set`, and the event type it makes (None: nothing to announce)."""

    guard: dict[str, Any]
    fields: dict[str, Any]
    event: str | None


def was_announced(current: Mapping[str, Any], now: datetime) -> bool:
    """Whether the article as read was announced; one from before events counts as announced
    exactly when it is live."""
    announced = current.get("announced")
    return is_live(current.get("published_at"), now) if announced is None else announced


def announcing(current: Mapping[str, Any], fields: Mapping[str, Any], now: datetime
               ) -> Announcing:
    """The event side of writing `fields` over `current` (`{}` for a new article) at `now`."""
    published_at = fields["published_at"] if "published_at" in fields else current.get(
        "published_at")
    live = is_live(published_at, now)
    before = bool(current) and was_announced(current, now)
    if live:
        event = "article.updated" if before else "article.published"
    else:
        event = "article.unpublished" if before else None
    stored = current.get("announced")
    # `None` matches a missing or null flag alike (an article from before events).
    guard = {"announced": stored} if current else {}
    changed = {"announced": live} if stored is None or stored != live else {}
    return Announcing(guard, changed, event)


async def announce(
    event: str | None, article: Mapping[str, Any], author: Mapping[str, Any], actor: Any,
    session: Any, *, reason: str = "draft", at: datetime | None = None,
) -> None:
    """Write the article event a write made (nothing for None), in the write's transaction."""
    if event is None:
        return
    if event == "article.unpublished":
        data = {"article": article_summary(article, author), "reason": reason}
    else:
        data = {"article": article_payload(article, author)}
    await record(event, actor=actor_of(actor), data=data, refs=article_refs(article),
                 session=session, at=at)


# --- the sweep: scheduled articles going live -----------------------------------------------

_schedules: "weakref.WeakKeyDictionary[Engine, Schedule]" = weakref.WeakKeyDictionary()


def announcements(engine: Engine | None = None) -> Schedule:
    """What this process knows of the next scheduled article to announce, per open engine."""
    return _schedules.setdefault(engine or current_engine(), Schedule())



def due_filter(now: datetime) -> dict[str, Any]:
    """Scheduled articles whose instant has come and that are not announced yet; it holds the
    partial filter of `unannounced`, so that index serves it."""
    return {"announced": False, "published_at": {"$type": "date", "$lte": now}}


async def announce_one_due(now: datetime) -> bool:
    """Claim the earliest due unannounced article and write its `article.published` (at its
    instant, by no actor); False when none is due. Of two sweeps (in any processes) exactly
    one flips the flag; the event is inserted in the same transaction where there is one."""

    async def claim(session: Any) -> bool:
        article = await collection(Article).find_one_and_update(
            due_filter(now), {"$set": {"announced": True}},
            sort=[("published_at", ASCENDING)], projection=dict(FULL_FIELDS),
            return_document=ReturnDocument.AFTER, session=session,
        )
        if article is None:
            return False
        authors = await authors_by_id([article["author_id"]])
        author = authors.get(article["author_id"]) or {"username": "", "bio": None,
                                                       "image": None}
        await announce("article.published", article, author, None, session,
                       at=as_utc(article["published_at"]))
        return True

    return await atomically(claim)


async def earliest_unannounced() -> datetime | None:
    """The instant of the next scheduled article to announce (one read on `unannounced`)."""
    found = await collection(Article).find(UNANNOUNCED, {"published_at": 1}).sort(
        "published_at", ASCENDING).limit(1).to_list(1)
    return as_utc(found[0]["published_at"]) if found else None


async def announce_due(limit: int, state: Schedule | None = None) -> int:
    """Announce up to `limit` due scheduled articles, then learn the next instant; how many."""
    state = state or announcements()
    async with state.lock:
        now = utc_now()
        announced = 0
        while announced < limit and await announce_one_due(now):
            announced += 1
        state.next_due = await earliest_unannounced()
    return announced


async def sweep_forever(engine: Engine, interval: float) -> None:
    """The background pass of one API process (a task of the lifespan), until cancelled: every
    `interval` (FOLIO_TAG_SWEEP_SECONDS), sooner for an instant it knows of. Bounded passes; a
    failure is logged and retried a pass later."""
    state = announcements(engine)
    while True:
        await asyncio.sleep(pause(state, interval))
        try:
            announced = await announce_due(SWEEP_BATCH, state)
        except Exception:
            log.exception("announcing scheduled articles failed; retried in %g s", interval)
            await asyncio.sleep(interval)
        else:
            if announced:
                log.info("announced %d scheduled articles now live", announced)


def author_of(user: User) -> dict[str, Any]:
    """A user's public fields, as `announce` takes an author."""
    return {"_id": user.id, "username": user.username, "bio": user.bio, "image": user.image}
