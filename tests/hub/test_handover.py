"""The handover report: the household's language and the home's local time, in HTML and PDF,
with the sensors, their rooms, the result and who installed."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from edge.walktest import WalkTest
from hub.alerts.engine import open_alerts_db
from hub.alerts.testmode import TestModes
from hub.handover import HandoverFacts, handover_facts, render_html, render_pdf
from hub.persistence.sqlite_store import SqliteStore
from mehr.clock import ManualClock
from mehr_app.cli import main
from tests.hub.factories import home_spec

# A 09:20 visit in Tashkent (UTC+5) is 04:20 UTC: the sheet must say 09:20.
VISIT = datetime(2026, 11, 23, 4, 20, 0, tzinfo=UTC)


@pytest.fixture
def hub_db(tmp_path: Path) -> Path:
    """A hub database with one walk test of kit-1 (the fall sensor never fired), run by ali."""
    db_path = tmp_path / "hub.db"
    store = SqliteStore(db_path)
    spec = home_spec("home-1", "kit-1")
    store.register_home(spec, VISIT)
    kit = store.kit("kit-1")
    assert kit is not None
    test = WalkTest("home-1", "kit-1", kit.sensors, VISIT)
    for n, sid in enumerate(("help", "door-front", "pir-kitchen", "pir-bath")):
        test.observe(sid, VISIT + timedelta(seconds=58 + n))
    report = test.report(VISIT + timedelta(minutes=5))
    store.save_commissioning_report("kit-1", "home-1", report.finished, report.passed,
                                    report.to_dict())
    store.close()
    conn = open_alerts_db(db_path)
    TestModes(conn, ManualClock(VISIT - timedelta(seconds=5))).start(
        "home-1", "installer:ali", kit_id="kit-1"
    )
    conn.close()
    return db_path


def _facts(db_path: Path) -> HandoverFacts:
    conn = open_alerts_db(db_path)
    try:
        return handover_facts(conn, "kit-1")
    finally:
        conn.close()


def test_html_is_in_the_households_language_and_local_time(hub_db: Path) -> None:
    facts = _facts(hub_db)
    uz = render_html(facts, "uz")
    assert "Oʻrnatish dalolatnomasi" in uz and "Yordam tugmasi" in uz
    assert "09:20:58" in uz and "04:20:58" not in uz
    assert "23.11.2026 09:20" in uz and "Asia/Tashkent" in uz
    assert "ali" in uz and "Yotoqxona" in uz and "fall-radar" in uz
    assert "ishlamagan datchiklar: fall-radar" in uz
    ru = render_html(facts, "ru")
    assert "Акт установки" in ru and "Кнопка помощи" in ru and "не сработал" in ru
    assert "09:20:59" in ru and 'lang="ru"' in ru
    en = render_html(facts, "en")
    assert "Installation handover report" in en and "never fired" in en


def test_pdf_carries_the_same_local_times_and_language(hub_db: Path) -> None:
    pdf = render_pdf(_facts(hub_db), "ru")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Акт установки" in text and "Кнопка помощи" in text
    assert "09:20:58" in text and "04:20:58" not in text
    assert "ali" in text and "Спальня" in text


def test_kit_report_writes_html_and_pdf_sheets(hub_db: Path, tmp_path: Path) -> None:
    html, pdf = tmp_path / "handover.html", tmp_path / "handover.pdf"
    code = main(["kit", "report", "--kit", "kit-1", "--hub-db", str(hub_db), "--lang", "uz",
                 "--html", str(html), "--pdf", str(pdf)])
    assert code == 1  # the fall sensor never fired: the walk test failed
    assert "09:20:58" in html.read_text(encoding="utf-8")
    text = PdfReader(pdf).pages[0].extract_text()
    assert "Oʻrnatish dalolatnomasi" in text and "09:20:58" in text
