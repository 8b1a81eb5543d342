"""Orphans: favorite edges, comments, reports and revisions that name an article, a comment or
a user that is gone. `folio db recount` removes them before it recounts.

Deletions remove what depends on an article or an account themselves; what a deletion stopped
part-way, or a write that landed after its last sweep, can leave behind is removed here. Each
collection is read in batches of BATCH_SIZE in `_id` order (the `_id` index), and the ids a
batch names are looked up with one `$in` per kind (again `_id` indexes); only documents whose
referent is not found are deleted, by `_id`.

Nothing here races with a deletion in progress: an account being deleted (marked `deleting`)
and an article being deleted still exist until their deletion's last step, so what names them
is never an orphan here; it is the deletion's to remove. Once a referent is gone it never comes
back (ids are never reused), so a document found orphaned stays orphaned until it is deleted.
A favorite or comment removed because its *user* is gone may still be counted by its article:
`folio db recount` recounts every article after this sweep.
"""

from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from beanie import Document

from models import Article, ArticleRevision, Comment, Favorite, Report, User
from service.engine import collection

BATCH_SIZE = 500

# Per collection (swept in this order: comments before the reports that may name them), the
# fields that name another document, and that document's model. A null field names nothing.
REFERENCES: tuple[tuple[str, type[Document], tuple[tuple[str, type[Document]], ...]], ...] = (
    ("favorites", Favorite, (("article_id", Article), ("user_id", User))),
    ("comments", Comment, (("article_id", Article), ("author_id", User))),
    ("reports", Report, (("article_id", Article), ("comment_id", Comment),
                         ("reporter_id", User))),
    ("revisions", ArticleRevision, (("article_id", Article),)),
)


async def _existing(model: type[Document], ids: set[Any]) -> set[Any]:
    """Which of these ids are stored in the model's collection (one `$in` on `_id`)."""
    if not ids:
        return set()
    found = collection(model).find({"_id": {"$in": sorted(ids)}}, {"_id": 1})
    return {document["_id"] async for document in found}


async def _sweep_batch(
    model: type[Document], references: tuple[tuple[str, type[Document]], ...], after: Any
) -> tuple[Any, int, int]:
    """Remove the orphans among the next batch after `after`; (the batch's last id, how many it
    held, how many were removed), or (None, 0, 0) when none is left."""
    condition = {} if after is None else {"_id": {"$gt": after}}
    fields = {name: 1 for name, _ in references}
    batch = await collection(model).find(condition, fields).sort("_id", 1).limit(
        BATCH_SIZE).to_list(None)
    if not batch:
        return None, 0, 0
    orphaned: set[Any] = set()
    for name, referent in references:
        named = {document[name] for document in batch if document.get(name) is not None}
        gone = named - await _existing(referent, named)
        orphaned |= {document["_id"] for document in batch if document.get(name) in gone}
    removed = 0
    if orphaned:
        deleted = await collection(model).delete_many({"_id": {"$in": sorted(orphaned)}})
        removed = deleted.deleted_count
    return batch[-1]["_id"], len(batch), removed


async def sweep_orphans(report: Callable[[int], None]) -> Tally[str]:
    """Remove every orphan, a batch at a time; how many were removed, per collection.

    `report(n)` after each batch of n documents read.
    """
    removed: Tally[str] = Tally()
    for label, model, references in REFERENCES:
        after = None
        while True:
            last, read, count = await _sweep_batch(model, references, after)
            if last is None:
                break
            removed[label] += count
            after = last
            report(read)
    return removed
