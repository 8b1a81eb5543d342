"""The `counters` collection: named integer sequences moved only by atomic `$inc`."""

from beanie import Document


class Counter(Document):
    """A sequence such as `{_id: "comments", seq: 42}`; `_id` names it."""

    id: str  # type: ignore[assignment]  # the sequence name
    seq: int = 0

    class Settings:
        name = "counters"
