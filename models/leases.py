"""The `leases` collection: named leases that one process at a time holds (by the server's
clock), such as the event drain's. One small document per lease, created on first use."""

from datetime import datetime

from beanie import Document


class Lease(Document):
    """`{_id: "events.drain", until, holder}`: held by `holder` until `until` (server time)."""

    id: str  # type: ignore[assignment]  # the lease's name
    until: datetime | None = None
    holder: str | None = None  # which process holds it (host:pid), for operators

    class Settings:
        name = "leases"
