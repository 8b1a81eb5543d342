"""Helpers shared by every document model."""

from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId
from pydantic import BaseModel


def to_milliseconds(moment: datetime) -> datetime:
    """The same instant at the millisecond precision MongoDB stores."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def as_utc(moment: datetime) -> datetime:
    """A datetime from either engine as an aware UTC one: drivers read BSON dates as naive UTC
    unless told otherwise, and MongoDB returns them so."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc_now() -> datetime:
    """The current UTC time, at MongoDB's millisecond precision."""
    return to_milliseconds(datetime.now(UTC))


def utc_now_after(previous: datetime | None) -> datetime:
    """The current UTC time, but at least a millisecond after `previous`.

    An update's `updatedAt` then always differs from the one before, even when both fall in
    the same millisecond (clients compare them to notice a change).
    """
    now = utc_now()
    if previous is None:
        return now
    return max(now, as_utc(previous) + timedelta(milliseconds=1))


class Moderation(BaseModel):
    """Why content is hidden, by whom and since when; present only while it is hidden."""

    hidden: bool = True
    reason: str
    by: PydanticObjectId
    at: datetime
