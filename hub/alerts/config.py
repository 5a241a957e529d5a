"""The alerts configuration file: people, rotas, family contacts, escalation policies, limits.

Validated with pydantic (extra="forbid"), so a typo in the district's YAML is an error naming
the file and field, never a silent default. Everything refers to people by id; references are
checked when the file loads.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, PrivateAttr, field_validator, model_validator

from hub.alerts.severity import ALWAYS_ALERT_KINDS, INACTIVITY_KINDS, Severity
from mehr.configfile import DEFAULT_TIME_ZONE, StrictModel, TimeZoneName, load_model
from mehr.vocabulary import Language

__all__ = [
    "AlertsConfig",
    "AskFirstConfig",
    "ContactMethod",
    "DeliveryConfig",
    "District",
    "EskizGateway",
    "FamilyContact",
    "FamilyPreference",
    "GatewaysConfig",
    "GroupingConfig",
    "HomeContacts",
    "Language",
    "Mahalla",
    "MethodKind",
    "ModesConfig",
    "Person",
    "PlayMobileGateway",
    "Policy",
    "Shift",
    "Step",
    "Target",
    "TelegramBot",
    "Weekday",
    "load_alerts_config",
    "scaled_for_demo",
]

_PERSON_ID = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Lower-case person id.")
]


class MethodKind(StrEnum):
    """What kind of channel a contact method is; decides message length and format."""

    EMAIL = "email"
    SMS = "sms"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"
    OTHER = "other"


_SCHEME_KINDS = {
    "mailto": MethodKind.EMAIL,
    "mailtos": MethodKind.EMAIL,
    "tgram": MethodKind.TELEGRAM,
    "json": MethodKind.WEBHOOK,
    "jsons": MethodKind.WEBHOOK,
    "form": MethodKind.WEBHOOK,
    "forms": MethodKind.WEBHOOK,
    "xml": MethodKind.WEBHOOK,
    "xmls": MethodKind.WEBHOOK,
    "eskiz": MethodKind.SMS,
    "playmobile": MethodKind.SMS,
    "tgbot": MethodKind.TELEGRAM,
}

# Mobile numbers in Uzbekistan as the gateways take them: 998, then 9 digits, no "+".
UZ_MOBILE = re.compile(r"^998\d{9}$")
# A private chat with the bot: its id is the person's Telegram user id (positive). Group chats
# (negative ids) are refused: a button pressed there could come from anyone in the group.
TELEGRAM_CHAT = re.compile(r"^[1-9]\d{0,15}$")


class ContactMethod(StrictModel):
    """One way to reach a person: an apprise URL; methods are tried in the order listed."""

    url: str = Field(
        min_length=3,
        title="Apprise URL",
        description="e.g. mailto://smtp.host:587?from=hub@x&to=aziza@x, tgram://token/chat, "
        "or an SMS gateway URL; see apprise's documentation.",
        repr=False,
    )
    kind: MethodKind | None = Field(
        default=None,
        description="email, sms, telegram, webhook or other; inferred from the URL when absent.",
    )

    @field_validator("url")
    @classmethod
    def _has_scheme(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("expected an apprise URL such as mailto://... or tgram://...")
        return value

    @property
    def method_kind(self) -> MethodKind:
        """The kind, given or inferred from the URL scheme."""
        if self.kind is not None:
            return self.kind
        return _SCHEME_KINDS.get(self.url.split("://", 1)[0].lower(), MethodKind.OTHER)


class Person(StrictModel):
    """Anyone who may be told: a social worker, duty officer, supervisor or family member."""

    id: _PERSON_ID
    name: str = Field(min_length=1, max_length=200, description="Shown in messages and pages.")
    languages: list[Language] = Field(
        default_factory=lambda: [Language.UZ],
        min_length=1,
        description="Preferred first; messages go in the first one.",
    )
    methods: list[ContactMethod] = Field(
        min_length=1, description="Contact methods in order: a failing one falls to the next."
    )


class Weekday(StrEnum):
    """Days of a shift (ISO order)."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_ALL_DAYS = list(Weekday)


