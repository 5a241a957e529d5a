"""The residents registry in the database (`web_residents`), and what the exports read.

Upserts are keyed on the person id, so importing the same file twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, bindparam, text

from hub.persistence.read_models import ResidentRecord, resident_from
from hub.persistence.visits import RequestRecord, requests_of

__all__ = [
    "AlertExportRecord",
    "ResidentValues",
    "alert_rows_for_export",
    "all_home_ids",
    "home_exists",
    "request_rows_for_export",
    "resident_values",
    "residents_for_export",
    "upsert_resident",
]


@dataclass(frozen=True, slots=True)
class ResidentValues:
    """What the registry says about one person (lists as the JSON text stored)."""

    home_id: str | None
    full_name: str
    birth_date: str | None
    address: str
    mahalla: str
    languages_json: str
    contacts_json: str


def home_exists(conn: Connection, home_id: str) -> bool:
    """True when the hub knows the home."""
    return (
        conn.execute(text("SELECT 1 FROM homes WHERE id = :id"), {"id": home_id}).first()
        is not None
    )


def resident_values(conn: Connection, person_id: str) -> ResidentValues | None:
    """What is stored for the person now, or None."""
    row = conn.execute(
        text(
            "SELECT home_id, full_name, birth_date, address, mahalla, languages, contacts "
            "FROM web_residents WHERE person_id = :pid"
        ),
        {"pid": person_id},
    ).first()
    return None if row is None else ResidentValues(*row)


def upsert_resident(
    conn: Connection, person_id: str, values: ResidentValues, now: datetime
) -> None:
    """Insert the person or replace what is stored about them."""
    conn.execute(
        text(
            "INSERT INTO web_residents(person_id, home_id, full_name, birth_date, address, "
            "mahalla, languages, contacts, updated_at) VALUES (:pid, :home_id, :full_name, "
            ":birth_date, :address, :mahalla, :languages, :contacts, :now) "
            "ON CONFLICT(person_id) DO UPDATE SET home_id = excluded.home_id, "
            "full_name = excluded.full_name, birth_date = excluded.birth_date, "
            "address = excluded.address, mahalla = excluded.mahalla, "
            "languages = excluded.languages, contacts = excluded.contacts, "
            "updated_at = excluded.updated_at"
        ),
        {
            "pid": person_id,
            "home_id": values.home_id,
            "full_name": values.full_name,
            "birth_date": values.birth_date,
            "address": values.address,
            "mahalla": values.mahalla,
            "languages": values.languages_json,
            "contacts": values.contacts_json,
            "now": now.timestamp(),
        },
    )


def all_home_ids(conn: Connection, with_resident_homes: bool = False) -> list[str]:
    """Every home's id (and, when asked, home ids residents name that the hub lacks)."""
    ids = [r[0] for r in conn.execute(text("SELECT id FROM homes"))]
    if with_resident_homes:
        ids += [
            r[0]
            for r in conn.execute(text("SELECT DISTINCT home_id FROM web_residents"))
            if r[0] is not None
        ]
    return ids


def residents_for_export(
    conn: Connection, home_ids: list[str], with_homeless: bool
) -> list[ResidentRecord]:
    """Residents of the homes (and those with no home, when asked), by person id."""
    sql = (
        "SELECT r.*, h.risk_level FROM web_residents r LEFT JOIN homes h ON h.id = r.home_id "
        "WHERE r.home_id IN :ids"
    )
    if with_homeless:
        sql += " OR r.home_id IS NULL"
    stmt = text(sql + " ORDER BY r.person_id").bindparams(bindparam("ids", expanding=True))
    return [resident_from(m) for m in conn.execute(stmt, {"ids": home_ids}).mappings()]


@dataclass(frozen=True, slots=True)
class AlertExportRecord:
    """An alert's lifecycle columns as stored by the alert engine (times in epoch seconds)."""

    id: int
    home_id: str
    mahalla: str | None
    kind: str
    severity: str
    state: str
    progress: str | None
    raised_at: float
    notified_at: float | None
    acknowledged_at: float | None
    acknowledged_by: str | None
    arrived_at: float | None
    resolved_at: float | None
    resolved_by: str | None
    outcome: str | None
    note: str | None


_ALERT_COLUMNS = ", ".join(f.name for f in fields(AlertExportRecord))


def alert_rows_for_export(conn: Connection, home_ids: list[str]) -> list[AlertExportRecord]:
    """The alert engine's lifecycle columns of the homes' alerts, by id."""
    stmt = text(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE home_id IN :ids ORDER BY id")
    stmt = stmt.bindparams(bindparam("ids", expanding=True))
    return [AlertExportRecord(*r) for r in conn.execute(stmt, {"ids": home_ids})]


def request_rows_for_export(conn: Connection, home_ids: list[str]) -> list[RequestRecord]:
    """The homes' visit and call requests, by id."""
    everything = requests_of(conn, home_ids, open_only=False, limit=None)
    return sorted(everything, key=lambda r: r.id)
