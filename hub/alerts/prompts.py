"""How a home has answered its check-in prompts ("Are you OK?"), read from the alerts' audit.

The routine scan uses the counts to learn the home's answer rate, which sets how low its asking
limit may go (`detectors.routine.prompt_budget`). Read-only; the alert engine writes the rows.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime

__all__ = ["prompt_answers"]

_LOGGER = logging.getLogger(__name__)


def prompt_answers(conn: sqlite3.Connection, home_id: str, since: datetime) -> tuple[int, int]:
    """(answered, unanswered) prompts of a home asked since `since`; (0, 0) without the tables.

    Asked: an `ask_resident` audit row; unanswered: `resident_no_answer`; a prompt still
    waiting for its answer counts as neither.
    """
    try:
        row = conn.execute(
            "SELECT "
            " SUM(u.action='ask_resident'), SUM(u.action='resident_no_answer'),"
            " (SELECT COUNT(*) FROM alert_escalations e JOIN alerts b ON b.id=e.alert_id"
            "  WHERE b.home_id=? AND e.hold='asking' AND e.done=0 AND e.ask_started_at>=?)"
            " FROM alert_audit u JOIN alerts a ON a.id=u.alert_id"
            " WHERE a.home_id=? AND u.at>=? AND u.action IN ('ask_resident', 'resident_no_answer')",
            (home_id, since.timestamp(), home_id, since.timestamp()),
        ).fetchone()
    except sqlite3.OperationalError as exc:
        # No alert engine on this hub (its tables were never created): no answers to learn from.
        _LOGGER.debug("no prompt history for %s: %s", home_id, exc)
        return 0, 0
    asked, unanswered, pending = (int(x or 0) for x in row)
    return max(0, asked - unanswered - pending), unanswered