class Shift(StrictModel):
    """A person on call on some days between two local times (end <= start runs past midnight)."""

    person: _PERSON_ID
    days: list[Weekday] = Field(
        default_factory=lambda: list(_ALL_DAYS), min_length=1, description="Days the shift starts."
    )
    start: time = Field(description="Local start time, HH:MM.")
    end: time = Field(description="Local end time, HH:MM; at or before start: the next day.")

    def covers(self, local: datetime) -> bool:
        """True if this shift is on at `local` (a time in the district's zone)."""
        days = list(Weekday)
        today = days[local.weekday()]
        yesterday = days[(local.weekday() - 1) % 7]
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return today in self.days and self.start <= now < self.end
        # Overnight: the evening part belongs to today's shift, the morning to yesterday's.
        return (today in self.days and now >= self.start) or (
            yesterday in self.days and now < self.end
        )


class Mahalla(StrictModel):
    """A mahalla: its on-call rota of social workers and, optionally, its own supervisor."""

    name: str = Field(min_length=1, max_length=200, description="As in the homes' registry.")
    rota: list[Shift] = Field(default_factory=list, description="On-call social workers.")
    supervisor: _PERSON_ID | None = Field(
        default=None, description="Defaults to the district's supervisor."
    )


class District(StrictModel):
    """The district's Inson centre: its time zone, duty officers and supervisor."""

    name: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName = Field(
        default=DEFAULT_TIME_ZONE, description="Zone the rota times are in."
    )
    duty_officers: list[Shift] = Field(default_factory=list, description="Duty officer rota.")
    supervisor: _PERSON_ID = Field(description="Last step of every escalation, and fallback.")


class FamilyPreference(StrEnum):
    """When a family member is told."""

    FIRST = "first"  # before or at the first step, expected to act
    WITH_WORKER = "with_worker"  # together with the on-call worker
    INFORMED = "informed"  # told, not asked to act; no acknowledge link


class FamilyContact(StrictModel):
    """A family member of one resident."""

    person: _PERSON_ID
    preference: FamilyPreference = FamilyPreference.WITH_WORKER


class HomeContacts(StrictModel):
    """What messages say about a home, and whom of the family to tell."""

    home: str = Field(min_length=1, max_length=64, description="Home id as in the registry.")
    resident: str = Field(min_length=1, max_length=100, description="Short name for messages.")
    address: str = Field(default="", max_length=120, description="Address or landmark.")
    phone: str | None = Field(
        default=None,
        pattern=r"^\+?[0-9][0-9 ()-]{5,22}$",
        description="The resident's or home's phone, e.g. +998 90 123 45 67 (Telegram's "
        "Call button answers with it).",
    )
    ask_first: bool = Field(
        default=False, description="The kit has a buzzer and an 'I'm OK' button."
    )
    family: list[FamilyContact] = Field(default_factory=list)


class Target(StrEnum):
    """Who an escalation step reaches."""

    ON_CALL = "on_call"
    DUTY_OFFICER = "duty_officer"
    SUPERVISOR = "supervisor"
    FAMILY_FIRST = "family_first"
    FAMILY_WITH_WORKER = "family_with_worker"
    FAMILY_INFORMED = "family_informed"


class Step(StrictModel):
    """One escalation step: whom to notify, and when (seconds after the round starts)."""

    after_s: float = Field(ge=0, le=7 * 24 * 3600)
    notify: list[Target] = Field(min_length=1)


class Policy(StrictModel):
    """How one severity escalates."""

    steps: list[Step] = Field(min_length=1)
    renotify_every_s: float | None = Field(
        default=None, gt=0, description="Repeat to everyone notified until acknowledged."
    )
    ack_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="An acknowledgement without 'arrived' within this time re-opens escalation.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Policy:
        delays = [s.after_s for s in self.steps]
        if delays != sorted(delays):
            raise ValueError("steps must be in order of after_s")
        return self


