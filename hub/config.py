"""The hub's settings: a YAML file validated by pydantic, with MEHR_* environment overrides."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from hub.coordination import LeaseSettings
from mehr.configfile import (
    DEFAULT_PUBLIC_URL,
    AlertsLinkSection,
    ConfigError,
    DatabaseSection,
    load_settings_model,
)

__all__ = [
    "SECRET_RULE",
    "HubSettings",
    "MqttProtocol",
    "check_secret",
    "load_settings",
    "refuse_demo_switch",
    "secret_problem",
]

# -- secrets: long is not enough; a key must be hard to guess ------------------------------------

_MIN_SECRET_CHARS = 32
# Set so that a real random key never fails: over 200,000 draws of `secrets.token_hex(16)` (32
# characters of 16) none had fewer than 9 different characters or scored under 90 bits, while
# 1.7 % had fewer than 12 and 0.1 % scored under 100. token_urlsafe scores ~200.
_MIN_SECRET_BITS = 88.0  # by character frequencies
_MIN_DISTINCT_CHARS = 8
# Words people leave in a key they meant to replace (any case, anywhere in it).
_PLACEHOLDER_WORDS = (
    "changeme", "change-me", "change_me", "changethis", "replaceme", "replace-me", "placeholder",
    "example", "yoursecret", "your-secret", "secretkey", "secret-key", "password", "qwerty",
    "12345678", "demo-only-",
)
SECRET_RULE = (
    f"at least {_MIN_SECRET_CHARS} characters, at least {_MIN_DISTINCT_CHARS} different ones, "
    f"about {_MIN_SECRET_BITS:.0f} bits of entropy by character frequency, no run or repeated "
    "pattern and no placeholder such as 'changeme'; make one with "
    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
)


def _too_short(secret: str) -> str | None:
    return f"only {len(secret)} characters" if len(secret) < _MIN_SECRET_CHARS else None


def _placeholder(secret: str) -> str | None:
    lowered = secret.lower()
    found = next((word for word in _PLACEHOLDER_WORDS if word in lowered), None)
    return None if found is None else f"contains the placeholder {found!r}"


def _low_entropy(secret: str) -> str | None:
    counts = Counter(secret)
    if len(counts) < _MIN_DISTINCT_CHARS:
        return f"only {len(counts)} different characters"
    n = len(secret)
    bits = -n * sum(c / n * math.log2(c / n) for c in counts.values())
    return f"about {bits:.0f} bits of entropy" if bits < _MIN_SECRET_BITS else None


def _patterned(secret: str) -> str | None:
    n = len(secret)
    for period in range(1, n // 2 + 1):
        if secret[period:] == secret[:-period]:
            return f"repeats a pattern of {period} characters"
    steps = sum(1 for a, b in itertools.pairwise(secret) if abs(ord(a) - ord(b)) <= 1)
    if steps * 2 >= n - 1:
        return "mostly runs of neighbouring characters (like 'abcd' or 'aaaa')"
    return None


def secret_problem(secret: str) -> str | None:
    """Why `secret` is too easy to guess for a signing key, or None when it is fit.

    Length alone passes 'changemechangeme…' and 'aaaa…'; the rule also asks for many different
    characters spread evenly (Shannon entropy of the character frequencies, times the length),
    no periodic repetition, no long ascending/descending run, and no placeholder word.
    """
    for check in (_too_short, _placeholder, _low_entropy, _patterned):
        problem = check(secret)
        if problem is not None:
            return problem
    return None


def check_secret(secret: str, where: str) -> None:
    """Raise ConfigError naming `where` (the field, and its file) when `secret` is too weak."""
    problem = secret_problem(secret)
    if problem is not None:
        raise ConfigError(f"{where}: too easy to guess ({problem}); a secret needs {SECRET_RULE}")


_DEFAULT_CLIENT_ID = "mehr-hub"


class MqttProtocol(StrEnum):
    """MQTT protocol version: v5 against Mosquitto, 3.1.1 against the embedded demo broker."""

    V5 = "5"
    V311 = "3.1.1"


class HubSettings(DatabaseSection, AlertsLinkSection):
    """Everything the hub process needs to run (db_path and the alerts file and link key come
    from the sections it shares with the web app)."""

    mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883",
        title="Broker URL",
        description="mqtt://host:port (plain, loopback or lab only) or mqtts://host:port (TLS).",
    )
    mqtt_fallback_urls: list[str] = Field(
        default_factory=list,
        description="Other nodes of the same broker cluster (docs/scale.md), same scheme as "
        "mqtt_url; when the current node fails the hub goes to the next, in turn.",
    )
    mqtt_username: str | None = Field(default=None, description="The hub's broker user.")
    mqtt_password_file: Path | None = Field(
        default=None, description="File holding the hub's broker password (not the password)."
    )
    mqtt_password: str | None = Field(
        default=None,
        description="The password itself; only for the demo and tests (prefer the file).",
        repr=False,
    )
    mqtt_protocol: MqttProtocol = Field(default=MqttProtocol.V5)
    mqtt_client_id: str = Field(
        default=_DEFAULT_CLIENT_ID,
        description="Fixed, so the broker keeps the hub's persistent session across restarts.",
    )
    mqtt_ca_file: Path | None = Field(default=None, description="CA bundle for mqtts://.")
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long the broker keeps the hub's session (and queues messages) while "
        "the hub is away.",
    )
    connect_wait_s: float = Field(
        default=10.0,
        ge=0,
        description="How long start-up waits for the broker's first answer before going on "
        "(retrying in the background) — a refusal of the credentials stops the hub.",
    )
    shared_group: str | None = Field(
        default=None,
        description="MQTT v5 shared-subscription group. Leave unset with several hubs "
        "(hub_id, docs/scale.md): each must receive everything, and a stopped member's share "
        "would wait in its session.",
    )
    db_synchronous: str = Field(
        default="FULL",
        pattern="^(FULL|NORMAL)$",
        description="FULL: a stored event survives power loss, not only a crash.",
    )
    wal_restart_above_mb: int = Field(
        default=1024,
        ge=1,
        description="SQLite: start the write-ahead log over once its file is larger than this "
        "(MiB). Under steady ingest it otherwise grows without end; each restart holds routine "
        "ingest (not help presses) for a moment (hub/wal_bound.py).",
    )
    registry_file: Path | None = Field(
        default=None, description="YAML of homes, kits and sensors loaded into the store at start."
    )
    batch_max: int = Field(default=500, ge=1, le=10000, description="Events per transaction.")
    batch_linger_s: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="How long routine ingest waits for more messages to share a transaction "
        "(and its fsync) once one has arrived. Help, I'm OK and fall messages never wait.",
    )
    receive_maximum: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Unacknowledged messages the broker may have in flight to the hub.",
    )
    mqtt_urgent_username: str | None = Field(
        default=None,
        min_length=1,
        description="Broker user of the hub's urgent lane: a second connection that takes only "
        "help, I'm OK, fall and accelerometer messages, so a press never queues at the broker "
        "behind routine traffic the hub has not yet stored. Same password as mqtt_username; "
        "give it the hub's ACL (docs/deploy.md). Recommended: <mqtt_username>-urgent, which "
        "`mehr hub broker-users` creates. Unset: no lane (one broker user, as before).",
    )
    urgent_lane_reads_events: bool = Field(
        default=True,
        description="With the urgent lane: read the events topic too, for help, I'm OK and fall "
        "events that kits send there (firmware from before the urgent topic, MQTT 3.1.1 kits, "
        "kits whose ACL lacks it: docs/protocol.md). The broker then sends the lane a copy of "
        "every event (at 100,000 homes ~3,300 messages a second more through it and the hub). "
        "Turn off once every kit sends them on urgent: /stats urgent_on_events stops growing. "
        "The shipped hub.yaml (new installs) sets false.",
    )
    inbox_max: int = Field(
        default=20_000,
        ge=10,
        le=10_000_000,
        description="With the urgent lane (mqtt_urgent_username): routine messages held in "
        "memory waiting to be stored; when full, the hub stops reading the main connection "
        "(the broker keeps the rest queued) until ingest catches up. Mosquitto 2.0.11 sends past "
        "receive_maximum (docs/benchmarks.md). Without the lane the inbox is not bounded, so "
        "help presses on the main connection keep being read. A stall longer than 1.5x the "
        "30 s keepalive makes the broker drop the connection: its unacknowledged messages come "
        "again, and are stored once.",
    )
    urgent_inbox_max: int = Field(
        default=5_000,
        ge=16,
        le=1_000_000,
        description="Urgent messages (help, I'm OK, falls, accelerometer windows) held in memory "
        "for their own writer at most. A flood of them (a faulty or hostile kit) beyond this is "
        "stored at the routine pace instead: the main connection puts its copy in the routine "
        "inbox, the urgent lane lets its copy go. Nothing is lost; memory stays bounded.",
    )
    urgent_per_kit_burst: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="Urgent messages of one kind (help/OK/fall, accelerometer windows) one kit "
        "may send at once on the fast path (refilled at urgent_per_kit_per_s). Past it, they "
        "are stored at the routine pace, so one faulty or hostile kit cannot make other homes' "
        "presses wait. A fall and a few presses are well under ten. 10,000 turns it off in "
        "effect.",
    )
    urgent_per_kit_per_s: float = Field(
        default=0.5,
        gt=0,
        le=1_000,
        description="How fast a kit's urgent allowance (urgent_per_kit_burst) refills, per "
        "second.",
    )
    scan_interval_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often every home is checked against its routine (unusual silence, "
        "not up, long bathroom visit, not back, night door).",
    )
    scan_process: bool = Field(
        default=True,
        description="Run the routine and cold-home scans in a process of their own (the second "
        "core; re-learning routines never competes with ingest for Python's lock). False: a "
        "thread of the hub. A hub on an injected test clock always uses the thread.",
    )
    heartbeat_store_every_s: float = Field(
        default=120.0,  # a 60 s kit's last written heartbeat is at most 2 minutes old
        ge=0,
        le=120,
        description="A kit's heartbeat that says nothing new (same outbox, nothing dropped, "
        "the same sensors unreachable, its clock where it was) is written at most this often; "
        "one that does is written at once. Kits beat every 60 s: at 100,000 homes writing "
        "each one was a third of the writer's updates. At most 120 s: a live kit's last "
        "heartbeat written is then at most 2 minutes old, 3 with a beat lost, inside the "
        "dashboards' 5 minutes (stale_heartbeat_s). Every beat of a home in test mode is "
        "written (the walk test). 0: write every heartbeat.",
    )
    sensor_state_write_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="SQLite only: the routine writer keeps each sensor's newest state in memory "
        "and writes the table sensor_state in key order over this many seconds, a slice per "
        "commit, instead of one upsert per event (at 100,000 homes far fewer of its pages reach "
        "the disk: publish-to-stored p99 149 ms instead of 257 ms at the peak). Pages that read "
        "it (a kit's sensors, last movement) are then up to twice this late; events themselves "
        "are stored and acknowledged as before, and a state not written at an unclean stop is "
        "written from the events at the next start. 0: one upsert per event.",
    )
    database_flush_io_idle: bool = Field(
        default=True,
        description="SQLite only: the checkpoint thread's flush of hub.db after each copy of the "
        "WAL runs in the idle I/O class (Linux with the mq-deadline or BFQ scheduler; "
        "hub/io_priority.py), so the writers' page reads and commits reach the disk first. The "
        "copies themselves and the flushes before a WAL restart keep the usual class. false: "
        "the usual class throughout.",
    )
    scan_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How much lower than the hub's the scan process's CPU priority is (nice). "
        "Re-learning routines is work that can wait minutes; storing what kits send and "
        "reaching workers cannot. On a machine whose cores are all busy (100,000 homes on two) "
        "a re-learn pass at the hub's own priority took 0.5 of a core from the writer, and "
        "events waited 4-7 s to be stored while it ran. 0: the same priority as the hub. "
        "Only for the scan's own process (scan_process: true).",
    )
    link_process: bool = Field(
        default=False,
        description="Run the broker connections (the main one and the urgent lane) in a "
        "process of their own: receiving a message costs paho ~100 µs of Python, half a core "
        "at 5,000 msg/s, which then no longer competes with the writers and the alert engine "
        "for Python's lock (bench/ingest.py: 13,465 vs 9,314 events/s). Messages are still "
        "acknowledged only once stored. The shipped hub.yaml sets it.",
    )
    warm_page_readers: int = Field(
        default=8,
        ge=0,
        le=64,
        description="At start, read the database pages each kit's and home's next writes "
        "need from this many connections at once, beside ingest (SQLite; 0: off). After a "
        "reboot the page cache holds none of them, and the one writer otherwise reads them one "
        "at a time while every kit reconnects at once (hub/persistence/page_warming.py).",
    )
    scan_memory: bool = Field(
        default=True,
        description="Save the routine scan's memory (per home: what its last look planned, "
        "what arrived since) after each pass, and go on from it after a restart of up to an "
        "hour instead of reading every home's last 36 hours again (at 100,000 homes that "
        "first pass took 12 minutes and slowed ingest). Ignored when the saved memory is older "
        "than an hour, from other code or settings, or has seen events the database lacks.",
    )
    scan_memory_file: Path | None = Field(
        default=None,
        description="Where the scan's memory is saved. Default: next to db_path "
        "(<db_path>.scan-memory[-<hub_id>].npz). With database_url (PostgreSQL) set it to a "
        "file on the hub's own disk, one per hub; unset, the memory is not saved.",
    )
    events_keep_days: float = Field(
        default=35.0,
        ge=30.0,
        le=3650.0,
        description="Raw events older than this are folded into hourly counts per home, sensor "
        "and kind, then deleted, by the scan process in small transactions. At least 30: the "
        "routine learns from the last 28 days.",
    )
    event_hours_keep_days: float = Field(
        default=400.0,
        gt=0,
        le=36500.0,
        description="Hourly counts older than this are deleted.",
    )
    max_clock_ahead_s: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="An event, accelerometer window or heartbeat whose kit time is more than "
        "this ahead of the hub's clock is rejected (clock_ahead): stored, it would look like "
        "the newest activity and hide a silence.",
    )
    max_event_age_s: float = Field(
        default=30 * 86400.0,
        gt=0,
        description="Older than this by the hub's clock is rejected (too_old): no kit outbox "
        "holds an event that long, so its clock was wrong.",
    )
    ingest_stall_s: float = Field(
        default=120.0,
        gt=0,
        description="/healthz answers 503 when a received message has waited longer than this "
        "unacknowledged (ingest stalled).",
    )
    store_error_limit: int = Field(
        default=5,
        ge=1,
        description="/healthz answers 503 after this many failed store attempts in a row.",
    )
    reject_log_first: int = Field(
        default=10,
        ge=0,
        description="Rejected messages logged one by one per reason; later ones are summarised.",
    )
    reject_log_every_s: float = Field(
        default=60.0,
        gt=0,
        description="At most one summary line of further rejects per this many seconds.",
    )
    stats_host: str = Field(default="127.0.0.1")
    stats_port: int = Field(default=8787, ge=0, le=65535, description="0 picks a free port.")
    public_base_url: str = Field(
        default=DEFAULT_PUBLIC_URL,
        description="Where people reach the web app; acknowledge links start with it (the "
        "default is where `mehr web` listens by default).",
    )
    demo_mode: bool = Field(
        default=False, description="Demo only: allows a built-in signing key for links."
    )
    home_assistant_file: Path | None = Field(
        default=None,
        description="YAML of the homes whose families opted in to Home Assistant discovery "
        "(docs/home-assistant.md); unset: nothing is published for Home Assistant.",
    )
    influx_url: str | None = Field(
        default=None,
        description="InfluxDB v2 URL (e.g. http://127.0.0.1:8086) to copy events, heartbeats "
        "and detector scores to; None (the default) writes nothing.",
    )
    influx_org: str = Field(default="mehr", description="InfluxDB organisation.")
    influx_bucket: str = Field(default="mehr", description="InfluxDB bucket.")
    influx_token_file: Path | None = Field(
        default=None, description="File holding the InfluxDB API token (not the token)."
    )
    hub_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Set on every hub when several share one database (docs/scale.md, "
        "'Several hubs'): each stores every event, and does the scans and alert work of the "
        "homes whose partition it leases. Unset (the default): the only hub, doing all the "
        "work without leases. With a hub_id and the default mqtt_client_id the client id "
        "becomes mehr-hub-<hub_id>, so each hub keeps a persistent session of its own; on "
        "Mosquitto (client id = username) give each hub its own broker user of that name.",
    )
    lease_partitions: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="Partitions the homes are split into (every hub of a database must use "
        "the same number).",
    )
    lease_ttl_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="A lease not renewed for this long expires; a live hub then takes it: a "
        "dead hub's homes are taken over within lease_ttl_s + lease_renew_s.",
    )
    lease_renew_s: float = Field(
        default=5.0, gt=0, le=100, description="How often a hub renews and balances its leases."
    )

    @model_validator(mode="before")
    @classmethod
    def _client_id_of_hub(cls, data: Any) -> Any:
        # Two hubs with one client id would knock each other off the broker in turn.
        if isinstance(data, dict) and data.get("hub_id") and not data.get("mqtt_client_id"):
            data = {**data, "mqtt_client_id": f"{_DEFAULT_CLIENT_ID}-{data['hub_id']}"}
        return data

    @model_validator(mode="after")
    def _lease_timings(self) -> HubSettings:
        if self.lease_renew_s >= self.lease_ttl_s:
            raise ValueError("lease_renew_s must be shorter than lease_ttl_s")
        return self

    @model_validator(mode="after")
    def _urgent_lane_identity(self) -> HubSettings:
        # One session per client id: the lane under the hub's own name would knock the hub off.
        lane = self.mqtt_urgent_username
        if lane is not None and lane in (self.mqtt_username, self.mqtt_client_id):
            raise ValueError(
                "mqtt_urgent_username: expected a broker user of its own, not the hub's "
                f"user or client id ({lane!r})"
            )
        if lane is not None and self.hub_id is not None and self.hub_id not in lane:
            # Two hubs' lanes under one name would take the session from each other in turn.
            raise ValueError(
                f"mqtt_urgent_username: expected this hub's own user, named with its hub_id "
                f"(e.g. {self.mqtt_username or self.mqtt_client_id}-urgent), not {lane!r}"
            )
        return self

    def lease_settings(self) -> LeaseSettings:
        """The lease timings of this hub (hub/coordination.py)."""
        return LeaseSettings(
            partitions=self.lease_partitions,
            ttl_s=self.lease_ttl_s,
            renew_s=self.lease_renew_s,
            margin_s=min(1.0, (self.lease_ttl_s - self.lease_renew_s) / 2),
        )

    @field_validator("mqtt_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        _check_broker_url(value)
        return value

    @field_validator("mqtt_fallback_urls")
    @classmethod
    def _check_fallback_urls(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_broker_url(value)
        return values

    @model_validator(mode="after")
    def _one_transport(self) -> HubSettings:
        # One TLS set-up serves every node, so a cluster is all mqtts:// or all mqtt://.
        schemes = {urlsplit(url).scheme for url in (self.mqtt_url, *self.mqtt_fallback_urls)}
        if len(schemes) > 1:
            raise ValueError(
                "mqtt_fallback_urls: expected the same scheme as mqtt_url "
                f"({urlsplit(self.mqtt_url).scheme}://) for every node"
            )
        return self

    def scan_memory_path(self) -> Path | None:
        """Where the routine scan saves its memory (None: not saved)."""
        if not self.scan_memory:
            return None
        if self.scan_memory_file is not None:
            return self.scan_memory_file
        if not self.uses_sqlite():
            return None  # no local directory of the hub's own is known
        suffix = f".scan-memory-{self.hub_id}.npz" if self.hub_id else ".scan-memory.npz"
        return self.db_path.with_name(self.db_path.name + suffix)

    def broker_address(self) -> tuple[str, int, bool]:
        """Return host, port and whether TLS is used (of the first node, mqtt_url)."""
        return _address(self.mqtt_url)

    def broker_nodes(self) -> list[tuple[str, int]]:
        """Host and port of every node the hub may use, mqtt_url first."""
        return [_address(url)[:2] for url in (self.mqtt_url, *self.mqtt_fallback_urls)]

    def alerts_secret_bytes(self) -> bytes:
        """The key for acknowledge links; refuses a missing or guessable key outside the demo."""
        from hub.alerts.tokens import signing_key

        key = signing_key(self.alerts_secret, self.alerts_secret_file, self.demo_mode)
        if not self.demo_mode:
            check_secret(key.decode(), _secret_source("alerts_secret", self.alerts_secret_file))
        return key

    def influx_token(self) -> str:
        """The InfluxDB token, from its file ('' when none is configured)."""
        if self.influx_token_file is None:
            return ""
        try:
            return self.influx_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"influx_token_file: cannot read {self.influx_token_file}: {exc.strerror}"
            ) from None

    def broker_password(self) -> str | None:
        """The hub's broker password, from the file when one is configured."""
        if self.mqtt_password_file is not None:
            try:
                return self.mqtt_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"mqtt_password_file: cannot read {self.mqtt_password_file}: {exc.strerror}"
                ) from None
        return self.mqtt_password


