"""Datetimes to stored times and back: REAL seconds since the Unix epoch (UTC), in one place.

Every table keeps times as epoch seconds (they sort, subtract and feed numpy directly); every
module that reads or writes them converts here, so no two modules can disagree on what a
stored time means.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["from_epoch", "from_epoch_or_none", "to_epoch", "to_epoch_or_none"]


def to_epoch(moment: datetime) -> float:
    """An aware datetime as stored seconds since the epoch."""
    return moment.timestamp()


def to_epoch_or_none(moment: datetime | None) -> float | None:
    """`to_epoch`, passing None through (a column that may be empty)."""
    return None if moment is None else moment.timestamp()


def from_epoch(value: float) -> datetime:
    """Stored seconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def from_epoch_or_none(value: float | None) -> datetime | None:
    """`from_epoch`, passing None through."""
    return None if value is None else datetime.fromtimestamp(value, UTC)
