"""Helpers shared by every document model."""

from datetime import UTC, datetime


def to_milliseconds(moment: datetime) -> datetime:
    """The same instant at the millisecond precision MongoDB stores."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """The current UTC time, at MongoDB's millisecond precision."""
    return to_milliseconds(datetime.now(UTC))
