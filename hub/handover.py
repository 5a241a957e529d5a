"""The installer's handover report: printable HTML and PDF of a kit's latest walk test, in the
household's language (uz, ru, en) and the home's local time, with the sensors, their rooms, the
result, who installed and when.

The facts come from the hub's database: the home, the stored walk-test (commissioning) report and
the test-mode period `mehr kit check` opened (its `set_by` is the installer). PDF through fpdf2
with a TTF font from the system (Debian's fonts-dejavu-core), so Cyrillic and Uzbek's oʻ/gʻ
(U+02BB) print; nothing is downloaded. The words are the message catalogue's `handover_*` and
`sensor_*` entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from jinja2 import Environment

from hub.persistence.commissioning import latest_walk_test, test_mode_opener
from hub.persistence.connection import Connection
from hub.persistence.database import open_connection, parse_database_url
from mehr.catalogue import room_name
from mehr.catalogue import text as catalogue_text
from mehr.vocabulary import LanguageCode, sensor_label_key

__all__ = [
    "DEFAULT_FONT",
    "HandoverError",
    "HandoverFacts",
    "Language",
    "handover_facts",
    "render_html",
    "render_pdf",
    "write_handover",
]

Language = LanguageCode  # the name this module's callers import
DEFAULT_FONT: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_DATE_FORMAT: Final = {"uz": "%d.%m.%Y %H:%M", "ru": "%d.%m.%Y %H:%M", "en": "%Y-%m-%d %H:%M"}


class HandoverError(LookupError):
    """No walk test of the kit, or the kit or its home is unknown."""


@dataclass(frozen=True, slots=True)
class SensorLine:
    """One sensor of the report, in local time."""

    sensor: str
    kind: str
    room: str
    first_signal: datetime | None


@dataclass(frozen=True, slots=True)
class HandoverFacts:
    """What the handover report shows (times are aware; rendered in `time_zone`)."""

    home_id: str
    home_name: str
    mahalla: str
    time_zone: str
    kit_id: str
    installer: str | None
    started: datetime
    finished: datetime
    passed: bool
    missing: list[str]
    sensors: list[SensorLine]


def _installer(conn: Connection, kit_id: str, finished: datetime) -> str | None:
    # The test-mode period `mehr kit check` opened for this walk test (or one the installer
    # opened from the phone): the latest one that started before the walk test finished.
    actor = test_mode_opener(conn, kit_id, finished)
    if actor is None:
        return None
    return actor.split(":", 1)[1] if ":" in actor else actor


def handover_facts(
    conn: Connection, kit_id: str, installer: str | None = None
) -> HandoverFacts:
    """The facts of the kit's latest walk test from the hub's database."""
    test = latest_walk_test(conn, kit_id)
    if test is None:
        raise HandoverError(f"no walk test of kit {kit_id!r} at the hub")
    body = test.body
    finished = datetime.fromisoformat(body["finished"])
    sensors = [
        SensorLine(
            s["sensor"], s["kind"], s["room"],
            datetime.fromisoformat(s["first_signal"]) if s["first_signal"] else None,
        )
        for s in body["sensors"]
    ]
    return HandoverFacts(
        home_id=test.home_id,
        home_name=test.home_name or test.home_id,
        mahalla=test.mahalla,
        time_zone=test.timezone,
        kit_id=kit_id,
        installer=installer or _installer(conn, kit_id, finished),
        started=datetime.fromisoformat(body["started"]),
        finished=finished,
        passed=all(s.first_signal is not None for s in sensors),
        missing=[s.sensor for s in sensors if s.first_signal is None],
        sensors=sensors,
    )


def _lines(facts: HandoverFacts, lang: Language) -> dict[str, Any]:
    """Every text of the report in one language, times in the home's zone."""
    zone = ZoneInfo(facts.time_zone)

    def t(key: str, **kw: object) -> str:
        return catalogue_text(key, lang, **kw)

    def when(moment: datetime) -> str:
        return moment.astimezone(zone).strftime(_DATE_FORMAT[lang])

    return {
        "lang": lang,
        "title": t("handover_title"),
        "header": [
            (t("handover_home"), facts.home_name),
            (t("handover_mahalla"), facts.mahalla or "—"),
            (t("handover_kit"), facts.kit_id),
            (t("handover_installed_by"), facts.installer or t("handover_unknown")),
            (t("handover_walk_test"), f"{when(facts.started)} – {when(facts.finished)[-5:]}"),
        ],
        "times_in": t("handover_times_in", tz=facts.time_zone),
        "columns": (
            t("handover_sensor"),
            t("handover_room"),
            t("handover_kind"),
            t("handover_first_signal"),
        ),
        "rows": [
            (
                s.sensor,
                room_name(s.room, lang),
                catalogue_text(sensor_label_key(s.kind), lang),
                s.first_signal.astimezone(zone).strftime("%H:%M:%S")
                if s.first_signal
                else t("handover_never"),
            )
            for s in facts.sensors
        ],
        "result": t("handover_passed", n=len(facts.sensors))
        if facts.passed
        else t("handover_failed", ids=", ".join(facts.missing)),
        "passed": facts.passed,
        "signatures": t("handover_signatures"),
    }


