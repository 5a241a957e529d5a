"""The kits and homes the alert engine reads, and the kit outages it has reported.

`kit_outages` remembers each outage (kit, since) the availability scanner has turned into an
alert, so an outage is reported once and its end closes the alert. The caller holds the
transaction for writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.persistence.connection import Connection
from hub.persistence.timestamps import from_epoch, from_epoch_or_none, to_epoch

__all__ = [
    "HomeLabel",
    "KitAvailability",
    "Outage",
    "alert_has_open_outage",
    "end_outage",
    "home_exists",
    "home_has_offline_kit",
    "home_label",
    "home_of_kit",
    "kit_ids_of_home",
    "offline_kits",
    "open_outages",
    "record_outage",
    "reported_outages",
]


@dataclass(frozen=True, slots=True)
class KitAvailability:
    """A kit's last reported availability, with its home and mahalla."""

    kit_id: str
    home_id: str
    mahalla: str
    availability: str | None
    availability_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outage:
    """An outage the scanner reported (ended_at None: still open)."""

    kit_id: str
    since: datetime
    home_id: str
    mahalla: str
    alert_id: int | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class HomeLabel:
    """How messages name a home and read its clock."""

    name: str
    timezone: str


def offline_kits(conn: Connection) -> list[KitAvailability]:
    """The registered kits that last said they are offline (with the time they said it).

    Filtered in SQL: the alert engine asks every pass, and building a record of every one of
    100,000 kits in Python held the engine (and, through the GIL, ingest) for a large part of
    each pass while help notifications waited behind it (py-spy, docs/benchmarks.md)."""
    rows = conn.execute(
        "SELECT k.id, k.home_id, k.availability, k.availability_at, h.mahalla "
        "FROM kits k JOIN homes h ON h.id = k.home_id "
        "WHERE k.availability = 'offline' AND k.availability_at IS NOT NULL"
    )
    return [
        KitAvailability(
            kit_id=r["id"],
            home_id=r["home_id"],
            mahalla=r["mahalla"] or "",
            availability=r["availability"],
            availability_at=from_epoch_or_none(r["availability_at"]),
        )
        for r in rows
    ]


def home_has_offline_kit(conn: Connection, home_id: str) -> bool:
    """True if any kit of the home last said it is offline."""
    row = conn.execute(
        "SELECT 1 FROM kits WHERE home_id = :home AND availability = 'offline' LIMIT 1",
        {"home": home_id},
    ).fetchone()
    return row is not None


def kit_ids_of_home(conn: Connection, home_id: str) -> list[str]:
    """The ids of a home's kits."""
    rows = conn.execute("SELECT id FROM kits WHERE home_id = :home", {"home": home_id})
    return [str(r[0]) for r in rows]


def home_label(conn: Connection, home_id: str) -> HomeLabel | None:
    """A registered home's name and time zone, or None."""
    row = conn.execute(
        "SELECT name, timezone FROM homes WHERE id = :home", {"home": home_id}
    ).fetchone()
    return None if row is None else HomeLabel(row["name"], row["timezone"])


def open_outages(conn: Connection) -> list[Outage]:
    """Reported outages that have not ended."""
    rows = conn.execute("SELECT * FROM kit_outages WHERE ended_at IS NULL")
    return [
        Outage(
            kit_id=r["kit_id"],
            since=from_epoch(r["since"]),
            home_id=r["home_id"],
            mahalla=r["mahalla"],
            alert_id=r["alert_id"],
            ended_at=from_epoch_or_none(r["ended_at"]),
        )
        for r in rows
    ]


def reported_outages(conn: Connection) -> set[tuple[str, datetime]]:
    """(kit, since) of every outage ever reported."""
    rows = conn.execute("SELECT kit_id, since FROM kit_outages")
    return {(r["kit_id"], from_epoch(r["since"])) for r in rows}


def end_outage(conn: Connection, kit_id: str, since: datetime, at: datetime) -> None:
    """The kit is back (or went offline anew): this outage ended at `at`."""
    conn.execute(
        "UPDATE kit_outages SET ended_at = :at WHERE kit_id = :kit AND since = :since",
        {"at": to_epoch(at), "kit": kit_id, "since": to_epoch(since)},
    )


def alert_has_open_outage(conn: Connection, alert_id: int) -> bool:
    """True while any outage of this alert is still open."""
    row = conn.execute(
        "SELECT 1 FROM kit_outages WHERE alert_id = :alert AND ended_at IS NULL LIMIT 1",
        {"alert": alert_id},
    ).fetchone()
    return row is not None


def record_outage(
    conn: Connection,
    *,
    kit_id: str,
    since: datetime,
    home_id: str,
    mahalla: str,
    alert_id: int,
) -> None:
    """Remember that this outage was reported as `alert_id` (once: a repeat is a no-op)."""
    conn.execute(
        "INSERT INTO kit_outages(kit_id, since, home_id, mahalla, alert_id) "
        "VALUES (:kit, :since, :home, :mahalla, :alert) ON CONFLICT DO NOTHING",
        {
            "kit": kit_id,
            "since": to_epoch(since),
            "home": home_id,
            "mahalla": mahalla,
            "alert": alert_id,
        },
    )


def home_of_kit(conn: Connection, kit_id: str) -> str | None:
    """The home a kit is registered to, or None."""
    row = conn.execute("SELECT home_id FROM kits WHERE id = :kit", {"kit": kit_id}).fetchone()
    return None if row is None else str(row[0])


def home_exists(conn: Connection, home_id: str) -> bool:
    """True if the home is registered."""
    row = conn.execute("SELECT 1 FROM homes WHERE id = :home", {"home": home_id}).fetchone()
    return row is not None
