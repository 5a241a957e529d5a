"""The words the whole system shares: alert kinds with their severity, places, sensor kinds' labels.

Part of the kernel: imports nothing of the project. Each name here has one label key in the
message catalogue (`mehr/locales/<lang>/LC_MESSAGES/mehr.po`); `N_` marks those keys so Babel's
extractor finds them although the pages look them up by value (docs/translating.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

__all__ = [
    "ALWAYS_ALERT_KINDS",
    "INACTIVITY_KINDS",
    "LANGUAGE_CODES",
    "N_",
    "SENSOR_KIND_LABELS",
    "AlertKind",
    "Language",
    "LanguageCode",
    "Place",
    "Severity",
    "kind_label_key",
    "sensor_label_key",
    "severity_label_key",
]


def N_(key: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark a catalogue key for extraction without translating it now."""
    return key


class Language(StrEnum):
    """Languages of messages and pages: Uzbek (Latin) first, Russian, English."""

    UZ = "uz"
    RU = "ru"
    EN = "en"


# The same three as a type for plain strings (pydantic fields, page arguments) and as a tuple;
# tests/mehr/test_vocabulary_languages.py holds the three spellings together.
LanguageCode = Literal["uz", "ru", "en"]
LANGUAGE_CODES: Final = tuple(language.value for language in Language)


class Severity(StrEnum):
    """How urgent an alert is; each has its own escalation policy."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def label_key(self) -> str:
        """The catalogue key of its name ("sev_high")."""
        return _SEVERITY_LABELS[self]


_SEVERITY_LABELS: Final = {
    Severity.CRITICAL: N_("sev_critical"),
    Severity.HIGH: N_("sev_high"),
    Severity.MEDIUM: N_("sev_medium"),
    Severity.LOW: N_("sev_low"),
}


class AlertKind(StrEnum):
    """Every kind of alert the hub raises; the value is what the database and the API carry."""

    HELP_BUTTON = "help_button"
    FALL = "fall"
    UNUSUAL_INACTIVITY = "unusual_inactivity"
    NOT_UP = "not_up"
    LONG_BATHROOM = "long_bathroom"
    NIGHT_WANDERING = "night_wandering"
    NOT_BACK = "not_back"
    NO_KITCHEN = "no_kitchen"
    SENSOR_SILENT = "sensor_silent"
    KIT_OFFLINE = "kit_offline"
    AREA_OUTAGE = "area_outage"
    COLD_HOME = "cold_home"
    COLD_AREA = "cold_area"

    @property
    def severity(self) -> Severity:
        """How urgent this kind is: decided here, once, for the engine and the scanners."""
        return _SEVERITY[self]

    @property
    def label_key(self) -> str:
        """The catalogue key of what happened ("kind_fall")."""
        return _KIND_LABELS[self]


_SEVERITY: Final[dict[AlertKind, Severity]] = {
    # The person asked for help or fell: someone must go now.
    AlertKind.HELP_BUTTON: Severity.CRITICAL,
    AlertKind.FALL: Severity.CRITICAL,
    AlertKind.UNUSUAL_INACTIVITY: Severity.HIGH,
    AlertKind.NOT_UP: Severity.HIGH,
    AlertKind.LONG_BATHROOM: Severity.HIGH,
    AlertKind.NIGHT_WANDERING: Severity.MEDIUM,
    AlertKind.NOT_BACK: Severity.MEDIUM,
    # A day without the kitchen is a trend to look at, not a reason to drive there.
    AlertKind.NO_KITCHEN: Severity.LOW,
    # A motion sensor quiet for days (battery, moved, broken): the installer's errand.
    AlertKind.SENSOR_SILENT: Severity.LOW,
    AlertKind.KIT_OFFLINE: Severity.MEDIUM,
    # Many homes dark at once: a worker should look now, but nobody is known to be hurt.
    AlertKind.AREA_OUTAGE: Severity.HIGH,
    # Hypothermia in an older person develops over hours, not minutes: urgent, not critical.
    AlertKind.COLD_HOME: Severity.HIGH,
    AlertKind.COLD_AREA: Severity.HIGH,
}

_KIND_LABELS: Final = {
    AlertKind.HELP_BUTTON: N_("kind_help_button"),
    AlertKind.FALL: N_("kind_fall"),
    AlertKind.UNUSUAL_INACTIVITY: N_("kind_unusual_inactivity"),
    AlertKind.NOT_UP: N_("kind_not_up"),
    AlertKind.LONG_BATHROOM: N_("kind_long_bathroom"),
    AlertKind.NIGHT_WANDERING: N_("kind_night_wandering"),
    AlertKind.NOT_BACK: N_("kind_not_back"),
    AlertKind.NO_KITCHEN: N_("kind_no_kitchen"),
    AlertKind.SENSOR_SILENT: N_("kind_sensor_silent"),
    AlertKind.KIT_OFFLINE: N_("kind_kit_offline"),
    AlertKind.AREA_OUTAGE: N_("kind_area_outage"),
    AlertKind.COLD_HOME: N_("kind_cold_home"),
    AlertKind.COLD_AREA: N_("kind_cold_area"),
}

# The person asked for help or fell: no mode, hold or "ask first" ever delays these.
ALWAYS_ALERT_KINDS: Final = frozenset({AlertKind.HELP_BUTTON, AlertKind.FALL})

# Alerts that only mean "the home has been too quiet": held back while a kit is offline (the
# silence is the outage), in away/holiday/visitor modes, and asked of the resident first.
INACTIVITY_KINDS: Final = frozenset(
    {AlertKind.UNUSUAL_INACTIVITY, AlertKind.NOT_UP, AlertKind.LONG_BATHROOM}
)


class Place(StrEnum):
    """What a room is for; the routine rules reason about these, not about room names."""

    KITCHEN = "kitchen"
    BATHROOM = "bathroom"
    BEDROOM = "bedroom"
    LIVING = "living"
    ENTRANCE = "entrance"
    OTHER = "other"

    @property
    def label_key(self) -> str:
        """The catalogue key of the place's name, shown when a room has no name of its own."""
        return _PLACE_LABELS[self]


