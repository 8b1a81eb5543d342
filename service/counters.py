"""Named integer sequences (comment ids), moved only by atomic `$inc`."""

from pymongo import ReturnDocument

from models import Counter
from service.db import collection


async def next_sequence(name: str, count: int = 1) -> int:
    """Reserve `count` values of a sequence and return the last; the first is that minus count-1."""
    counter = await collection(Counter).find_one_and_update(
        {"_id": name},
        {"$inc": {"seq": count}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return int(counter["seq"])
