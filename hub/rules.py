"""Alert rules that fire on a single stored event: help button, digital fall alarm, and the
accelerometer window a kit sent after an impact, classified here by the fall detector."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from detectors import DetectorError, FallParams, classify_window, load_fall_params
from hub.store.base import NewAlert, NewEvent
from mehr.vocabulary import AlertKind

__all__ = ["EventRules"]

_LOGGER = logging.getLogger(__name__)
# Windows the detector cannot judge: the first few are logged, then one in every _LOG_EVERY.
_LOG_FIRST = 10
_LOG_EVERY = 1000


class EventRules:
    """Turns one event into the alert it raises at once, if any. One per ingest worker."""

    def __init__(self, fall_params: FallParams | None = None) -> None:
        self.fall_params = fall_params or load_fall_params()
        self.unclassified = 0

    def alert_for(self, event: NewEvent, event_id: int) -> NewAlert | None:
        """Return the alert one event raises at once, or None.

        A help press, a fall alarm and a classified fall always alert, whatever mode the home
        is in: the person may be on the floor right now.
        """
        detail: dict[str, Any] = {
            "sensor": event.sensor_id,
            "room": event.room,
            "occurred_at": event.occurred_at.isoformat(),
        }
        if event.kind == "help_button" and event.value == "pressed":
            kind = AlertKind.HELP_BUTTON
        elif event.kind == "fall" and event.value == "detected":
            kind = AlertKind.FALL
            detail["source"] = "fall_sensor"
        elif event.kind == "accel_window":
            verdict = self._classify(event)
            if verdict is None or not verdict["is_fall"]:
                return None
            kind = AlertKind.FALL
            detail["source"] = "accelerometer"
            detail["fall_detector"] = verdict
        else:
            return None
        return NewAlert(
            home_id=event.home_id,
            kind=kind.value,
            severity=kind.severity.value,
            raised_at=event.received_at,
            source_event_id=event_id,
            detail=detail,
        )

    def _classify(self, event: NewEvent) -> dict[str, Any] | None:
        value = event.value
        try:
            samples = np.asarray(value["samples"], dtype=np.float64)
            decision = classify_window(samples, float(value["rate_hz"]), self.fall_params)
        except (DetectorError, KeyError, TypeError) as exc:
            # A window the detector cannot judge is kept (it is stored) and logged; it must
            # not take the ingest of everything else down with it. Logged at a bounded rate:
            # a broken kit may send thousands.
            self.unclassified += 1
            if self.unclassified <= _LOG_FIRST or self.unclassified % _LOG_EVERY == 0:
                _LOGGER.warning(
                    "accelerometer window %s/%s not classified (%d so far): %s",
                    event.kit_id,
                    event.seq,
                    self.unclassified,
                    exc,
                )
            return None
        return {
            "is_fall": decision.is_fall,
            "probability": round(decision.probability, 4),
            "threshold": decision.threshold,
            "deciding": list(decision.deciding),
            "features": {k: round(v, 4) for k, v in decision.features.items()},
            "saturated": decision.saturated,
        }
