"""Account deletion: mark the account, end its sessions, then remove everything it owns. No HTTP.

The order makes a deletion safe to interrupt and to resume. `mark` sets `deleting` (by the
server's clock) and ends every session in one update, so the account's tokens stop working at
once and sign-in fails (as for bad credentials). `finish` then removes, in batches of at most
BATCH_SIZE (one step per kind, in service/deletion/owned.py): the follows both ways, the
account's favorites and comments (grouped by article: one `delete_many` and one `$inc` of the
exact number deleted per article), the reports it
filed, its articles (each marked, then swept as service/deletion/articles.py does), its
media library (each upload marked, its GridFS files deleted, then its document:
service/media/purge.py), and last the account itself, which frees the username and email.
`moderation_log` keeps its entries (they hold usernames as text). Webhooks an admin created
belong to the site: they stay, and only their `created_by` note of the account is cleared.

Other processes may still accept the account's edge writes for CONFIRMED_FOR_SECONDS after
the mark (they trust a recent confirmation of its token), so the last pass, after which the
account goes, starts no earlier than WRITE_WINDOW_SECONDS after `deleting`, by the server's
clock: a run before then removes what it finds and leaves the account marked (`waiting`), and
the background loop, or the operator's command, finishes it later.

Counters stay exact across a crash. On a replica set each batch's deletes and decrements are
one transaction touching at most BATCH_SIZE articles, with at most three statements per
article (a comment batch: the reports on the comments, the comments, the counter): a few
tens, far inside the 60 s transaction limit, and few articles on which to conflict with a
concurrent favorite (a conflict aborts the transaction, and the driver retries it whole).
Without transactions, the articles a batch touches are first listed on the account
(`deletion_pending`); a resumed deletion settles them before going on: an article that still
exists gets its counters recounted (one already deleted was swept of everything naming it
before it went). A decrement only ever subtracts what that runner itself deleted, so no
re-run can decrement twice.

One runner at a time holds a deletion (`deletion_claimed_until`, renewed every batch); a
runner that finds it claimed leaves it alone (DeletionBusy) until the claim lapses. Claims
are leases by the server's clock (service.engine.transactions.take_lease), never by a host's.
"""

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models import User
from models.common import as_utc
from service.articles.counts import counts
from service.contract.errors import Forbidden, Unauthorized
from service.deletion import articles as article_deletion
from service.deletion.owned import STEPS, ArticleBusy, settle
from service.engine import collection, shared_by_processes, take_lease
from service.users.authors import forget_author
from service.users.credentials import Passwords
from service.users.queries import (
    CONFIRMED_FOR_SECONDS,
    REVOKED,
    Viewer,
    ending_every_session,
    forget_confirmations,
)

log = logging.getLogger("folio.deletion")




# How long after `deleting` the last pass may start: the time other processes may still trust
# a confirmation of the account's token, plus a margin for a request admitted just before
# then to finish its writes (its operations are bounded by FOLIO_OPERATION_TIMEOUT_MS).
# Zero on the embedded engine, which no other process can reach. Tests shorten it.
WRITE_WINDOW_SECONDS = CONFIRMED_FOR_SECONDS + 15


# How long a runner holds a deletion between two batches before another may take it over.
CLAIM_SECONDS = 120


class DeletionBusy(Exception):
    """Another runner holds this deletion (its claim has not lapsed)."""


@dataclass
class Deletion:
    """What one run of `finish` removed, per kind of document."""

    username: str
    removed: Tally[str] = field(default_factory=Tally)
    settled: int = 0  # articles settled from an interrupted batch
    # Set while the account stays marked: its last pass may start only at this instant (server
    # clock), or, with `busy_article`, an article of it is being swept by another runner.
    waiting_until: datetime | None = None
    seconds_left: float = 0.0
    busy_article: bool = False

    @property
    def done(self) -> bool:
        """Whether the account is gone."""
        return self.waiting_until is None and not self.busy_article


