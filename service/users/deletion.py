"""Account deletion: mark the account, end its sessions, then remove everything it owns. No HTTP.

The order makes a deletion safe to interrupt and to resume. `mark` sets `deleting` and ends
every session in one update, so the account's tokens stop working at once and sign-in fails
(as for bad credentials). `finish` then removes, in batches of at most BATCH_SIZE: the follows
both ways, the account's favorites (each `$inc`-ing its article's `favorites_count` down), its
comments (`comments_count` down, per article), the reports it filed, its articles with their
comments, favorites, revisions and reports, and last the account itself, which frees the
username and email. `moderation_log` keeps its entries (they hold usernames as text).

Counters stay exact across a crash. On a replica set each batch's deletes and decrements are
one transaction. Without transactions, the articles a batch touches are first listed on the
account (`deletion_pending`); a resumed deletion settles them before going on: an article that
still exists gets its counters recounted, one already deleted loses its comments, favorites,
revisions and reports. A decrement only ever subtracts what that runner itself deleted, so no
re-run can decrement twice.

One runner at a time holds a deletion (`deletion_claimed_until`, renewed every batch); a
runner that finds it claimed leaves it alone (DeletionBusy) until the claim lapses.
"""

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from models import Article, Comment, Favorite, Follow, Report, User
from models.common import utc_now
from service.articles.counts import counts
from service.articles.queries import favorites_key, move_counter, remove_dependents
from service.db import atomically, collection
from service.errors import Forbidden, Unauthorized
from service.rollups import move_article, move_held
from service.security import Passwords
from service.users.queries import Viewer, ending_every_session, forget_confirmations

log = logging.getLogger("folio.deletion")

# Documents read (and then removed) per batch; a test lowers it.
BATCH_SIZE = 500
# How long a runner holds a deletion between two batches before another may take it over.
CLAIM_SECONDS = 120
# How many times settling re-reads a counter that moved while it was being recounted.
RECOUNT_ATTEMPTS = 10


class DeletionBusy(Exception):
    """Another runner holds this deletion (its claim has not lapsed)."""


@dataclass
class Deletion:
    """What one run of `finish` removed, per kind of document."""

    username: str
    removed: Tally[str] = field(default_factory=Tally)
    settled: int = 0  # articles settled from an interrupted batch


# --- marking ------------------------------------------------------------------------------------


def _marking(now: datetime) -> dict[str, Any]:
    """The update that marks an account for deletion and ends all its sessions."""
    return ending_every_session({"deleting": now})


async def mark(user_id: PydanticObjectId, condition: dict[str, Any] | None = None) -> bool:
    """Set `deleting` and end every session, unless already marked; whether this call marked it.

    `condition` adds to the filter (the caller's session still live, the password it checked
    still the account's), so that a token revoked, or a password changed, meanwhile marks nothing.
    """
    marked = await collection(User).update_one(
        {"_id": user_id, "deleting": {"$exists": False}, **(condition or {})}, _marking(utc_now())
    )
    forget_confirmations(user_id)  # this process stops trusting the account's tokens at once
    return marked.modified_count == 1


async def request_deletion(
    passwords: Passwords, user: User, viewer: Viewer, password: str
) -> None:
    """The account holder's own deletion: re-check the password, then mark the account.

    Forbidden when the password is wrong; Unauthorized when the session ended, or the password
    changed, since the token was checked. `finish` does the rest.
    """
    if not await passwords.verify(user.password_hash, password):
        raise Forbidden("password", "is incorrect")
    if viewer.session_id is None:
        signed_in: dict[str, Any] = {"token_version": viewer.token_version}
    else:
        signed_in = {"sessions.id": viewer.session_id}
    condition = {**signed_in, "password_hash": user.password_hash}
    if not await mark(user.id, condition):  # type: ignore[arg-type]
        raise Unauthorized("token", "has been revoked; sign in again")


# --- claiming -----------------------------------------------------------------------------------


