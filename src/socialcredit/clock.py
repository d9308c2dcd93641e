"""The registry's clock, injectable through ``SCS_CLOCK`` for tests, demos and what-if runs.

``SCS_CLOCK=2025-03-01`` (or an ISO timestamp) makes every command behave as if it were that
moment: records dated after it are "in the future", validity is judged against it.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime


class ClockError(ValueError):
    """``SCS_CLOCK`` holds something that is not an ISO date or timestamp."""


def now() -> datetime:
    """The current moment as an aware UTC datetime, or the one ``SCS_CLOCK`` names."""
    fixed = os.environ.get("SCS_CLOCK", "").strip()
    if not fixed:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(fixed)
    except ValueError:
        raise ClockError(
            f"SCS_CLOCK={fixed!r} is not an ISO date (2025-03-01) or timestamp"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def today() -> date:
    return now().date()


def timestamp(moment: datetime | None = None) -> str:
    """The stored form of a moment: ISO-8601 UTC with microseconds and a ``Z``."""
    moment = moment or now()
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