_PLACE_LABELS: Final = {
    Place.KITCHEN: N_("place_kitchen"),
    Place.BATHROOM: N_("place_bathroom"),
    Place.BEDROOM: N_("place_bedroom"),
    Place.LIVING: N_("place_living"),
    Place.ENTRANCE: N_("place_entrance"),
    Place.OTHER: N_("place_other"),
}

# The wire contract's sensor kinds (mehr.contract.SensorKind values) -> catalogue key.
SENSOR_KIND_LABELS: Final[dict[str, str]] = {
    "motion": N_("sensor_motion"),
    "door": N_("sensor_door"),
    "help_button": N_("sensor_help_button"),
    "ok_button": N_("sensor_ok_button"),
    "fall": N_("sensor_fall"),
    "accel_window": N_("sensor_accel_window"),
    "temperature": N_("sensor_temperature"),
    "battery": N_("sensor_battery"),
    "occupancy": N_("sensor_occupancy"),
    "appliance": N_("sensor_appliance"),
}


def kind_label_key(kind: str) -> str:
    """The catalogue key for an alert kind stored as text; unknown kinds get the generic one."""
    try:
        return AlertKind(kind).label_key
    except ValueError:
        return N_("kind_other")


def severity_label_key(severity: str) -> str:
    """The catalogue key for a severity stored as text."""
    try:
        return Severity(severity).label_key
    except ValueError:
        return N_("sev_low")


def sensor_label_key(kind: str) -> str:
    """The catalogue key for a sensor kind stored as text (unknown: the generic "sensor")."""
    return SENSOR_KIND_LABELS.get(kind, N_("sensor"))
