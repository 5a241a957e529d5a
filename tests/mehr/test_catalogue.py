"""The message catalogue: complete in uz/ru/en, official Uzbek apostrophes, every word of the
vocabulary and of the engine's states and actions labelled, the kernel free of project imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from string import Formatter

import pytest

from dashboards.accounts import Role
from dashboards.alert_actions import MODES
from hub.alerts.lifecycle import AlertState, Outcome, Progress
from hub.alerts.telegram_texts import Text
from mehr.catalogue import (
    LANGUAGES,
    entries,
    po_path,
    relation_name,
    room_name,
    text,
    translator,
)
from mehr.catalogue_sync import check
from mehr.contract import SensorKind
from mehr.vocabulary import SENSOR_KIND_LABELS, AlertKind, Place, Severity, kind_label_key

REPO = Path(__file__).resolve().parents[2]
# oʻ and gʻ take U+02BB; the tutuq belgisi (maʼlumot) U+02BC; nothing else is an apostrophe.
WRONG_APOSTROPHES = "'‘’`´"


def test_every_key_has_a_text_in_every_language_and_every_key_the_code_uses_exists() -> None:
    assert check() == []


def test_the_check_names_a_key_the_code_uses_that_the_catalogue_lacks(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text('<p>{{ _("no_such_text") }}</p>', encoding="utf-8")
    assert any(line.startswith("no_such_text: used in") for line in check([tmp_path]))


def test_placeholders_are_the_same_in_every_language() -> None:
    def fields(s: str) -> set[str]:
        return {name for _, name, _, _ in Formatter().parse(s) if name}

    english = entries("en")
    for lang in ("uz", "ru"):
        wrong = {k: v for k, v in entries(lang).items() if fields(v) != fields(english[k])}
        assert wrong == {}, lang


def test_uzbek_uses_the_official_apostrophes_only() -> None:
    for key, said in entries("uz").items():
        assert not any(ch in said for ch in WRONG_APOSTROPHES), (key, said)
        for match in re.finditer("\u02bb", said):
            assert said[match.start() - 1] in "oOgG", (key, said)
    # The .po file itself, read as text (what a translator's editor shows).
    raw = po_path("uz").read_text(encoding="utf-8")
    assert "o‘" not in raw and "g‘" not in raw


def test_templates_write_uzbek_with_the_official_apostrophes() -> None:
    for page in (REPO / "dashboards" / "templates").glob("*.html"):
        body = page.read_text(encoding="utf-8")
        assert not re.search(r"[oOgG][‘’]", body), page.name


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_alert_kind_severity_place_and_sensor_kind_has_a_label(lang: str) -> None:
    have = entries(lang)
    keys = [kind.label_key for kind in AlertKind] + [kind_label_key("no_such_kind")]
    keys += [severity.label_key for severity in Severity]
    keys += [place.label_key for place in Place]
    keys += list(SENSOR_KIND_LABELS.values())
    assert [k for k in keys if k not in have] == []
    assert set(SENSOR_KIND_LABELS) == {kind.value for kind in SensorKind}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_state_outcome_mode_role_and_bot_phrase_has_words(lang: str) -> None:
    have = entries(lang)
    keys = [f"state_{s.value}" for s in (*AlertState, *Progress)]
    keys += [f"out_{o.value}" for o in Outcome]
    keys += [f"mode_{m}" for m in (*MODES, "off")]
    keys += [f"role_{r.value}" for r in Role]
    keys += [f"tg_{t.value}" for t in Text]
    keys += [f"lang_{code}" for code in LANGUAGES]
    assert [k for k in keys if k not in have] == []


def test_every_action_the_alert_engine_records_reads_as_words_in_the_history() -> None:
    sources = "".join(p.read_text(encoding="utf-8") for p in (REPO / "hub").rglob("*.py"))
    # svc.audit(alert_id, actor, "action", ...): the action is the third argument.
    actions = set(re.findall(r"\baudit\(\s*[^,()]+,\s*[^,()]+,\s*\"([a-z_]+)\"", sources))
    assert {"raised", "acknowledge", "escalation_step", "ack_link_used"} <= actions
    actions -= {"view", "list"}  # reads: kept in the trail, not shown as history
    have = entries("uz")
    assert sorted(a for a in actions if f"did_{a}" not in have and f"act_{a}" not in have) == []


def test_a_standard_room_name_reads_in_the_readers_language_and_a_own_one_stays() -> None:
    assert room_name("Kitchen", "uz") == "Oshxona"
    assert room_name("oshxona", "ru") == "Кухня"
    assert room_name(" Living room ", "ru") == "Гостиная"
    assert room_name("Nevaramning xonasi", "ru") == "Nevaramning xonasi"
    assert relation_name("daughter", "uz") == "qizi"
    assert relation_name("дочь", "en") == "daughter"
    assert relation_name("qoʻshni ayol", "ru") == "qoʻshni ayol"


def test_a_missing_translation_falls_back_to_english_and_an_unknown_language_to_uzbek() -> None:
    assert translator("xx")("save") == entries("uz")["save"]
    assert text("ago_min", "ru", n=5) == "5 мин назад"
    assert text("no_such_key_at_all", "ru") == "no_such_key_at_all"


@pytest.mark.parametrize("module", ["vocabulary.py", "catalogue.py"])
def test_the_kernels_vocabulary_and_catalogue_import_nothing_of_the_project(module: str) -> None:
    tree = ast.parse((REPO / "mehr" / module).read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    project = {"mehr", "hub", "dashboards", "edge", "detectors", "simulators", "tests"}
    # The catalogue may read the vocabulary (the languages are spelled there), nothing else.
    allowed = {"mehr.vocabulary"} if module == "catalogue.py" else set()
    assert {name for name in imported if name.split(".")[0] in project} <= allowed


def test_the_simulated_residents_places_are_the_vocabularys_places_or_out() -> None:
    from simulators.resident import Place as Whereabouts

    assert {w.value for w in Whereabouts} - {"out"} <= {p.value for p in Place}
