"""Text and its background meet WCAG AA (4.5:1) on the pages people reach in a hurry.

The acknowledge page is what a worker opens from an SMS, often outdoors on a phone: its main
button once failed (white on #00bb55, 2.55:1). The colours are read from the shipped CSS, so a
change of palette is checked, not a copy of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards.routes import ack

_CSS = Path(__file__).resolve().parents[2] / "dashboards" / "static" / "mehr.css"
_AA = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def _luminance(colour: str) -> float:
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(d * 2 for d in hex_digits)
    r, g, b = (int(hex_digits[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two #rgb/#rrggbb colours."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rule(css: str, selector: str) -> dict[str, str]:
    match = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", css)
    assert match, f"no rule for {selector!r}"
    return dict(
        (name.strip(), value.strip())
        for name, value in (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
    )


def _variables(css: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))


def test_checker_rejects_the_old_acknowledge_button() -> None:
    assert contrast("#fff", "#00bb55") < _AA
    assert contrast("#000", "#fff") == pytest.approx(21.0)


def test_acknowledge_page_button_meets_aa() -> None:
    button = _rule(ack._STYLE, "button")
    assert contrast(button["color"], button["background"]) >= _AA, button


def test_primary_button_meets_aa() -> None:
    css = _CSS.read_text(encoding="utf-8")
    colours = _variables(css)
    rule = _rule(css, "button.primary")
    background = colours[rule["background"].removeprefix("var(").removesuffix(")")]
    assert contrast(rule["color"], background) >= _AA


@pytest.mark.parametrize(
    ("text", "background"),
    [("--ok", "--ok-bg"), ("--att", "--att-bg"), ("--al", "--al-bg"), ("--ink", "--ok-bg")],
)
def test_status_colours_meet_aa(text: str, background: str) -> None:
    colours = _variables(_CSS.read_text(encoding="utf-8"))
    assert contrast(colours[text], colours[background]) >= _AA, (text, background)


def test_muted_text_meets_aa_on_white_and_page_background() -> None:
    colours = _variables(_CSS.read_text(encoding="utf-8"))
    for background in ("#ffffff", "#f6f6f4"):
        assert contrast(colours["--muted"], background) >= _AA
