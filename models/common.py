"""Helpers shared by every document model."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current UTC time, truncated to the millisecond precision MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