class AskFirstConfig(StrictModel):
    """Ask the resident ("I'm OK" button) before alerting anyone, for these kinds."""

    kinds: list[str] = Field(default_factory=lambda: sorted(INACTIVITY_KINDS))
    window_s: float = Field(default=120, gt=0, le=3600)

    @field_validator("kinds")
    @classmethod
    def _never_for_help(cls, value: list[str]) -> list[str]:
        bad = sorted(set(value) & ALWAYS_ALERT_KINDS)
        if bad:
            raise ValueError(f"never ask first for {', '.join(bad)}: the person asked for help")
        return value


class ModesConfig(StrictModel):
    """What away, holiday and visitor modes hold back."""

    suppress_kinds: list[str] = Field(default_factory=lambda: sorted(INACTIVITY_KINDS))

    @field_validator("suppress_kinds")
    @classmethod
    def _never_help(cls, value: list[str]) -> list[str]:
        bad = sorted(set(value) & ALWAYS_ALERT_KINDS)
        if bad:
            raise ValueError(f"{', '.join(bad)} always alert, in every mode")
        return value


class GroupingConfig(StrictModel):
    """Kit-offline alerts and their grouping into one area outage."""

    offline_grace_s: float = Field(default=600, ge=0, description="Offline this long: alert.")
    area_outage_min_kits: int = Field(default=3, ge=2)
    area_outage_window_s: float = Field(
        default=300, gt=0, description="Kits of one mahalla offline within this span: one outage."
    )
    scan_every_s: float = Field(default=5, gt=0, description="How often kit state is scanned.")


class _GatewayAccount(StrictModel):
    """An SMS gateway account whose password comes from the environment or a file."""

    _section: ClassVar[str] = "gateways"
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Name of the environment variable holding the account password.",
    )
    password_file: Path | None = Field(
        default=None, description="File holding the account password (one line)."
    )
    timeout_s: float = Field(default=10, gt=0, le=60, description="Per HTTP request.")

    @model_validator(mode="after")
    def _one_secret_source(self) -> _GatewayAccount:
        if (self.password_env is None) == (self.password_file is None):
            raise ValueError("give exactly one of password_env or password_file (never the "
                             "password itself: the file is not a place for secrets)")
        return self

    def password(self) -> str:
        """Read the password from the environment or the file; raise ValueError if absent."""
        if self.password_env is not None:
            value = os.environ.get(self.password_env, "")
            if not value:
                raise ValueError(f"{self._section}: environment variable {self.password_env} "
                                 "is not set")
            return value
        assert self.password_file is not None  # the validator guarantees one source
        try:
            value = self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{self._section}: cannot read password_file: {exc}") from exc
        if not value:
            raise ValueError(f"{self._section}: password_file {self.password_file} is empty")
        return value


class EskizGateway(_GatewayAccount):
    """The district's Eskiz (eskiz.uz) SMS account; contact methods use eskiz://998XXXXXXXXX."""

    _section: ClassVar[str] = "gateways.eskiz"
    base_url: str = Field(
        default="https://notify.eskiz.uz",
        pattern=r"^https?://[^/?#]+$",
        description="Eskiz API origin (no path); the API lives under /api.",
    )
    email: str = Field(min_length=3, description="The account's login e-mail.")
    sender: str = Field(
        default="4546",
        min_length=1,
        max_length=11,
        description="Sender name (`from`) registered with Eskiz; 4546 is Eskiz's default.",
    )
    callback_url: str | None = Field(
        default=None, description="Where Eskiz posts delivery reports (optional)."
    )
    refresh_before_s: float = Field(
        default=3600,
        ge=0,
        description="Refresh the token this long before its `exp` (Eskiz tokens last ~30 days).",
    )


