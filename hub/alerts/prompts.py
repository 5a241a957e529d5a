"""How a home has answered its check-in prompts ("Are you OK?"), read from the alerts' audit.

The routine scan uses the counts to learn the home's answer rate, which sets how low its asking
limit may go (`detectors.routine.prompt_budget`). Read-only; the alert engine writes the rows.
"""

from __future__ import annotations

import logging
from datetime import datetime

from hub.persistence.connection import Connection
from hub.persistence.reports import prompt_counts

__all__ = ["prompt_answers"]

_LOGGER = logging.getLogger(__name__)


def prompt_answers(conn: Connection, home_id: str, since: datetime) -> tuple[int, int]:
    """(answered, unanswered) prompts of a home asked since `since`; (0, 0) without the tables.

    Asked: an `ask_resident` audit row; unanswered: `resident_no_answer`; a prompt still
    waiting for its answer counts as neither.
    """
    counts = prompt_counts(conn, home_id, since)
    if counts is None:
        # No alert engine on this hub (its tables were never created): no answers to learn from.
        _LOGGER.debug("no prompt history for %s: the alert engine's tables are absent", home_id)
        return 0, 0
    answered = counts.asked - counts.unanswered - counts.pending
    return max(0, answered), counts.unanswered
