"""Document versions for optimistic concurrency: a `version` integer that each update `$inc`s.

Articles and comments share these. A document stored before versions existed has no field: it
reads as version 1 and stores 2 at its next update. No HTTP here (ETags: service/contract/conditional.py).
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
    """The update that sets `fields` and moves the version read by one.

    Only for a write whose filter holds `at_version(document)`: the version read is then the
    one stored. Without that filter, use `server_version_bump`.
    """
    if document.get("version") is None:  # from before versions: $inc would store 1
        return {"$set": {**fields, "version": 2}}
    return {"$set": fields, "$inc": {"version": 1}}


# The stored version plus one, computed by the server from what it holds at the write: a
# document from before versions (no field) reads as 1 and stores 2.
NEXT_VERSION = {"$add": [{"$ifNull": ["$version", 1]}, 1]}


def server_version_bump(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The update (a pipeline) that sets `fields` and moves the stored version by one.

    For a write that does not pin the version read (a comment edit without `If-Match`): the
    new version comes from the stored one, so it never moves backwards, as `version_bump`'s
    `version: 2` for a document read without a version would if a concurrent write had moved
    it on meanwhile. Each value is a `$literal`, so text such as "$price" is stored as it is,
    never read as a field path. Top-level field names only (a pipeline `$set` is not `$set`).
    """
    values = {name: {"$literal": value} for name, value in fields.items()}
    return [{"$set": {**values, "version": NEXT_VERSION}}]
