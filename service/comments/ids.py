"""Named integer sequences (comment ids), moved only by atomic `$inc`.

A new comment does not `$inc` the `comments` counter itself: every comment insert, in every
process, would then queue on that one document (a hot spot that no index or shard spreads).
Instead each process reserves a block of ids with one `$inc` of the block size and hands them
out from memory. Ids stay unique across processes (no two blocks overlap), stay integers from
1 up, and may leave gaps: the unused rest of a block is lost when the process stops. They are
not in creation order across processes; lists order comments by `created_at`, then `_id`.
"""

import asyncio
import weakref
from dataclasses import dataclass, field

from pymongo import ReturnDocument

from models import Counter
from service.engine import Engine, collection, current_engine

# One `$inc` per this many comments per process. Larger blocks mean fewer writes to the
# counter and larger gaps after a restart; 2^63 ids leave room for either.
ID_BLOCK_SIZE = 100


async def next_sequence(name: str, count: int = 1) -> int:
    """Reserve `count` values of a sequence and return the last; the first is that minus count-1."""
    counter = await collection(Counter).find_one_and_update(
        {"_id": name},
        {"$inc": {"seq": count}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return int(counter["seq"])


@dataclass
class _Block:
    """The ids of one reserved block not handed out yet: `next` up to `last`, inclusive."""

    next: int = 1
    last: int = 0  # empty until the first reservation
    refill: asyncio.Lock = field(default_factory=asyncio.Lock)


# Per engine (each test opens its own database), per sequence name.
_blocks: "weakref.WeakKeyDictionary[Engine, dict[str, _Block]]" = weakref.WeakKeyDictionary()


async def next_id(name: str) -> int:
    """The next id of a sequence for this process: from its reserved block, or a new block.

    One `$inc` by ID_BLOCK_SIZE per block, so concurrent inserts rarely touch the counter.
    """
    block = _blocks.setdefault(current_engine(), {}).setdefault(name, _Block())
    if block.next > block.last:
        async with block.refill:  # one reservation at a time; the others wait and share it
            if block.next > block.last:
                last = await next_sequence(name, ID_BLOCK_SIZE)
                block.next, block.last = last - ID_BLOCK_SIZE + 1, last
    value = block.next
    block.next += 1
    return value
