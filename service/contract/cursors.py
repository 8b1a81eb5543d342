"""Opaque page cursors: keyset positions for lists and the feed, offsets for search.

A keyset cursor names the last item of a page by its sort values, so the next page starts right
after it however many articles were inserted meanwhile, and without skipping over the earlier
pages. Cursors are base64url JSON; a tampered one can only move the position, and any malformed
one answers 422.
"""

import base64
import binascii
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from models.common import as_utc
from service.contract.errors import Invalid
from service.contract.schemas import MAX_OFFSET

Sort = list[tuple[str, int]]
# BSON integers are 64-bit: a larger one from a tampered cursor could not even be sent to
# MongoDB (PyMongo raises OverflowError while encoding), so it is refused here as a 422.
INT64 = range(-(2**63), 2**63)


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise Invalid("cursor", "is not a cursor this API issued") from None
    if not isinstance(payload, dict):
        raise Invalid("cursor", "is not a cursor this API issued")
    return payload


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = as_utc(value)
        # Integer arithmetic: `timestamp() * 1000` is a float, 1 ms low for some instants.
        return {"t": (moment - EPOCH) // MILLISECOND}
    if isinstance(value, ObjectId):
        return {"o": str(value)}
    return value


def _typed(value: Any) -> Any:
    try:
        if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], int):
            return EPOCH + value["t"] * MILLISECOND
        if isinstance(value, dict) and set(value) == {"o"}:
            return ObjectId(value["o"])
    except (InvalidId, TypeError, ValueError, OverflowError, OSError):
        pass
    if isinstance(value, bool):
        raise Invalid("cursor", "is not a cursor this API issued")
    if isinstance(value, str) or (isinstance(value, int) and value in INT64):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise Invalid("cursor", "is not a cursor this API issued")


def keyset_cursor(sort: Sort, last: dict[str, Any]) -> str:
    """The cursor that continues after `last` in this sort order."""
    return _encode({"s": [field for field, _ in sort], "v": [_plain(last.get(f)) for f, _ in sort]})


def next_page_cursor(sort: Sort, rows: list[dict[str, Any]], limit: int) -> str | None:
    """The cursor after a full page (a short page is the last one: None)."""
    return keyset_cursor(sort, rows[-1]) if rows and len(rows) == limit else None


def offset_cursor(offset: int) -> str:
    """A cursor for orders that have no usable key (relevance): the next offset."""
    return _encode({"o": offset})


def after_condition(cursor: str, sort: Sort) -> dict[str, Any]:
    """The `$match` condition for the items after a keyset cursor, in this sort order.

    Besides the exact `$or` of "after" branches, the first sort key gets a plain range of its
    own ({published_at: {$lte: t}} for newest first): the planner turns that into tight index
    bounds starting at the cursor, so the keys examined stay near the page size at any depth.
    """
    payload = _decode(cursor)
    fields = [field for field, _ in sort]
    values = payload.get("v")
    if payload.get("s") != fields or not isinstance(values, list) or len(values) != len(fields):
        raise Invalid("cursor", "does not belong to this list's order")
    typed = [_typed(value) for value in values]
    branches = []
    for position, (field, direction) in enumerate(sort):
        branch = {f: typed[i] for i, (f, _) in enumerate(sort[:position])}
        branch[field] = {"$lt" if direction < 0 else "$gt": typed[position]}
        branches.append(branch)
    first, direction = sort[0]
    return {first: {"$lte" if direction < 0 else "$gte": typed[0]}, "$or": branches}


def offset_of(cursor: str) -> int:
    """The offset an offset cursor carries."""
    offset = _decode(cursor).get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise Invalid("cursor", "is not a cursor this API issued")
    if offset > MAX_OFFSET:
        raise Invalid("cursor", f"goes past the deepest page (offset {MAX_OFFSET})")
    return offset
