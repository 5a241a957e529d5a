"""Registry import and export: residents from a district's CSV/JSON, validated row by row.

Import is idempotent on the person id (a second run of the same file changes nothing); rejected
rows come back with their row number and the reason. Alerts and visits export the same way.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection

from dashboards.db import Database
from hub.persistence import web_registry as stored
from hub.persistence.read_models import home_risk
from hub.persistence.web_registry import ResidentValues
from hub.registry import HomeSpec
from mehr.vocabulary import LanguageCode

__all__ = [
    "EXPORTS",
    "Contact",
    "ImportReport",
    "ResidentRow",
    "export_rows",
    "import_registry",
    "neutralise_cell",
    "parse_file",
    "to_csv",
]

EXPORTS = ("residents", "alerts", "visits")
_CSV_FIELDS = (
    "person_id",
    "full_name",
    "birth_date",
    "address",
    "mahalla",
    "risk_level",
    "home_id",
    "languages",
    "contacts",
)


Lang = LanguageCode
RiskLevel = Literal["low", "medium", "high"]

# How registries write care-plan risk (codes, Uzbek, Russian, English) onto the hub's three
# levels in `homes.risk_level`, which set how quickly the routine rules alert.
RISK_ALIASES: dict[str, RiskLevel] = {
    "low": "low",
    "1": "low",
    "past": "low",
    "низкий": "low",
    "medium": "medium",
    "2": "medium",
    "o'rta": "medium",
    "o‘rta": "medium",
    "orta": "medium",
    "средний": "medium",
    "high": "high",
    "3": "high",
    "yuqori": "high",
    "высокий": "high",
}


def _default_langs() -> list[Lang]:
    return ["uz"]


class Contact(BaseModel):
    """A family contact of a resident."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(default="", max_length=100)
    phone: str = Field(default="", pattern=r"^(\+?[0-9 ()-]{5,20})?$")
    language: Literal["uz", "ru", "en"] = "uz"
    preference: Literal["first", "together", "informed"] = Field(
        default="together", description="Called before, with, or only informed after the worker."
    )


class ResidentRow(BaseModel):
    """One resident as a social-protection registry exports them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    birth_date: date | None = None
    address: str = Field(default="", max_length=300, description="Address or landmark.")
    mahalla: str = Field(default="", max_length=200)
    risk_level: RiskLevel = Field(
        default="medium",
        description="Care-plan risk; also 1/2/3, past/o'rta/yuqori, низкий/средний/высокий.",
    )
    home_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    languages: list[Lang] = Field(default_factory=_default_langs)
    contacts: list[Contact] = Field(default_factory=list)

    @field_validator("risk_level", mode="before")
    @classmethod
    def _risk(cls, value: object) -> object:
        if isinstance(value, str | int) and str(value).strip().lower() in RISK_ALIASES:
            return RISK_ALIASES[str(value).strip().lower()]
        return value

    @field_validator("birth_date")
    @classmethod
    def _plausible(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("date of birth out of range")
        return value


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    homes_created: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "homes_created": self.homes_created,
            "rejected": self.rejected,
        }


# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): exports put a "'" in front,
# which spreadsheets show as text, and imports take it off again so a round trip loses nothing.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (text starting =, +, -, @, tab, CR)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _restore_cell(value: str | None) -> str | None:
    """Undo neutralise_cell on import."""
    if value is not None and value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def _csv_record(raw: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row's cells to the model's shapes: languages 'uz;ru', contacts as a JSON list."""
    rec: dict[str, Any] = {
        k: _restore_cell(v) for k, v in raw.items() if v not in (None, "") and k is not None
    }
    if None in raw:
        raise ValueError("more cells than columns")
    if "languages" in rec:
        rec["languages"] = [p.strip() for p in str(rec["languages"]).split(";") if p.strip()]
    if "contacts" in rec:
        try:
            rec["contacts"] = json.loads(str(rec["contacts"]))
        except ValueError:
            raise ValueError("contacts: expected a JSON list of contacts") from None
    return rec


def parse_file(name: str, data: bytes) -> list[dict[str, Any] | Exception]:
    """Read a CSV or JSON registry file into raw records (an Exception for an unreadable row)."""
    text = data.decode("utf-8-sig")
    if name.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
        try:
            body = json.loads(text)
        except RecursionError:
            raise ValueError("JSON: nested too deeply") from None
        if isinstance(body, dict):
            body = body.get("residents", [])
        if not isinstance(body, list):
            raise ValueError("JSON: expected a list of residents")
        return [r if isinstance(r, dict) else ValueError("not an object") for r in body]
    out: list[dict[str, Any] | Exception] = []
    try:
        for raw in csv.DictReader(io.StringIO(text, newline="")):
            try:
                out.append(_csv_record(raw))
            except ValueError as exc:
                out.append(exc)
    except csv.Error as exc:
        # Found by bench/fuzz_api.py: a stray CR in an unquoted field was a 500.
        raise ValueError(f"CSV: line {len(out) + 2}: {exc}") from None
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}"
    return str(exc)


