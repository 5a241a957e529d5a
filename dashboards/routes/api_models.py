"""The JSON API's models: request bodies (`*In`) and one typed answer per route (`*Out`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from dashboards.accounts import Role

__all__ = [
    "ActionIn",
    "AlertExportOut",
    "AlertHistoryOut",
    "AlertOut",
    "AuditOut",
    "AwayBriefOut",
    "AwayIn",
    "AwayOut",
    "CaseOut",
    "CommissioningOut",
    "ContactOut",
    "CreatedRequestOut",
    "CreatedUserOut",
    "DayOut",
    "DelayOut",
    "ErrorOut",
    "ExportOut",
    "HomeOut",
    "HomeStatusOut",
    "ImportOut",
    "ImportRejectOut",
    "KitHealthOut",
    "KitOut",
    "KitSensorOut",
    "LoginIn",
    "LoginOut",
    "MeOut",
    "OkOut",
    "PersonOut",
    "PreferencesIn",
    "RequestIn",
    "RequestOut",
    "RequestStateIn",
    "RequestStateOut",
    "ResidentExportOut",
    "ResidentOut",
    "ResponseGroupOut",
    "ResponseReportOut",
    "RoutineOut",
    "SegmentOut",
    "TargetOut",
    "UserIn",
    "UserOut",
    "ValidationIssue",
    "VisitExportOut",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    """Credentials for a bearer session (mobile app)."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class PreferencesIn(_In):
    """Language and text size."""

    lang: Literal["uz", "ru", "en"] | None = None
    large_text: bool | None = None


class AwayIn(_In):
    """Away, holiday or visitor mode until a time."""

    mode: Literal["away", "holiday", "visitor"]
    until: datetime = Field(description="When the mode ends (with a UTC offset).")


class RequestIn(_In):
    """A family's request."""

    kind: Literal["visit", "call"]
    note: str = Field(default="", max_length=500)


class RequestStateIn(_In):
    """A worker moving a request on."""

    state: Literal["accepted", "done", "cancelled"]


class ActionIn(_In):
    """A worker acting on an alert."""

    action: Literal["acknowledge", "on_the_way", "arrived", "resolve"]
    comment: str = Field(default="", max_length=1000)
    outcome: str = Field(default="", description="Required for resolve.")


class UserIn(_In):
    """A new account."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=10, max_length=256)
    role: Role
    display_name: str = Field(default="", max_length=200)
    homes: list[str] = Field(default_factory=list)
    mahallas: list[str] = Field(default_factory=list)
    all_homes: bool = False
    lang: Literal["uz", "ru", "en"] = "uz"


# -- responses -----------------------------------------------------------------------------------
# One model per answer, so the OpenAPI document types every 2xx and a client generator gets
# classes, not `object`. Times are ISO 8601 with their UTC offset (pages convert them to the
# home's zone; an app does the same with the home's `timezone`).


# As the read models write times (`isoformat()`, "+00:00"), so answers keep their exact form.
Moment = Annotated[
    datetime,
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class _Out(BaseModel):
    # Answers are built by the server: an unknown field is a bug to show in the tests, not to
    # drop silently.
    model_config = ConfigDict(extra="forbid")


class ValidationIssue(_Out):
    """One invalid input: where, what and why (never the input itself back)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(_Out):
    """Every refusal: 401 (no session), 403 (role or CSRF), 404 (not found or not yours), 409
    (a state change the engine refused), 422 (invalid input), 415 (not JSON), 429 (throttled)."""

    detail: str | list[ValidationIssue] = Field(
        description="A short reason key (`not_found`, `forbidden`, `csrf_failed`, ...) or, for "
        "invalid input, one entry per problem."
    )


class OkOut(_Out):
    """Done."""

    ok: bool


class LoginOut(_Out):
    """A bearer session."""

    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    csrf: str = Field(description="The session's CSRF token (cookie sessions send it back).")
    expires_at: float = Field(description="When the session ends (Unix time, seconds).")