_HTML: Final = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; margin: 2cm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #444; padding: 4px 8px; text-align: left; }
.fail { color: #a00; font-weight: bold; } .pass { color: #060; font-weight: bold; }
@media print { body { margin: 1cm; } }
</style></head><body>
<h1>{{ title }}</h1>
<dl>{% for label, value in header %}<dt>{{ label }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<p>{{ times_in }}</p>
<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
<p class="{{ 'pass' if passed else 'fail' }}">{{ result }}</p>
<p>{{ signatures }}</p>
</body></html>
"""


def render_html(facts: HandoverFacts, lang: Language) -> str:
    """Printable HTML (escaped: room names are typed by people)."""
    template = Environment(autoescape=True).from_string(_HTML)
    return template.render(**_lines(facts, lang))


def render_pdf(facts: HandoverFacts, lang: Language, font: Path = DEFAULT_FONT) -> bytes:
    """A one-page A4 PDF with the same content as the HTML."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    if not font.exists():
        raise HandoverError(f"font {font} not found (Debian: apt-get install fonts-dejavu-core)")
    text = _lines(facts, lang)
    pdf = FPDF(format="A4")
    pdf.set_title(text["title"])
    pdf.set_lang(lang)
    pdf.add_font("DejaVu", fname=str(font))
    pdf.add_page()
    pdf.set_font("DejaVu", size=16)
    pdf.cell(text=text["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", size=11)
    for label, value in text["header"]:
        pdf.cell(text=f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(text=text["times_in"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    # Plain headings: the table's default bold would need a second font file.
    with pdf.table(
        col_widths=(30, 30, 30, 30), text_align="LEFT", headings_style=FontFace(emphasis="")
    ) as table:
        table.row(text["columns"])
        for row in text["rows"]:
            table.row(row)
    pdf.ln(4)
    pdf.multi_cell(w=0, text=text["result"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    pdf.multi_cell(w=0, text=text["signatures"])
    return bytes(pdf.output())


def write_handover(
    db_path: Path | str,
    kit_id: str,
    lang: Language,
    html: Path | None = None,
    pdf: Path | None = None,
    installer: str | None = None,
) -> list[Path]:
    """Write the kit's handover report as HTML and/or PDF (what `mehr kit report` calls)."""
    parsed = parse_database_url(db_path)  # a SQLite file or a PostgreSQL URL
    if parsed.sqlite_path is not None and not parsed.sqlite_path.exists():
        raise HandoverError(f"no hub database at {db_path}")
    conn = open_connection(parsed)
    try:
        facts = handover_facts(conn, kit_id, installer)
    finally:
        conn.close()
    written = []
    if html is not None:
        html.write_text(render_html(facts, lang), encoding="utf-8")
        written.append(html)
    if pdf is not None:
        pdf.write_bytes(render_pdf(facts, lang))
        written.append(pdf)
    return written