async def _claim(
    user_id: PydanticObjectId, held: datetime | None
) -> tuple[dict[str, Any], datetime] | None:
    """Take (or, with `held`, the instant this run's claim ends, renew) the deletion; the
    account and the new end of the claim, or None once the account is gone.

    DeletionBusy when another runner's claim has not lapsed.
    """
    now = utc_now()
    until = now + timedelta(seconds=CLAIM_SECONDS)
    free: list[dict[str, Any]] = [
        {"deletion_claimed_until": {"$exists": False}},
        {"deletion_claimed_until": {"$lt": now}},
    ]
    if held is not None:
        free.append({"deletion_claimed_until": held})
    account = await collection(User).find_one_and_update(
        {"_id": user_id, "deleting": {"$exists": True}, "$or": free},
        {"$set": {"deletion_claimed_until": until}},
        projection={"username": 1, "deletion_pending": 1},
        return_document=ReturnDocument.AFTER,
    )
    if account is not None:
        return account, until
    if await collection(User).find_one({"_id": user_id, "deleting": {"$exists": True}}, {"_id": 1}):
        raise DeletionBusy(str(user_id))
    return None


# --- settling an interrupted batch -----------------------------------------------------------


async def _pending(user_id: PydanticObjectId, article_ids: list[PydanticObjectId]) -> None:
    """List the articles a batch is about to touch, before it touches them."""
    await collection(User).update_one(
        {"_id": user_id}, {"$addToSet": {"deletion_pending": {"$each": article_ids}}}
    )


async def _settled(user_id: PydanticObjectId, article_ids: list[PydanticObjectId]) -> None:
    """Strike the articles of a completed batch off the pending list."""
    await collection(User).update_one(
        {"_id": user_id}, {"$pull": {"deletion_pending": {"$in": article_ids}}}
    )


COUNTED = (("favorites_count", Favorite), ("comments_count", Comment))


async def recount_article(article_id: PydanticObjectId) -> bool:
    """Set an article's counters to the documents that name it (by `$inc`, guarded by the value
    read, retried while it moves); False when the article is gone."""
    for counter, model in COUNTED:
        for _ in range(RECOUNT_ATTEMPTS):
            article = await collection(Article).find_one({"_id": article_id}, {counter: 1})
            if article is None:
                return False
            true = await collection(model).count_documents({"article_id": article_id})
            stored = article.get(counter, 0)
            if stored == true:
                break
            moved = await collection(Article).update_one(
                {"_id": article_id, counter: stored}, {"$inc": {counter: true - stored}}
            )
            if moved.modified_count:
                break
    return True


async def _settle(user_id: PydanticObjectId, article_ids: list[PydanticObjectId]) -> None:
    """Finish what an interrupted batch left: recount the articles that still exist, and
    remove what names the ones already deleted."""
    gone = [article_id for article_id in article_ids if not await recount_article(article_id)]
    if gone:
        await remove_dependents(gone)
    await _settled(user_id, article_ids)


# --- the steps, each removing one batch -----------------------------------------------------------

# A step removes at most BATCH_SIZE documents of one kind and says how many it removed
# (0: nothing of that kind is left).
Step = Callable[[PydanticObjectId], Awaitable[int]]


async def _ids(model: type, condition: dict[str, Any], fields: dict[str, int]) -> list[dict]:
    """The next batch of matching documents (their `_id` and `fields`)."""
    return await collection(model).find(condition, fields).limit(BATCH_SIZE).to_list(None)


async def _remove_by_id(model: type, condition: dict[str, Any]) -> int:
    """Remove the next batch of matching documents that nothing counts."""
    batch = await _ids(model, condition, {"_id": 1})
    if not batch:
        return 0
    removed = await collection(model).delete_many({"_id": {"$in": [d["_id"] for d in batch]}})
    return removed.deleted_count


async def follows_given(user_id: PydanticObjectId) -> int:
    """The follows the account gave."""
    return await _remove_by_id(Follow, {"follower_id": user_id})


async def follows_received(user_id: PydanticObjectId) -> int:
    """The follows the account received."""
    return await _remove_by_id(Follow, {"followee_id": user_id})


