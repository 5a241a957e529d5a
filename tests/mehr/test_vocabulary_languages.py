"""The languages are spelled once: the enum, the Literal type and the tuple name the same three,
Uzbek first (the default everywhere a person has not chosen)."""

from __future__ import annotations

from typing import get_args

from mehr.catalogue import DEFAULT_LANGUAGE, LANGUAGES
from mehr.vocabulary import LANGUAGE_CODES, Language, LanguageCode


def test_enum_literal_and_tuple_name_the_same_languages_uzbek_first() -> None:
    assert get_args(LanguageCode) == LANGUAGE_CODES == tuple(Language) == LANGUAGES
    assert LANGUAGE_CODES[0] == DEFAULT_LANGUAGE == Language.UZ
