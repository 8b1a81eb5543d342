"""Document versions for optimistic concurrency: a `version` integer that each update `$inc`s.

Articles and comments share these. A document stored before versions existed has no field: it
reads as version 1 and stores 2 at its next update. No HTTP here (ETags: service/conditional.py).
"""

from typing import Any


def version_of(document: dict[str, Any]) -> int:
    """The document's version (1 for a document from before versions)."""
    return document.get("version") or 1


def at_version(document: dict[str, Any]) -> dict[str, Any]:
    """The filter condition that the stored document is still at the version read."""
    if document.get("version") is None:
        return {"version": {"$exists": False}}
    return {"version": document["version"]}


def version_bump(document: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The update that sets `fields` and moves the version read by one."""
    if document.get("version") is None:  # from before versions: $inc would store 1
        return {"$set": {**fields, "version": 2}}
    return {"$set": fields, "$inc": {"version": 1}}
