"""Fixtures for the alert engine: a real SQLite database, homes, an engine on a manual clock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.alerts.channels import RecordingChannel
from hub.alerts.config import AlertsConfig
from hub.alerts.engine import AlertEngine, open_alerts_db
from hub.alerts.tokens import TokenSigner
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewAlert
from mehr.clock import ManualClock
from mehr.contract import SensorKind

# Monday 23 Nov 2026, 10:00 in Tashkent (UTC+5): the day shift is on.
T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
SECRET = b"test-secret-of-at-least-thirty-two-bytes!"


def person(pid: str, *urls: str, languages: list[str] | None = None) -> dict[str, Any]:
    """A person entry for the config."""
    return {
        "id": pid,
        "name": pid.title(),
        "languages": languages or ["uz"],
        "methods": [{"url": u} for u in (urls or (f"mailto://{pid}@test",))],
    }


def config_dict() -> dict[str, Any]:
    """A small district: Navbahor with day/night workers, one duty officer, a supervisor."""
    return {
        "district": {
            "name": "Test district",
            "supervisor": "sup",
            "duty_officers": [{"person": "duty", "start": "00:00", "end": "00:00"}],
        },
        "mahallas": [
            {
                "name": "Navbahor",
                "rota": [
                    {"person": "sw-day", "start": "08:00", "end": "20:00"},
                    {"person": "sw-night", "start": "20:00", "end": "08:00"},
                ],
            }
        ],
        "people": [
            person("sw-day"),
            person("sw-night"),
            person("duty"),
            person("sup"),
            person("fam-first", languages=["ru"]),
            person("fam-with"),
            person("fam-info", languages=["en"]),
        ],
        "homes": [
            {
                "home": "home-1",
                "resident": "Mavluda opa",
                "address": "Navbahor 12",
                "ask_first": True,
                "family": [
                    {"person": "fam-first", "preference": "first"},
                    {"person": "fam-with", "preference": "with_worker"},
                    {"person": "fam-info", "preference": "informed"},
                ],
            }
        ],
        "policies": {
            "critical": {
                "steps": [
                    {
                        "after_s": 0,
                        "notify": [
                            "family_first", "on_call", "family_with_worker", "family_informed",
                        ],
                    },
                    {"after_s": 180, "notify": ["duty_officer"]},
                    {"after_s": 600, "notify": ["supervisor"]},
                ],
                "renotify_every_s": 300,
                "ack_timeout_s": 1800,
            },
            "high": {
                "steps": [
                    {"after_s": 0, "notify": ["family_first"]},
                    {"after_s": 300, "notify": ["on_call"]},
                ],
            },
            "medium": {"steps": [{"after_s": 0, "notify": ["on_call"]}]},
            "low": {"steps": [{"after_s": 0, "notify": ["family_informed"]}]},
        },
        "grouping": {"offline_grace_s": 600, "area_outage_min_kits": 3, "scan_every_s": 5},
        "delivery": {"attempts_per_method": 2, "backoff_s": [5]},
    }


def home(home_id: str, kit_id: str, mahalla: str = "Navbahor") -> HomeSpec:
    """A registered home with one kit."""
    return HomeSpec(
        id=home_id,
        name=f"Home {home_id}",
        mahalla=mahalla,
        kits=[
            KitSpec(
                id=kit_id,
                sensors=[SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Bedroom")],
            )
        ],
    )


@dataclass
class Rig:
    """An engine over a real database file, its clock, channel and captured commands."""

    db_path: Path
    clock: ManualClock
    config: AlertsConfig
    channel: RecordingChannel
    conn: sqlite3.Connection
    engine: AlertEngine
    commands: list[tuple[str, bytes]] = field(default_factory=list)

    def raise_alert(self, home_id: str, kind: str, severity: str = "critical") -> int:
        """Raise through the core store, as ingest and the detectors do."""
        store = SqliteStore(self.db_path)
        try:
            record, _ = store.raise_alert(
                NewAlert(home_id, kind, severity, self.clock.now(), None, {"room": "Bedroom"})
            )
            store.commit()
        finally:
            store.close()
        return record.id

    def set_availability(self, kit_id: str, state: str) -> None:
        """Record a kit's availability as ingest would."""
        store = SqliteStore(self.db_path)
        try:
            store.set_availability(kit_id, state, self.clock.now())
            store.commit()
        finally:
            store.close()

    def at(self, seconds: float) -> None:
        """Move the clock to T0 + seconds and run the due work."""
        self.clock.set(T0.fromtimestamp(T0.timestamp() + seconds, UTC))
        self.engine.run_due()

    def sent_to(self) -> list[str]:
        """Who got a message, in order (the person id is the mailbox name)."""
        return [url.split("//", 1)[1].split("@", 1)[0] for url, _, _ in self.channel.sent]

    def restart(self) -> None:
        """Drop the engine and its connection and start a new one on the same database."""
        self.conn.close()
        self.conn = open_alerts_db(self.db_path)
        self.engine = AlertEngine(
            self.conn, self.config, self.clock, self.channel, TokenSigner(SECRET),
            "https://mehr.test", publish=lambda t, p: self.commands.append((t, p)),
        )


def make_rig(
    tmp_path: Path, cfg: dict[str, Any] | None = None, homes: list[HomeSpec] | None = None
) -> Rig:
    """Build a rig with homes registered."""
    db_path = tmp_path / "hub.db"
    clock = ManualClock(T0)
    store = SqliteStore(db_path)
    for spec in homes or [home("home-1", "kit-1"), home("home-2", "kit-2")]:
        store.register_home(spec, T0)
    store.close()
    config = AlertsConfig.model_validate(cfg or config_dict())
    conn = open_alerts_db(db_path)
    channel = RecordingChannel()
    commands: list[tuple[str, bytes]] = []
    engine = AlertEngine(
        conn, config, clock, channel, TokenSigner(SECRET), "https://mehr.test",
        publish=lambda t, p: commands.append((t, p)),
    )
    return Rig(db_path, clock, config, channel, conn, engine, commands)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The default rig: home-1 and home-2 in Navbahor."""
    r = make_rig(tmp_path)
    yield r
    r.conn.close()
