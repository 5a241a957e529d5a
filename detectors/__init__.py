"""Pure detectors (numpy/scipy only): falls from accelerometer windows, routine and inactivity.

No project imports, no I/O (except `detectors.loader` reading the shipped parameter file), no
clock of their own: arrays in, typed results with their evidence out.
"""

from detectors.errors import (
    BadParameters,
    BadShape,
    DetectorError,
    EmptyInput,
    NonFiniteInput,
    WindowTooShort,
)
from detectors.fall import (
    TRIGGER,
    FallBatch,
    FallDecision,
    FallParams,
    TriggerConfig,
    classify_window,
    classify_windows,
    extract_windows,
    trigger_impacts,
)
from detectors.inactivity import (
    InactivityExplanation,
    InactivityScan,
    explain_inactivity,
    scan_inactivity,
    stack_routines,
)
from detectors.loader import load_fall_params
from detectors.routine import (
    ActivityEvents,
    CheckPlan,
    Finding,
    Kind,
    Place,
    Routine,
    RoutineConfig,
    check_home,
    learn_routine,
    new_event_lead_s,
    plan_next_check,
    time_bins,
)

__all__ = [
    "TRIGGER",
    "ActivityEvents",
    "BadParameters",
    "BadShape",
    "CheckPlan",
    "DetectorError",
    "EmptyInput",
    "FallBatch",
    "FallDecision",
    "FallParams",
    "Finding",
    "InactivityExplanation",
    "InactivityScan",
    "Kind",
    "NonFiniteInput",
    "Place",
    "Routine",
    "RoutineConfig",
    "TriggerConfig",
    "WindowTooShort",
    "check_home",
    "classify_window",
    "classify_windows",
    "explain_inactivity",
    "extract_windows",
    "learn_routine",
    "load_fall_params",
    "new_event_lead_s",
    "plan_next_check",
    "scan_inactivity",
    "stack_routines",
    "time_bins",
    "trigger_impacts",
]
