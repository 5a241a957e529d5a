"""Where the resident is after each event: out, sitting or lying on a mat, or about the home.

A causal state machine over one home's signs of life (no event after `i` is used for event `i`),
shared by learning and by the live decision so both read a home the same way:

- Leaving: the front door (or, in a home without a door contact, the entrance's motion sensor)
  is the last thing seen; the home counts as "out" from then on.
- Coming back: indoor activity soon after the door was used (she came in: a fall in the hall a
  minute later is a fall at home), or later in an absence motion in two different indoor places,
  a mat sat on or left, or a button pressed. One stray event in an absence (a curtain, a pet, a
  PIR glitch) re-arms nothing.
- Sitting or lying: a seat or bed mat occupied is the resident, not a silence; getting up, or
  activity in another place (the mat missed the getting up), ends it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PresenceConfig", "Timeline", "presence_timeline"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

# Codes shared with detectors.routine (kept literal here so this module imports nothing).
_ENTRANCE = 5
_MOTION, _DOOR, _BUTTON, _OCCUPIED, _VACATED, _APPLIANCE = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    """The few timings of coming and going."""

    # Indoor activity this soon after the front door means she came in (or never left).
    arrive_window_s: float = 600.0
    # Two different indoor places within this span, in an absence, mean she is back.
    back_span_s: float = 1800.0
    # The hall's motion sensor this soon after the door is the resident going out of it.
    leave_grace_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Timeline:
    """Per event, the state right after it (arrays of the events' length)."""

    away: BoolArray  # the resident is out after this event
    away_since_s: FloatArray  # when the current absence began (NaN when at home)
    sign_of_life: BoolArray  # the event says the resident is at home and active (or was)
    mat_place: IntArray  # place of the occupied seat/bed mat after this event, -1 if none
    mat_since_s: FloatArray  # when she sat or lay down (NaN when no mat is occupied)


def presence_timeline(  # noqa: C901, PLR0912, PLR0915 - see below
    times_s: FloatArray,
    places: IntArray,
    kinds: IntArray,
    config: PresenceConfig | None = None,
) -> Timeline:
    """Run the state machine over sorted events (see the module docstring)."""
    # One flat loop on purpose: the routine scan runs it over every home's history, and a
    # method call per event for each transition would cost more than the transitions.
    cfg = config or PresenceConfig()
    n = int(times_s.size)
    away = np.zeros(n, dtype=bool)
    away_since = np.full(n, np.nan)
    alive = np.zeros(n, dtype=bool)
    mat = np.full(n, -1, dtype=np.intp)
    mat_since = np.full(n, np.nan)
    has_contact = bool(np.any((places == _ENTRANCE) & (kinds == _DOOR)))
    t_list = times_s.tolist()
    p_list = places.tolist()
    k_list = kinds.tolist()

    is_away = False
    since = float("nan")
    last_door = -np.inf
    seen: dict[int, float] = {}  # indoor place -> last time seen during this absence
    mat_p = -1
    mat_t = float("nan")
    for i in range(n):
        t, p, k = t_list[i], p_list[i], k_list[i]
        leaving_signal = p == _ENTRANCE and (k == _DOOR or not has_contact)
        if p == _ENTRANCE and not leaving_signal and is_away:
            # The hall's own motion sensor in an absence: seeing her go right after the door,
            # or seeing her come in a little later (then it counts as one indoor place).
            seen = {q: s for q, s in seen.items() if t - s <= cfg.back_span_s}
            seen[p] = t
            if cfg.leave_grace_s < t - last_door <= cfg.arrive_window_s or len(seen) >= 2:
                is_away, since = False, float("nan")
                seen.clear()
                alive[i] = True
        elif leaving_signal:
            if not is_away:
                is_away, since = True, t
                seen.clear()
            last_door = t
            mat_p, mat_t = -1, float("nan")
        elif p != _ENTRANCE:
            if is_away:
                seen = {q: s for q, s in seen.items() if t - s <= cfg.back_span_s}
                seen[p] = t
                if (
                    t - last_door <= cfg.arrive_window_s
                    or k in (_OCCUPIED, _VACATED, _BUTTON)
                    or len(seen) >= 2
                ):
                    is_away, since = False, float("nan")
                    seen.clear()
            if not is_away:
                alive[i] = True
                if k == _OCCUPIED:
                    mat_p, mat_t = p, t
                elif k == _BUTTON and mat_p >= 0:
                    mat_t = t  # "I'm OK" from the chair: the sitting is judged afresh
                elif k == _VACATED or (mat_p >= 0 and p != mat_p):
                    mat_p, mat_t = -1, float("nan")
        elif not is_away:
            alive[i] = True  # the hall sensor while at home: she is about
        away[i] = is_away
        away_since[i] = since
        mat[i] = mat_p
        mat_since[i] = mat_t
    return Timeline(away, away_since, alive, mat, mat_since)
