"""Resolving a target's open reports after the moderation action that resolves them.

A post reported by 50,000 users must not make a 50,000-document transaction (MongoDB caps a
transaction at 60 s by default and aborts it on the first write conflict, here with every new
report). So the action's transaction holds only the target's state, its log entry and one
`report_sweeps` document; the reports are marked afterwards, SWEEP_BATCH at a time, each batch
idempotent (it only turns still-open reports to resolved), and the sweep is deleted last. A
sweep a stopped process left behind is finished by the periodic pass (`sweep_forever`).

Until then the queue leaves out what a pending sweep covers (`covered_condition`), and filing a
report against a target whose old report a sweep covers resolves that one first.
"""

import asyncio
import logging
from typing import Any

from beanie import PydanticObjectId
from pymongo import ASCENDING

from models import Report, ReportSweep, User
from models.common import utc_now
from service.engine import collection

log = logging.getLogger("folio.moderation")

SWEEP_BATCH = 500
# A moderation request marks at most this many batches itself; a sweep with more reports goes
# on in the background, and the periodic pass finishes what a stopped process left.
INLINE_BATCHES = 2
SWEEP_INTERVAL_SECONDS = 60.0
# The queue excludes what at most this many pending sweeps cover (normally none or a few:
# each lives for seconds); more than that means sweeping stopped, which the log says.
PENDING_READ = 100
_background: set[asyncio.Task[Any]] = set()


def target_filter(article_id: PydanticObjectId, comment_id: int | None) -> dict[str, Any]:
    """The reports of one target: an article (`comment_id` null) or one of its comments."""
    return {"article_id": article_id, "comment_id": comment_id}


def covered_condition(sweep: dict[str, Any]) -> dict[str, Any]:
    """The reports a sweep resolves: its target's, filed no later than its action."""
    return {**target_filter(sweep["article_id"], sweep.get("comment_id")),
            "created_at": {"$lte": sweep["resolved_at"]}}


def not_covered(sweeps: list[dict[str, Any]]) -> dict[str, Any]:
    """The condition that leaves out every report these sweeps cover (empty for none)."""
    return {"$nor": [covered_condition(sweep) for sweep in sweeps]} if sweeps else {}


async def start_sweep(
    article_id: PydanticObjectId, comment_id: int | None, moderator: User | None,
    resolution: str, session: Any = None,
) -> tuple[dict[str, Any], int]:
    """Record, in the action's transaction, that the target's open reports are resolved; the
    sweep and how many reports it covers (an index-only count on `target_status`)."""
    sweep = ReportSweep(article_id=article_id, comment_id=comment_id, resolution=resolution,
                        resolved_by=moderator.id if moderator else None)
    document = sweep.model_dump(exclude={"id"})
    open_now = await collection(Report).count_documents(
        {**target_filter(article_id, comment_id), "status": "open"}, session=session
    )
    if open_now:
        inserted = await collection(ReportSweep).insert_one(document, session=session)
        document["_id"] = inserted.inserted_id
    return document, open_now


async def sweep_batch(sweep: dict[str, Any]) -> int:
    """Mark the next SWEEP_BATCH reports the sweep covers as resolved; how many it found
    (0: none is left)."""
    covered = {**covered_condition(sweep), "status": "open"}
    batch = await collection(Report).find(covered, {"_id": 1}).limit(SWEEP_BATCH).to_list(None)
    if not batch:
        return 0
    marked = await collection(Report).update_many(
        {"_id": {"$in": [report["_id"] for report in batch]}, "status": "open"},
        {"$set": {"status": "resolved", "resolution": sweep["resolution"],
                  "resolved_by": sweep.get("resolved_by"), "resolved_at": sweep["resolved_at"]}},
    )
    # Found but already marked (another process sweeping too) still counts: the next read moves on.
    return max(marked.modified_count, len(batch))


async def run_sweep(sweep: dict[str, Any], max_batches: int | None = None) -> bool:
    """Mark the sweep's reports, batch by batch, then delete it; False if `max_batches` ran
    out first (the rest is left for the background or the periodic pass)."""
    if "_id" not in sweep:
        return True  # nothing was open: no sweep was stored
    batches = 0
    while max_batches is None or batches < max_batches:
        if not await sweep_batch(sweep):
            await collection(ReportSweep).delete_one({"_id": sweep["_id"]})
            return True
        batches += 1
    return False


async def _finish_in_background(sweep: dict[str, Any]) -> None:
    try:
        await run_sweep(sweep)
    except Exception:  # left for the periodic pass
        log.exception("resolving the reports of sweep %s stopped; the periodic pass resumes it",
                      sweep.get("_id"))


async def resolve_after(sweep: dict[str, Any]) -> None:
    """After the action commits: mark its reports now, up to INLINE_BATCHES, the rest in the
    background (a failure leaves the sweep for the periodic pass)."""
    if await run_sweep(sweep, INLINE_BATCHES):
        return
    task = asyncio.create_task(_finish_in_background(sweep))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def pending_sweeps() -> list[dict[str, Any]]:
    """The sweeps not finished yet, oldest first (index `due`), at most PENDING_READ."""
    found = await collection(ReportSweep).find(
        {"resolved_at": {"$lte": utc_now()}}
    ).sort([("resolved_at", ASCENDING), ("_id", ASCENDING)]).limit(PENDING_READ).to_list(None)
    if len(found) == PENDING_READ:
        log.warning("%d or more report sweeps are pending: is the periodic pass running?",
                    PENDING_READ)
    return found


async def finish_sweeps() -> int:
    """Finish every pending sweep (the periodic pass; safe beside any other); how many."""
    finished = 0
    while sweeps := await pending_sweeps():
        for sweep in sweeps:
            await run_sweep(sweep)
            finished += 1
    return finished


async def settle_covered(existing: dict[str, Any]) -> bool:
    """Resolve one open report a pending sweep covers (so its reporter may file anew); False
    if no sweep covers it."""
    sweep = await collection(ReportSweep).find_one(
        {**target_filter(existing["article_id"], existing.get("comment_id")),
         "resolved_at": {"$gte": existing["created_at"]}}
    )
    if sweep is None:
        return False
    await collection(Report).update_one(
        {"_id": existing["_id"], "status": "open"},
        {"$set": {"status": "resolved", "resolution": sweep["resolution"],
                  "resolved_by": sweep.get("resolved_by"), "resolved_at": sweep["resolved_at"]}},
    )
    return True


async def sweep_forever(
    interval: float = SWEEP_INTERVAL_SECONDS, *, first_after: bool = False
) -> None:
    """Finish pending sweeps every `interval` seconds (the first pass at once, or after one
    interval with `first_after`), until cancelled."""
    if first_after:
        await asyncio.sleep(interval)
    while True:
        try:
            finished = await finish_sweeps()
        except Exception:  # the database is away: the next pass tries again
            log.exception("the periodic pass over report sweeps failed; it runs again in %ss",
                          interval)
        else:
            if finished:
                log.info("finished %d pending report sweeps", finished)
        await asyncio.sleep(interval)