class PlayMobileGateway(_GatewayAccount):
    """The district's Play Mobile (playmobile.uz, smsxabar.uz) account: playmobile://998..."""

    _section: ClassVar[str] = "gateways.playmobile"
    base_url: str = Field(
        pattern=r"^https?://[^/?#]+$",
        description="The broker's origin given with the contract (no path); the API is "
        "/broker-api/send.",
    )
    username: str = Field(min_length=1, description="Basic-auth login.")
    originator: str = Field(
        min_length=1, max_length=11, description="Sender name or short number registered."
    )


class TelegramBot(StrictModel):
    """The district's Telegram bot (from BotFather); contact methods use tgbot://<chat id>."""

    token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Name of the environment variable holding the bot token.",
    )
    token_file: Path | None = Field(default=None, description="File holding the bot token.")
    base_url: str = Field(
        default="https://api.telegram.org",
        pattern=r"^https?://[^/?#]+$",
        description="Bot API origin (no path): Telegram's, or a local Bot API server.",
    )
    timeout_s: float = Field(default=10, gt=0, le=60, description="Per HTTP request.")
    poll_timeout_s: float = Field(
        default=25, ge=1, le=50, description="Long-poll wait of getUpdates for button presses."
    )

    @model_validator(mode="after")
    def _one_secret_source(self) -> TelegramBot:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("give exactly one of token_env or token_file (never the token "
                             "itself: the file is not a place for secrets)")
        return self

    def token(self) -> str:
        """Read the bot token from the environment or the file; raise ValueError if absent."""
        if self.token_env is not None:
            value = os.environ.get(self.token_env, "").strip()
            where = f"environment variable {self.token_env}"
        else:
            assert self.token_file is not None  # the validator guarantees one source
            try:
                value = self.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"gateways.telegram: cannot read token_file: {exc}") from exc
            where = f"token_file {self.token_file}"
        if not re.fullmatch(r"\d{1,20}:[A-Za-z0-9_-]{20,100}", value):
            raise ValueError(f"gateways.telegram: {where} holds no bot token (expected "
                             "<digits>:<secret> as BotFather gives it)")
        return value


class GatewaysConfig(StrictModel):
    """SMS gateway accounts and the Telegram bot, used by contact methods with their own URL
    scheme."""

    eskiz: EskizGateway | None = Field(default=None, description="Eskiz (eskiz.uz) account.")
    playmobile: PlayMobileGateway | None = Field(
        default=None, description="Play Mobile (playmobile.uz) account."
    )
    telegram: TelegramBot | None = Field(
        default=None, description="Telegram bot for tgbot:// methods (buttons to acknowledge)."
    )


class DeliveryConfig(StrictModel):
    """Retries of one contact method before falling to the next."""

    attempts_per_method: int = Field(default=3, ge=1, le=10)
    backoff_s: list[float] = Field(
        default_factory=lambda: [2.0, 10.0],
        min_length=1,
        description="Wait before retry n (the last value repeats).",
    )


