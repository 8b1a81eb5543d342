"""The deletion sweeper: a background loop in the API's lifespan that finishes deletions.

Every FOLIO_DELETION_SWEEP_SECONDS each process runs one pass: it sweeps marked articles
(service/deletion/articles.py), then finishes marked accounts whose write window has passed
(service/deletion/accounts.py). A pass is bounded twice: by PASS_BATCHES article batches, and by
its own time budget, PASS_BUDGET_SECONDS, under `pymongo.timeout` (every operation of the pass
shares that one deadline, not a request's). Whatever a pass leaves (out of budget, an error, a
crash) is still marked and is taken up by the next pass, in this process or another: every
piece of work is claimed by a lease, so processes sweeping at once never run the same one.
"""

import asyncio
import logging
from dataclasses import dataclass, field

import pymongo
from pymongo.errors import PyMongoError

from service.deletion import accounts as account_deletion
from service.deletion import articles as article_deletion
from service.media.queries import resume_deletions as resume_media_deletions

log = logging.getLogger("folio.deletion")

# The time budget of one pass, and how many article batches it sweeps at most.
PASS_BUDGET_SECONDS = 20.0
PASS_BATCHES = 200
# Accounts looked at per pass (each finishes, or is left waiting for its window).
PASS_ACCOUNTS = 20
# Media whose deletion a stopped request left, finished per pass.
PASS_MEDIA = 50


@dataclass
class Pass:
    """What one pass did."""

    articles_deleted: int = 0
    batches: int = 0
    accounts_deleted: list[str] = field(default_factory=list)
    media_deleted: int = 0
    stopped: str | None = None  # why the pass ended early (budget or an error), if it did


async def _articles(result: Pass) -> None:
    """Sweep marked articles, the longest-marked first, within the pass's batch bound."""
    for article_id in await article_deletion.marked_articles(PASS_BATCHES):
        left = PASS_BATCHES - result.batches
        if left <= 0:
            return
        try:
            swept = await article_deletion.sweep(article_id, left)
        except article_deletion.SweepBusy:
            continue  # another process holds it
        if swept is None:
            continue
        result.batches += max(swept["batches"], 1)
        result.articles_deleted += swept["article"]


async def _accounts(result: Pass) -> None:
    """Finish the accounts whose write window has passed (the others stay marked)."""
    for user_id in await account_deletion.marked_accounts(PASS_ACCOUNTS):
        try:
            deletion = await account_deletion.finish(user_id)
        except account_deletion.DeletionBusy:
            continue
        if deletion is not None and deletion.done:
            result.accounts_deleted.append(deletion.username)


async def sweep_pass(budget_seconds: float = PASS_BUDGET_SECONDS) -> Pass:
    """One bounded pass over the deletion backlog, under its own time budget."""
    result = Pass()
    try:
        with pymongo.timeout(budget_seconds):
            await _articles(result)
            await _accounts(result)
            # Media deletions a stopped request left (marked `deleting`): each step repeats safely.
            result.media_deleted = await resume_media_deletions(PASS_MEDIA)
    except PyMongoError as error:
        # Out of budget, or the database failed: every batch is whole (or undone), claims
        # lapse or were released, and the next pass goes on from here.
        result.stopped = "budget" if error.timeout else type(error).__name__
        log.warning("deletion pass stopped (%s); the next pass resumes it", result.stopped)
    if result.articles_deleted or result.accounts_deleted:
        log.info("deletion pass: %d articles, accounts %s", result.articles_deleted,
                 result.accounts_deleted)
    return result


async def pending() -> bool:
    """Whether any article or account deletion waits (two indexed reads)."""
    return bool(await article_deletion.marked_articles(1)
                or await account_deletion.marked_accounts(1))


async def run_sweeper(interval_seconds: float, *, start_now: bool = False) -> None:
    """Run a pass every `interval_seconds` (the first at once with `start_now`: work a stopped
    process left), until cancelled at shutdown."""
    if not start_now:
        await asyncio.sleep(interval_seconds)
    while True:
        try:
            await sweep_pass()
        except Exception:  # a bug must not end the loop: the backlog would stay for good
            log.exception("deletion pass failed; retrying in %g s", interval_seconds)
        await asyncio.sleep(interval_seconds)
