"""The service report: how fast alerts were notified, acknowledged and reached, per mahalla.

Measured against the telecare anchors the district answers to: 97.5 % of alarm calls answered
within 60 s and 99 % within 180 s ("answered" here: acknowledged by a person).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import numpy as np

from hub.persistence.connection import Connection
from hub.persistence.reports import AlertTimes, alert_times

__all__ = ["ANCHORS", "response_report"]

# (seconds, share of alerts that should be acknowledged within it)
ANCHORS: Final = ((60.0, 0.975), (180.0, 0.99))
_NOT_FOR_PEOPLE: Final = ("cancelled", "suppressed")  # answered by the resident or held back


def _figures(raised: np.ndarray, later: np.ndarray) -> dict[str, Any]:
    """Delays (s) from raised to a later moment; NaN where it never happened."""
    done = ~np.isnan(later)
    delays = later[done] - raised[done]
    if delays.size == 0:
        return {"count": 0, "p50_s": None, "p90_s": None, "max_s": None}
    return {
        "count": int(delays.size),
        "p50_s": round(float(np.percentile(delays, 50)), 1),
        "p90_s": round(float(np.percentile(delays, 90)), 1),
        "max_s": round(float(delays.max()), 1),
    }


def _group(rows: list[AlertTimes]) -> dict[str, Any]:
    people = [r for r in rows if r.state not in _NOT_FOR_PEOPLE]
    raised = np.array([r.raised_s for r in people], dtype=np.float64)

    def column(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    acked = column([r.acknowledged_s for r in people])
    out: dict[str, Any] = {
        "alerts": len(rows),
        "for_people": len(people),
        "cancelled_by_resident": sum(1 for r in rows if r.state == "cancelled"),
        "held_back": sum(1 for r in rows if r.state == "suppressed"),
        "not_acknowledged": int(np.isnan(acked).sum()),
        "to_notify": _figures(raised, column([r.notified_s for r in people])),
        "to_acknowledge": _figures(raised, acked),
        "to_arrive": _figures(raised, column([r.arrived_s for r in people])),
        "targets": [],
    }
    for seconds, aim in ANCHORS:
        # An alert nobody acknowledged counts against the target, not out of it.
        within = int(np.sum(acked - raised <= seconds)) if people else 0
        share = within / len(people) if people else None
        out["targets"].append(
            {
                "acknowledged_within_s": seconds,
                "aim": aim,
                "share": None if share is None else round(share, 4),
                "met": None if share is None else share >= aim,
            }
        )
    return out


def response_report(conn: Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """Response times of alerts raised in [start, end), for the district and each mahalla."""
    rows = alert_times(conn, start, end)
    by_mahalla: dict[str, list[AlertTimes]] = {}
    for row in rows:
        by_mahalla.setdefault(row.mahalla or "(none)", []).append(row)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "district": _group(rows),
        "mahallas": {name: _group(group) for name, group in sorted(by_mahalla.items())},
    }
