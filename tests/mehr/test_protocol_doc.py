"""Every example in docs/protocol.md parses with the contract module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mehr.contract import TopicKind, parse_message

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_EXAMPLE = re.compile(r"topic `(?P<topic>mehr/v1/[^`]+)`.*?```json\n(?P<body>.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    return [(m["topic"], m["body"]) for m in _EXAMPLE.finditer(DOC.read_text())]


def test_the_doc_has_an_example_for_every_topic_kind() -> None:
    kinds = {topic.rsplit("/", 1)[1] for topic, _ in _examples()}
    assert kinds == {k.value for k in TopicKind}


@pytest.mark.parametrize(("topic", "body"), _examples())
def test_doc_example_parses(topic: str, body: str) -> None:
    ref, message = parse_message(topic, body.encode())
    assert ref.kind.value == topic.rsplit("/", 1)[1]
    assert message.v == 1