async def favorites(user_id: PydanticObjectId) -> int:
    """The account's favorites, each uncounted from its article (one per article)."""
    batch = await _ids(Favorite, {"user_id": user_id}, {"article_id": 1})
    if not batch:
        return 0
    article_ids = [edge["article_id"] for edge in batch]
    await _pending(user_id, article_ids)

    uncounted: dict[PydanticObjectId, tuple[int, int]] = {}

    async def write(session: Any) -> int:
        removed = 0
        uncounted.clear()  # a retried transaction starts over
        for edge in batch:
            gone = await collection(Favorite).delete_one({"_id": edge["_id"]}, session=session)
            if gone.deleted_count:  # only what this runner removed is uncounted
                await move_counter(edge["article_id"], "favorites_count", -1, session)
                held = uncounted.get(edge["article_id"], (0, 0))
                uncounted[edge["article_id"]] = (held[0] - 1, 0)
                removed += 1
        return removed

    removed = await atomically(write)
    await move_held(uncounted)
    await _settled(user_id, article_ids)
    await counts().forget(favorites_key(user_id))
    return removed


async def comments(user_id: PydanticObjectId) -> int:
    """The account's comments, uncounted per article, with the reports about them."""
    batch = await _ids(Comment, {"author_id": user_id}, {"article_id": 1})
    if not batch:
        return 0
    per_article: dict[PydanticObjectId, list[int]] = {}
    for comment in batch:
        per_article.setdefault(comment["article_id"], []).append(comment["_id"])
    article_ids = list(per_article)
    await _pending(user_id, article_ids)

    uncounted: dict[PydanticObjectId, tuple[int, int]] = {}

    async def write(session: Any) -> int:
        removed = 0
        uncounted.clear()  # a retried transaction starts over
        for article_id, comment_ids in per_article.items():
            # Reports first: while its comments remain, a re-run still finds them.
            await collection(Report).delete_many(
                {"article_id": article_id, "comment_id": {"$in": comment_ids}}, session=session
            )
            gone = await collection(Comment).delete_many(
                {"_id": {"$in": comment_ids}, "author_id": user_id}, session=session
            )
            if gone.deleted_count:  # only what this runner removed is uncounted
                await move_counter(article_id, "comments_count", -gone.deleted_count, session)
                uncounted[article_id] = (0, -gone.deleted_count)
            removed += gone.deleted_count
        return removed

    removed = await atomically(write)
    await move_held(uncounted)
    await _settled(user_id, article_ids)
    return removed


async def reports_filed(user_id: PydanticObjectId) -> int:
    """The reports the account filed, open or resolved."""
    return await _remove_by_id(Report, {"reporter_id": user_id})


async def articles(user_id: PydanticObjectId) -> int:
    """The account's articles, each with its comments, favorites, revisions and reports."""
    shares = {"published_at": 1, "tag_list": 1, "favorites_count": 1, "comments_count": 1}
    batch = await _ids(Article, {"author_id": user_id}, shares)
    if not batch:
        return 0
    article_ids = [article["_id"] for article in batch]
    await _pending(user_id, article_ids)  # once deleted, they can no longer be found by author
    removed = await collection(Article).delete_many({"_id": {"$in": article_ids}})
    await counts().clear()
    for article in batch:  # out of analytics; a crash before this leaves it to folio db recount
        await move_article(article, None)
    await remove_dependents(article_ids)
    await _settled(user_id, article_ids)
    return removed.deleted_count


# In order: edges and the account's own writes first, its articles last, then the account.
STEPS: dict[str, Step] = {
    "follows given": follows_given,
    "follows received": follows_received,
    "favorites": favorites,
    "comments": comments,
    "reports": reports_filed,
    "articles": articles,
}


# --- running a deletion -------------------------------------------------------------------------