class AlertsConfig(StrictModel):
    """The whole alerts file of one district."""

    district: District
    people: list[Person]
    mahallas: list[Mahalla] = Field(default_factory=list)
    homes: list[HomeContacts] = Field(default_factory=list)
    policies: dict[Severity, Policy]
    ask_first: AskFirstConfig = Field(default_factory=AskFirstConfig)
    modes: ModesConfig = Field(default_factory=ModesConfig)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    gateways: GatewaysConfig = Field(default_factory=GatewaysConfig)
    token_ttl_s: float = Field(
        default=24 * 3600, gt=0, description="How long an acknowledge link works."
    )

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        ids = [p.id for p in self.people]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"person id {dupes[0]!r} is used twice")
        known = set(ids)
        for where, person in self._person_references():
            if person not in known:
                raise ValueError(f"{where}: unknown person {person!r}")
        missing = [s.value for s in Severity if s not in self.policies]
        if missing:
            raise ValueError(f"policies: missing {', '.join(missing)}")
        names = [m.name for m in self.mahallas]
        if len(names) != len(set(names)):
            raise ValueError("a mahalla is listed twice")
        for someone in self.people:
            for method in someone.methods:
                self._check_gateway_url(someone.id, method.url)
        return self

    def _person_references(self) -> list[tuple[str, str]]:
        """Every place the config names a person, with where it is (for the error)."""
        refs: list[tuple[str, str]] = [("district.supervisor", self.district.supervisor)]
        refs += [("district.duty_officers", s.person) for s in self.district.duty_officers]
        for m in self.mahallas:
            refs += [(f"mahalla {m.name!r} rota", s.person) for s in m.rota]
            if m.supervisor:
                refs.append((f"mahalla {m.name!r} supervisor", m.supervisor))
        for h in self.homes:
            refs += [(f"home {h.home!r} family", f.person) for f in h.family]
        return refs

    def _check_gateway_url(self, person_id: str, url: str) -> None:
        scheme, rest = url.split("://", 1)
        scheme = scheme.lower()
        if scheme in {"eskiz", "playmobile"}:
            if getattr(self.gateways, scheme) is None:
                raise ValueError(f"person {person_id!r}: a {scheme}:// method needs "
                                 f"gateways.{scheme}")
            if not UZ_MOBILE.match(rest):
                raise ValueError(f"person {person_id!r}: expected {scheme}://998XXXXXXXXX (12 "
                                 f"digits, no '+'), got {scheme}://{rest}")
        elif scheme == "tgbot":
            if self.gateways.telegram is None:
                raise ValueError(f"person {person_id!r}: a tgbot:// method needs "
                                 "gateways.telegram")
            if not TELEGRAM_CHAT.match(rest):
                raise ValueError(f"person {person_id!r}: expected tgbot://<the person's "
                                 f"Telegram user id> (a private chat), got tgbot://{rest}")
        elif scheme in {"json", "jsons", "form", "forms", "xml", "xmls"}:
            query = rest.split("?", 1)[1] if "?" in rest else ""
            keys = {pair.split("=", 1)[0] for pair in query.split("&") if pair}
            if "to" in keys:
                # apprise ignores a plain ?to= on these: the request would go out without the
                # number. A payload field is ":to=", a query parameter "-to=".
                raise ValueError(f"person {person_id!r}: apprise drops '?to=' on {scheme}:// "
                                 "URLs; use ':to=998...' (a payload field) or '-to=998...' "
                                 "(a query parameter)")

    def person(self, person_id: str) -> Person | None:
        """Return a person by id, or None."""
        return self._people.get(person_id)

    def mahalla(self, name: str) -> Mahalla | None:
        """Return a mahalla by name, or None."""
        return self._mahallas.get(name)

    def home(self, home_id: str) -> HomeContacts | None:
        """Return a home's contacts, or None."""
        return self._homes.get(home_id)

    def model_post_init(self, context: object, /) -> None:
        """Index people, mahallas and homes for lookups."""
        self._people = {p.id: p for p in self.people}
        self._mahallas = {m.name: m for m in self.mahallas}
        self._homes = {h.home: h for h in self.homes}

    _people: dict[str, Person] = PrivateAttr(default_factory=dict)
    _mahallas: dict[str, Mahalla] = PrivateAttr(default_factory=dict)
    _homes: dict[str, HomeContacts] = PrivateAttr(default_factory=dict)


def scaled_for_demo(config: AlertsConfig, factor: float) -> AlertsConfig:
    """The same config with every escalation delay divided by `factor` (demo only)."""
    data = config.model_dump(mode="json")
    for policy in data["policies"].values():
        for step in policy["steps"]:
            step["after_s"] = step["after_s"] / factor
        for key in ("renotify_every_s", "ack_timeout_s"):
            if policy.get(key):
                policy[key] = policy[key] / factor
    data["ask_first"]["window_s"] = data["ask_first"]["window_s"] / factor
    return AlertsConfig.model_validate(data)


def load_alerts_config(path: Path) -> AlertsConfig:
    """Load and validate an alerts YAML file (raises ConfigError naming the file and field)."""
    return load_model(path, AlertsConfig)