def import_registry(
    db: Database, conn: Connection, records: list[dict[str, Any] | Exception], now: datetime
) -> ImportReport:
    """Validate and upsert residents (by person id); create homes named in the rows if missing.

    The care-plan risk level goes to the core home (SqliteStore.set_risk_level), the one place
    the hub reads it from; a row without a home has nowhere to keep it.
    """
    report = ImportReport()
    seen: set[str] = set()
    for number, raw in enumerate(records, start=1):
        try:
            if isinstance(raw, Exception):
                raise raw
            row = ResidentRow.model_validate(raw)
            if row.person_id in seen:
                raise ValueError(f"person_id {row.person_id!r} appears twice in the file")
            seen.add(row.person_id)
        except (ValidationError, ValueError) as exc:
            pid = raw.get("person_id") if isinstance(raw, dict) else None
            report.rejected.append({"row": number, "person_id": pid, "reason": _reason(exc)})
            continue
        if row.home_id and not stored.home_exists(conn, row.home_id):
            store = db.store()
            try:  # the hub's registry interface, not our own SQL, creates homes
                store.register_home(
                    HomeSpec(
                        id=row.home_id,
                        name=row.full_name,
                        mahalla=row.mahalla,
                        risk_level=row.risk_level,
                    ),
                    now,
                )
            finally:
                store.close()
            report.homes_created += 1
        risk_changed = False
        if row.home_id and home_risk(conn, row.home_id) != row.risk_level:
            store = db.store()
            try:
                store.set_risk_level(row.home_id, row.risk_level)
            finally:
                store.close()
            risk_changed = True
        values = ResidentValues(
            home_id=row.home_id,
            full_name=row.full_name,
            birth_date=row.birth_date.isoformat() if row.birth_date else None,
            address=row.address,
            mahalla=row.mahalla,
            languages_json=json.dumps(row.languages),
            contacts_json=json.dumps([c.model_dump() for c in row.contacts], ensure_ascii=False),
        )
        old = stored.resident_values(conn, row.person_id)
        if old is not None and old == values and not risk_changed:
            report.unchanged += 1
            continue
        stored.upsert_resident(conn, row.person_id, values, now)
        if old is None:
            report.created += 1
        else:
            report.updated += 1
    return report


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def export_rows(conn: Connection, what: str, home_ids: list[str] | None) -> list[dict[str, Any]]:
    """Residents, alerts (with who acknowledged, arrival, outcome) or visits (None: all homes)."""
    if what not in EXPORTS:
        raise ValueError(f"export: one of {', '.join(EXPORTS)}")
    everything = home_ids is None
    if home_ids is None:
        home_ids = stored.all_home_ids(conn, with_resident_homes=what == "residents")
    if not home_ids:
        return []
    if what == "residents":
        return [
            {
                "person_id": r.person_id,
                "full_name": r.full_name,
                "birth_date": r.birth_date,
                "address": r.address,
                "mahalla": r.mahalla,
                "risk_level": r.risk_level,
                "home_id": r.home_id,
                "languages": r.languages,
                "contacts": r.contacts,
            }
            for r in stored.residents_for_export(conn, home_ids, with_homeless=everything)
        ]
    if what == "alerts":
        # The alert engine's lifecycle columns (hub/persistence/schema_alerts.py) are the record.
        return [
            {
                "alert_id": a.id,
                "home_id": a.home_id,
                "mahalla": a.mahalla,
                "kind": a.kind,
                "severity": a.severity,
                "state": a.state,
                "progress": a.progress,
                "raised_at": _iso(a.raised_at),
                "notified_at": _iso(a.notified_at),
                "acknowledged_at": _iso(a.acknowledged_at),
                "acknowledged_by": a.acknowledged_by,
                "arrived_at": _iso(a.arrived_at),
                "resolved_at": _iso(a.resolved_at),
                "resolved_by": a.resolved_by,
                "outcome": a.outcome,
                "note": a.note,
            }
            for a in stored.alert_rows_for_export(conn, home_ids)
        ]
    return [
        {
            "request_id": r.id,
            "home_id": r.home_id,
            "kind": r.kind,
            "state": r.state,
            "note": r.note,
            "created_at": r.created_at.isoformat(),
            "updated_at": r.updated_at.isoformat(),
        }
        for r in stored.request_rows_for_export(conn, home_ids)
    ]


def to_csv(rows: list[dict[str, Any]], what: str) -> str:
    """CSV text; residents' lists as the import expects them (languages 'uz;ru', contacts JSON)."""
    buf = io.StringIO()
    if not rows:
        fields: list[str] = list(_CSV_FIELDS) if what == "residents" else []
        if fields:
            csv.writer(buf).writerow(fields)
        return buf.getvalue()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    for r in rows:
        cells = dict(r)
        if what == "residents":
            cells["languages"] = ";".join(r["languages"])
            cells["contacts"] = json.dumps(r["contacts"], ensure_ascii=False)
        writer.writerow({k: neutralise_cell(v) for k, v in cells.items()})
    return buf.getvalue()