def _check_broker_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
        raise ValueError("expected mqtt://host:port or mqtts://host:port")


def _address(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls


# Every field is MEHR_<FIELD> (mehr.configfile); these are older names that keep working.
_ENV_ALIASES = {"MEHR_DB": "db_path"}


def _secret_source(field: str, secret_file: Path | None) -> str:
    """How an error names a secret: the *_file field and its path, or the inline field."""
    return f"{field}_file ({secret_file})" if secret_file is not None else field


def refuse_demo_switch(source: str, field: str, value: bool) -> None:
    """Refuse a demo switch that came from a file or the environment (only `mehr demo` sets it).

    Demo mode accepts built-in keys and passwords; a copied demo config must not carry that into
    production.
    """
    if value:
        raise ConfigError(
            f"{source}: {field}: demo mode is switched on only by `mehr demo`, never by a "
            "settings file or the environment; remove this line"
        )


def load_settings(path: Path | None, **overrides: Any) -> HubSettings:
    """Load settings from `path` (if given), then MEHR_* variables, then keyword overrides.

    This is how production starts the hub, so the demo switch is refused here and a configured
    alerts signing key is checked now (naming the file), not at the first alert.
    """
    settings, source = load_settings_model(
        path, HubSettings, _ENV_ALIASES, overrides, "settings"
    )
    refuse_demo_switch(source, "demo_mode", settings.demo_mode)
    if settings.alerts_config is not None:
        try:
            settings.alerts_secret_bytes()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return settings