async def finish(user_id: PydanticObjectId) -> Deletion | None:
    """Carry a marked account's deletion through to the end; None if no such account is marked.

    Resumes where an interrupted run stopped. Every step runs until it finds nothing, and the
    steps run again until a whole pass finds nothing (a write that passed its token check just
    before the marker may land during the run), then the account goes.
    DeletionBusy when another runner holds it.
    """
    claimed = await _claim(user_id, None)
    if claimed is None:
        return None
    account, held = claimed
    claim = [held]  # renewed by the run after every batch
    try:
        return await _run(user_id, account, claim)
    except BaseException:
        # Let the next runner take over at once (a crashed process's claim lapses instead).
        await _release(user_id, claim[0])
        raise


async def _release(user_id: PydanticObjectId, held: datetime) -> None:
    """Give up this run's claim, if it still holds it (best effort: it lapses anyway)."""
    try:
        await collection(User).update_one(
            {"_id": user_id, "deletion_claimed_until": held},
            {"$unset": {"deletion_claimed_until": ""}},
        )
    except Exception:  # the database may be why the run stopped
        log.warning("could not release the deletion claim on account %s", user_id)


async def _run(
    user_id: PydanticObjectId, account: dict[str, Any], claim: list[datetime]
) -> Deletion:
    """The body of `finish`, under this run's claim (`claim[0]`: when it ends)."""
    result = Deletion(username=account["username"])
    pending = account.get("deletion_pending") or []
    if pending:
        await _settle(user_id, pending)
        result.settled = len(pending)
    while True:
        found = 0
        for name, step in STEPS.items():
            while removed := await step(user_id):
                result.removed[name] += removed
                found += removed
                renewed = await _claim(user_id, claim[0])
                if renewed is None:  # finished by another runner after our claim lapsed
                    return result
                claim[0] = renewed[1]
        if not found:
            break
    await collection(User).delete_one({"_id": user_id, "deleting": {"$exists": True}})
    forget_confirmations(user_id)
    await counts().clear()
    return result


async def marked_accounts() -> list[PydanticObjectId]:
    """Every account whose deletion was started and not finished."""
    found = collection(User).find({"deleting": {"$exists": True}}, {"_id": 1})
    return [account["_id"] async for account in found]


async def finish_marked(
    on_done: Callable[[Deletion], None] | None = None,
) -> tuple[list[Deletion], list[PydanticObjectId]]:
    """Finish every marked deletion: those finished, and those another runner holds."""
    done, busy = [], []
    for user_id in await marked_accounts():
        try:
            deletion = await finish(user_id)
        except DeletionBusy:
            busy.append(user_id)
            continue
        if deletion is not None:
            done.append(deletion)
            if on_done is not None:
                on_done(deletion)
    return done, busy


async def delete_by_username(username: str) -> Deletion | None:
    """An operator's deletion (no password): mark the account and finish it; None if no such user."""
    account = await collection(User).find_one({"username": username}, {"_id": 1})
    if account is None:
        return None
    await mark(account["_id"])
    return await finish(account["_id"])


async def finish_logged(user_id: PydanticObjectId) -> bool:
    """`finish`, for a background task: a failure is logged, and left for a resume.

    False only when another runner holds the deletion.
    """
    try:
        deletion = await finish(user_id)
    except DeletionBusy:
        log.info("deletion of account %s is held by another runner", user_id)
        return False
    except Exception:
        log.exception(
            "deletion of account %s stopped; it resumes at the next start-up, or run "
            "`folio users finish-deletions`", user_id,
        )
    else:
        if deletion is not None:
            log.info("deleted account %s: %s", deletion.username, dict(deletion.removed))
    return True


async def resume_deletions(user_ids: list[PydanticObjectId]) -> None:
    """Finish deletions found at start-up, one after another (a background task).

    One still claimed (by a process that stopped within CLAIM_SECONDS, or one running now) is
    tried once more after the claim would have lapsed.
    """
    busy = []
    for user_id in user_ids:
        if not await finish_logged(user_id):
            busy.append(user_id)
    if busy:
        await asyncio.sleep(CLAIM_SECONDS)
        for user_id in busy:
            await finish_logged(user_id)