def _marking() -> dict[str, Any]:
    """The update that marks an account for deletion (server's clock) and ends all its sessions."""
    return {**ending_every_session({}), "$currentDate": {"deleting": True}}


async def mark(user_id: PydanticObjectId, condition: dict[str, Any] | None = None) -> bool:
    """Set `deleting` and end every session, unless already marked; whether this call marked it.

    `condition` adds to the filter (the caller's session still live, the password it checked
    still the account's), so that a token revoked, or a password changed, meanwhile marks nothing.
    """
    marked = await collection(User).update_one(
        {"_id": user_id, "deleting": {"$exists": False}, **(condition or {})}, _marking()
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
        raise Unauthorized("token", REVOKED)


async def _claim(
    user_id: PydanticObjectId, held: datetime | None
) -> tuple[dict[str, Any], datetime] | None:
    """Take (or, with `held`, the instant this run's claim ends, renew) the deletion; the
    account and the new end of the claim (the server's time is CLAIM_SECONDS before it), or
    None once the account is gone.

    DeletionBusy when another runner's claim has not lapsed.
    """
    account = await take_lease(
        User, {"_id": user_id, "deleting": {"$exists": True}}, "deletion_claimed_until",
        CLAIM_SECONDS, held, {"username": 1, "deletion_pending": 1, "deleting": 1},
    )
    if account is not None:
        return account, account["deletion_claimed_until"]
    if await collection(User).find_one({"_id": user_id, "deleting": {"$exists": True}}, {"_id": 1}):
        raise DeletionBusy(str(user_id))
    return None


async def finish(user_id: PydanticObjectId) -> Deletion | None:
    """Carry a marked account's deletion as far as it may go; None if no such account is marked.

    Resumes where an interrupted run stopped. Every step runs until it finds nothing, and the
    steps run again until a whole pass finds nothing. The account goes after such a pass that
    started WRITE_WINDOW_SECONDS or more after `deleting` (server's clock), when no write the
    account's token still passed elsewhere can land any more; before then the result is
    `waiting` and the account stays marked for a later run. DeletionBusy when another runner
    holds it.
    """
    claimed = await _claim(user_id, None)
    if claimed is None:
        return None
    account, held = claimed
    claim = [held]  # renewed by the run after every batch
    try:
        result = await _run(user_id, account, claim)
    except BaseException:
        # Let the next runner take over at once (a crashed process's claim lapses instead).
        await _release(user_id, claim[0])
        raise
    if not result.done:
        await _release(user_id, claim[0])
    return result


async def _release(user_id: PydanticObjectId, held: datetime) -> None:
    """Give up this run's claim, if it still holds it (best effort: it lapses anyway)."""
    try:
        await collection(User).update_one(
            {"_id": user_id, "deletion_claimed_until": held},
            {"$unset": {"deletion_claimed_until": ""}},
        )
    except Exception:  # the database may be why the run stopped
        log.warning("could not release the deletion claim on account %s", user_id)


def _window_ends(account: dict[str, Any]) -> datetime:
    """The first instant (server's clock) at which the account's last pass may start.

    Counted from `deleting` to the millisecond, the precision of a BSON date (the embedded
    engine keeps the microseconds `$currentDate` gives it, and the lease's end without them).
    """
    deleting = as_utc(account["deleting"])
    deleting = deleting.replace(microsecond=deleting.microsecond // 1000 * 1000)
    # With no other process (the embedded engine), this one forgot its confirmations at the mark.
    window = WRITE_WINDOW_SECONDS if shared_by_processes() else 0
    return deleting + timedelta(seconds=window)


def _server_now(claim_ends: datetime) -> datetime:
    """The server's time when it granted a claim that ends at `claim_ends`."""
    return as_utc(claim_ends) - timedelta(seconds=CLAIM_SECONDS)


async def _run(
    user_id: PydanticObjectId, account: dict[str, Any], claim: list[datetime]
) -> Deletion:
    """The body of `finish`, under this run's claim (`claim[0]`: when it ends)."""
    result = Deletion(username=account["username"])
    pending = account.get("deletion_pending") or []
    if pending:
        await settle(user_id, pending)
        result.settled = len(pending)
    window_ends = _window_ends(account)
    while True:
        # Renewing tells the server's time as this pass starts.
        renewed = await _claim(user_id, claim[0])
        if renewed is None:  # finished by another runner after our claim lapsed
            return result
        claim[0] = renewed[1]
        last_pass = _server_now(claim[0]) >= window_ends
        found = 0
        try:
            for name, step in STEPS.items():
                while removed := await step(user_id):
                    result.removed[name] += removed
                    found += removed
                    renewed = await _claim(user_id, claim[0])
                    if renewed is None:
                        return result
                    claim[0] = renewed[1]
        except ArticleBusy:
            result.busy_article = True
            return result
        if found:
            continue
        if not last_pass:  # nothing left now, but a late write may still land: come back
            result.waiting_until = window_ends
            result.seconds_left = (window_ends - _server_now(claim[0])).total_seconds()
            return result
        break
    await collection(User).delete_one({"_id": user_id, "deleting": {"$exists": True}})
    forget_confirmations(user_id)
    forget_author(user_id)
    await counts().clear()
    return result


async def marked_accounts(limit: int | None = None) -> list[PydanticObjectId]:
    """Accounts whose deletion was started and not finished (the `deleting` index), oldest
    first; at most `limit`."""
    found = collection(User).find({"deleting": {"$exists": True}}, {"_id": 1}).sort("deleting", 1)
    if limit is not None:
        found = found.limit(limit)
    return [account["_id"] async for account in found]


async def finish_waiting(user_id: PydanticObjectId) -> Deletion | None:
    """`finish`, sleeping out the write window (or a busy article) and running again until the
    account is gone: for the operator's commands, which may wait a minute."""
    total: Deletion | None = None
    while True:
        deletion = await finish(user_id)
        if deletion is None:
            return total
        if total is None:
            total = deletion
        else:
            total.removed.update(deletion.removed)
            total.settled += deletion.settled
        total.waiting_until, total.busy_article = deletion.waiting_until, deletion.busy_article
        if deletion.done:
            return total
        await asyncio.sleep(max(deletion.seconds_left, 0.0) + 0.1 if not deletion.busy_article
                            else article_deletion.CLAIM_SECONDS / 4)


async def finish_marked(
    on_done: Callable[[Deletion], None] | None = None, *, wait: bool = True
) -> tuple[list[Deletion], list[PydanticObjectId]]:
    """Finish every marked deletion: those finished, and those another runner holds. With
    `wait`, each waits out its write window; without, one still inside it is left marked."""
    done, busy = [], []
    for user_id in await marked_accounts():
        try:
            deletion = await (finish_waiting(user_id) if wait else finish(user_id))
        except DeletionBusy:
            busy.append(user_id)
            continue
        if deletion is not None and deletion.done:
            done.append(deletion)
            if on_done is not None:
                on_done(deletion)
    return done, busy


async def delete_by_username(username: str) -> Deletion | None:
    """An operator's deletion (no password): mark the account and finish it, waiting out the
    write window; None if no such user."""
    account = await collection(User).find_one({"username": username}, {"_id": 1})
    if account is None:
        return None
    await mark(account["_id"])
    return await finish_waiting(account["_id"])


async def finish_logged(user_id: PydanticObjectId) -> bool:
    """`finish`, for a background task: a failure is logged, and left for the background loop.

    False only when another runner holds the deletion.
    """
    try:
        deletion = await finish(user_id)
    except DeletionBusy:
        log.info("deletion of account %s is held by another runner", user_id)
        return False
    except Exception:
        log.exception(
            "deletion of account %s stopped; the background loop resumes it, or run "
            "`folio users finish-deletions`", user_id,
        )
    else:
        if deletion is not None and deletion.done:
            log.info("deleted account %s: %s", deletion.username, dict(deletion.removed))
    return True
