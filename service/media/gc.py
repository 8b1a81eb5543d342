"""`folio media gc`: remove uploads that no article uses once they are older than a grace period.

"Used" means named in some article's `media_ids` (its cover, or an image its body embeds by
Folio's media path or URL, any author, drafts included), asked of the `media_used` index one
`$in` per batch: no scan of articles, whatever their number. An upload is stored before the
article that uses it is written, hence the grace period (FOLIO_MEDIA_GC_GRACE_HOURS).

Uploads are read in `_id` order (time-ordered: the grace period is a bound on `_id`), BATCH at
a time; each is marked, checked again, then removed (service/media/purge.py), so a cover set
between the check and the mark is either refused (the upload is marked) or seen by the second
check, which takes the mark back. Every step can be repeated: an interrupted run is finished
by the next, which also completes removals that a stopped process left marked.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from models import Media
from models.common import utc_now
from service.engine import collection
from service.media import purge
from service.media.usage import used_among

BATCH = 200
MAX_LISTED = 50  # removed uploads named in the report; the rest are counted


@dataclass
class Collected:
    """What one run removed."""

    scanned: int = 0
    removed: int = 0
    freed_bytes: int = 0
    finished: int = 0  # removals a stopped run had left marked
    removed_ids: list[str] = field(default_factory=list)


def cutoff_id(now: datetime, grace: timedelta) -> ObjectId:
    """The smallest `_id` an upload younger than the grace period can have."""
    return ObjectId.from_datetime(now - grace)


async def collect(grace: timedelta, report: Callable[[int], None] = lambda n: None) -> Collected:
    """Remove every upload older than `grace` that no article uses (see the module)."""
    result = Collected()
    bound: dict[str, Any] = {"$lt": cutoff_id(utc_now(), grace)}
    while True:
        batch = await collection(Media).find(
            {"_id": bound}, purge.PURGE_FIELDS).sort("_id", 1).limit(BATCH).to_list(None)
        if not batch:
            return result
        bound = {**bound, "$gt": batch[-1]["_id"]}
        result.scanned += len(batch)
        await _collect_batch(batch, result)
        report(len(batch))


async def _collect_batch(batch: list[dict[str, Any]], result: Collected) -> None:
    """Remove the unused uploads of one batch, and finish those left marked."""
    for media in (m for m in batch if m.get("deleting") is not None):
        if await purge.remove(media):
            result.finished += 1
    waiting = [m for m in batch if m.get("deleting") is None]
    used = await used_among([m["_id"] for m in waiting])
    marked: dict[PydanticObjectId, tuple[dict[str, Any], Any]] = {}
    for media in waiting:
        if media["_id"] in used:
            continue
        at = await purge.mark_deleting(media)
        if at is not None:
            marked[media["_id"]] = (media, at)
    # Used since the first look (a cover set just before the mark): take the mark back.
    for media_id in await used_among(list(marked)):
        media, at = marked.pop(media_id)
        await purge.unmark(media, at)
    for media, at in marked.values():
        if not await purge.remove({**media, "deleting": at}):
            continue  # another runner removed it first (and gave its bytes back)
        result.removed += 1
        result.freed_bytes += media.get("stored_bytes") or 0
        if len(result.removed_ids) < MAX_LISTED:
            result.removed_ids.append(str(media["_id"]))
