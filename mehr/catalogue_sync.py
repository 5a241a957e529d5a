"""Keep the message catalogue's three .po files in step (`make messages`, docs/translating.md).

English (`en.po`) is the source: a key the code uses must be there, and every key there must be
in `uz.po` and `ru.po` with a text. `sync` adds the keys a translation lacks, empty, so the
translator's PO editor lists them as untranslated; `check` changes nothing and names every
problem (the tests run it). The code's keys are found by scanning the sources for calls such
as `_("save")`, `t("save")`, `text("save", lang)` and `N_("kind_fall")`, in f-strings too.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from babel.messages.pofile import read_po, write_po

from mehr.catalogue import DOMAIN, FALLBACK_LANGUAGE, LANGUAGES, po_path

__all__ = ["SOURCE_ROOTS", "check", "code_keys", "main", "sync"]

_REPO: Final = Path(__file__).resolve().parent.parent
# The packages whose texts people read (the kit's agent and the simulators speak to developers;
# mehr_app holds the installer's commands, which speak the catalogue too).
SOURCE_ROOTS: Final = tuple(_REPO / name for name in ("mehr", "mehr_app", "hub", "dashboards"))
_CALL: Final = re.compile(
    r"(?<![A-Za-z0-9.])(?:_|_t|t|N_|say|text|catalogue_text)\(\s*[\"']([a-z][a-z0-9_]*)[\"']"
)
# Prefixes the pages complete at run time ("state_" + state): the vocabulary and the enums
# behind them are checked by tests/mehr/test_catalogue.py, not by this scan.
_PREFIXES: Final = frozenset(
    {
        "act_", "actor_", "audit_", "contact_", "did_", "explain_", "export_", "how_", "kind_",
        "lang_",
        "level_", "mode_", "out_", "place_", "reason_", "relation_", "req_state_", "request_",
        "risk_", "role_", "sensor_", "sev_", "state_", "target_", "tg_",
    }
)  # fmt: skip


def code_keys(roots: Iterable[Path] = SOURCE_ROOTS) -> dict[str, list[str]]:
    """Catalogue keys written out in the code and templates -> the files that use them."""
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in sorted([*root.rglob("*.py"), *root.rglob("*.html")]):
            for key in _CALL.findall(path.read_text(encoding="utf-8")):
                if key not in _PREFIXES:
                    where = path.relative_to(_REPO) if path.is_relative_to(_REPO) else path
                    found.setdefault(key, []).append(str(where))
    return found


def _read(lang: str) -> dict[str, str]:
    with po_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    return {
        str(m.id): m.string if isinstance(m.string, str) else ""
        for m in catalog
        if m.id and isinstance(m.id, str)
    }


def check(roots: Iterable[Path] = SOURCE_ROOTS) -> list[str]:
    """Every problem of the catalogue, one line each; empty when it is complete."""
    source = _read(FALLBACK_LANGUAGE)
    problems = [
        f"{key}: used in {', '.join(sorted(set(files)))} but not in {FALLBACK_LANGUAGE}.po"
        for key, files in sorted(code_keys(roots).items())
        if key not in source
    ]
    for lang in LANGUAGES:
        texts = _read(lang)
        problems += [f"{key}: no {lang} text" for key in sorted(source) if not texts.get(key)]
        problems += [f"{key}: in {lang}.po only" for key in sorted(set(texts) - set(source))]
    return problems


def sync() -> list[str]:
    """Add the keys each translation lacks (empty, for the translator); return what was added."""
    source = _read(FALLBACK_LANGUAGE)
    added: list[str] = []
    for lang in LANGUAGES:
        path = po_path(lang)
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=lang, domain=DOMAIN)
        missing = [key for key in sorted(source) if key not in catalog]
        for key in missing:
            catalog.add(key, "", auto_comments=[f"en: {source[key]}"])
        if missing:
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, sort_output=True)
            added += [f"{lang}: {key}" for key in missing]
    return added


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mehr.catalogue_sync [--check]`: sync, then report what is left to do."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on problems")
    args = parser.parse_args(argv)
    if not args.check:
        for line in sync():
            print(f"added (untranslated) {line}")
    problems = check()
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