class MeOut(_Out):
    """The signed-in user."""

    username: str
    display_name: str
    role: Role
    lang: Literal["uz", "ru", "en"]
    large_text: bool
    homes: list[str]
    mahallas: list[str]
    all_homes: bool


class AlertHistoryOut(_Out):
    """One change in an alert's life, from the engine's audit trail."""

    at: Moment
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any] | None


class AlertOut(_Out):
    """An alert as the engine keeps it (state, progress, who acted and when)."""

    id: int
    home_id: str
    kind: str
    severity: str
    state: str
    progress: str | None
    phase: str = Field(description="What people see: progress while acknowledged, else state.")
    raised_at: Moment
    updated_at: Moment
    count: int
    notified_at: Moment | None
    acknowledged_by: str | None
    acknowledged_at: Moment | None
    on_the_way_at: Moment | None
    arrived_at: Moment | None
    resolved_at: Moment | None
    resolved_by: str | None
    outcome: str | None
    note: str | None
    history: list[AlertHistoryOut] | None = Field(
        default=None, description="Only on GET /alerts/{alert_id}."
    )


class KitHealthOut(_Out):
    """A kit in brief."""

    kit_id: str
    online: bool
    last_heartbeat_at: Moment | None
    outbox_depth: int | None
    stale: bool


class AwayBriefOut(_Out):
    """The home mode in force."""

    mode: str
    until: Moment


class HomeStatusOut(_Out):
    """A home's status in words: alert, needs attention, or OK, with the reasons."""

    home_id: str
    name: str
    mahalla: str
    timezone: str
    level: Literal["ok", "attention", "alert"]
    reasons: list[str]
    last_activity_at: Moment | None
    last_room: str | None
    alerts: list[AlertOut]
    kits: list[KitHealthOut]
    away: AwayBriefOut | None
    open_requests: int


class SegmentOut(_Out):
    """Time spent in one room today."""

    room: str
    start: Moment
    end: Moment
    events: int


class DayOut(_Out):
    """One local day of the last week."""

    day: date
    movements: int
    sleep_hours: float | None


class ContactOut(_Out):
    """Who will be called."""

    name: str
    role: Literal["family", "worker"]
    phone: str | None


class RequestOut(_Out):
    """A family's visit or call request."""

    id: int
    home_id: str
    kind: str
    note: str | None
    state: str
    created_at: Moment
    updated_at: Moment


class HomeOut(_Out):
    """Everything the family page shows, as data."""

    status: HomeStatusOut
    today: list[SegmentOut]
    week: list[DayOut]
    contacts: list[ContactOut]
    requests: list[RequestOut]


class AwayOut(_Out):
    """The away/holiday/visitor mode just set."""

    mode: str
    until: Moment
    set_by: str


class CreatedRequestOut(_Out):
    """A request just filed."""

    id: int
    state: Literal["open"]


class RequestStateOut(_Out):
    """A request just moved on."""

    id: int
    state: Literal["accepted", "done", "cancelled"]


class PersonOut(_Out):
    """The resident's registry record."""

    person_id: str
    full_name: str
    birth_date: str | None
    address: str | None
    mahalla: str | None
    risk_level: str | None
    languages: list[str]
    contacts: list[dict[str, Any]]


class RoutineOut(_Out):
    """Typical first and last movement over the last 14 days (local time)."""

    days: int
    first_movement: str | None = Field(default=None, description="HH:MM, home's local time.")
    last_movement: str | None = Field(default=None, description="HH:MM, home's local time.")
    movements_per_day: int | None = None


class ResidentOut(_Out):
    """The resident card (workers only)."""

    home_id: str
    person: PersonOut | None
    status: HomeStatusOut
    routine: RoutineOut
    last_visit: Moment | None


