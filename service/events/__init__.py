"""The event outbox: events written in the transaction of the change they announce
(`record`), and the drain that hands them to the consumers (drain.py). A low room: domains
import it, it imports no domain (the consumers are handed to the drain by its caller)."""

from service.events.outbox import actor_of, record, wake
from service.events.types import EVENT_TYPES, Consumer

__all__ = ["EVENT_TYPES", "Consumer", "actor_of", "record", "wake"]