class CaseOut(_Out):
    """One home of a worker's caseload."""

    home_id: str
    name: str
    mahalla: str
    resident: str
    level: Literal["ok", "attention", "alert"]
    top_severity: str | None
    open_alerts: int
    open_requests: int
    risk_level: str
    last_activity_at: Moment | None


class KitSensorOut(_Out):
    """A sensor and its last signal."""

    sensor_id: str
    kind: str
    room: str
    last_signal: Moment | None
    available: bool = Field(description="False while the kit reports it unreachable.")


class CommissioningOut(_Out):
    """The newest walk-test report in brief."""

    finished: Moment | None
    passed: bool
    missing: list[str]


class KitOut(_Out):
    """A kit as the installer sees it."""

    kit_id: str
    home_id: str
    mahalla: str
    online: bool
    availability_at: Moment | None
    last_heartbeat_at: Moment | None
    outbox_depth: int | None
    clock_offset_s: float | None = Field(description="Kit clock minus the hub's (heartbeat).")
    ntp_offset_s: float | None = Field(description="The kit's own NTP offset, if it sends one.")
    sensors: list[KitSensorOut]
    commissioning: CommissioningOut | None


class UserOut(_Out):
    """An active account."""

    username: str
    role: Role
    homes: list[str]
    mahallas: list[str]
    all_homes: bool


class CreatedUserOut(_Out):
    """An account just created."""

    id: int
    username: str


class ImportRejectOut(_Out):
    """A registry row the import refused, and why."""

    row: int
    person_id: str | None
    reason: str


class ImportOut(_Out):
    """What a registry import did."""

    created: int
    updated: int
    unchanged: int
    homes_created: int
    rejected: list[ImportRejectOut]


class AuditOut(_Out):
    """One audit entry: who viewed or changed what, when."""

    id: int
    at: float = Field(description="Unix time, seconds.")
    username: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str


class ResidentExportOut(_Out):
    """A resident, as the registry import takes it back."""

    person_id: str
    full_name: str
    birth_date: str | None
    address: str | None
    mahalla: str | None
    risk_level: str | None
    home_id: str | None
    languages: list[str]
    contacts: list[dict[str, Any]]


class AlertExportOut(_Out):
    """An alert's lifecycle for the district's records."""

    alert_id: int
    home_id: str
    mahalla: str | None
    kind: str
    severity: str
    state: str
    progress: str | None
    raised_at: Moment | None
    notified_at: Moment | None
    acknowledged_at: Moment | None
    acknowledged_by: str | None
    arrived_at: Moment | None
    resolved_at: Moment | None
    resolved_by: str | None
    outcome: str | None
    note: str | None


class VisitExportOut(_Out):
    """A visit or call request for the district's records."""

    request_id: int
    home_id: str
    kind: str
    state: str
    note: str | None
    created_at: Moment | None
    updated_at: Moment | None


ExportOut = list[ResidentExportOut] | list[AlertExportOut] | list[VisitExportOut]


class DelayOut(_Out):
    """Delays from raised to a later moment, in seconds (None when it never happened)."""

    count: int
    p50_s: float | None
    p90_s: float | None
    max_s: float | None


class TargetOut(_Out):
    """One telecare anchor: share acknowledged within a time, against the aim."""

    acknowledged_within_s: float
    aim: float
    share: float | None
    met: bool | None


class ResponseGroupOut(_Out):
    """Response times of one mahalla (or the district)."""

    alerts: int
    for_people: int
    cancelled_by_resident: int
    held_back: int
    not_acknowledged: int
    to_notify: DelayOut
    to_acknowledge: DelayOut
    to_arrive: DelayOut
    targets: list[TargetOut]


class ResponseReportOut(_Out):
    """Response times per mahalla (and the district total for district roles)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: Moment = Field(alias="from")
    end: Moment = Field(alias="to")
    district: ResponseGroupOut | None = Field(
        default=None, description="Duty officers, supervisors and admins only."
    )
    mahallas: dict[str, ResponseGroupOut]
