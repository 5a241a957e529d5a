"""Server-rendered SVG charts (no JavaScript): today's rooms timeline and the 7-day week."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from dashboards.queries import DayActivity, Segment

__all__ = ["timeline_svg", "week_svg"]

_PALETTE = ("#1f6f8b", "#7a4f9e", "#2f7d32", "#b5520b", "#8a6d00", "#a3324a", "#3d5a80")


_LABEL_MAX = 18


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_MAX else label[: _LABEL_MAX - 1] + "…"


def timeline_svg(segments: list[Segment], tz: ZoneInfo, now: datetime, title: str) -> str:
    """Rooms down the side, hours 0-24 across; a bar where the resident was moving."""
    rooms = sorted({s.room for s in segments})
    # Room names whole ("Living room" was cut to "Living roo"): the margin grows with the
    # longest name (about 7 px a character at the label's size); only very long ones shorten.
    longest = min(max((len(room) for room in rooms), default=0), _LABEL_MAX)
    left, width, row_h, top = max(62, 12 + 7 * longest), 290, 22, 16
    height = top + max(len(rooms), 1) * row_h + 8
    scale = width / 86400

    def x(moment: datetime) -> float:
        local = moment.astimezone(tz)
        secs = local.hour * 3600 + local.minute * 60 + local.second
        return left + secs * scale

    parts = [
        f'<svg class="chart" viewBox="0 0 {left + width + 8} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for hour in range(0, 25, 6):
        hx = left + hour * 3600 * scale
        parts.append(
            f'<line x1="{hx:.1f}" y1="{top - 4}" x2="{hx:.1f}" y2="{height - 6}" class="grid"/>'
        )
        parts.append(
            f'<text x="{hx:.1f}" y="{top - 8}" class="tick" text-anchor="middle">{hour:02d}</text>'
        )
    for i, room in enumerate(rooms):
        y = top + i * row_h
        colour = _PALETTE[i % len(_PALETTE)]
        parts.append(
            f'<text x="{left - 6}" y="{y + row_h / 2 + 4:.1f}" class="label" '
            f'text-anchor="end">{escape(_short(room))}</text>'
        )
        for s in (s for s in segments if s.room == room):
            x0 = x(s.start)
            w = max(x(s.end) - x0, 3.0)
            parts.append(
                f'<rect x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" '
                f'fill="{colour}"><title>{escape(room)} '
                f"{s.start.astimezone(tz):%H:%M}–{s.end.astimezone(tz):%H:%M}</title></rect>"
            )
    nx = x(now)
    parts.append(
        f'<line x1="{nx:.1f}" y1="{top - 4}" x2="{nx:.1f}" y2="{height - 6}" class="now"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def week_svg(
    days: list[DayActivity],
    title: str,
    moves_label: str,
    sleep_label: str,
    hours_unit: str = "h",
) -> str:
    """Two bar series per day: movements (left axis) and the night's longest rest (hours)."""
    width, height, left, bottom, top = 340, 170, 8, 24, 22
    plot_h = height - top - bottom
    slot = (width - left - 8) / max(len(days), 1)
    most = max([d.movements for d in days] + [1])
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{left}" y="4" width="12" height="12" class="bar-moves"/>'
        f'<text x="{left + 16}" y="14" class="tick">{escape(moves_label)}</text>',
        f'<rect x="{left + 130}" y="4" width="12" height="12" class="bar-sleep"/>'
        f'<text x="{left + 146}" y="14" class="tick">{escape(sleep_label)}</text>',
    ]
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 8}" y2="{base}" class="axis"/>')
    for i, d in enumerate(days):
        x0 = left + i * slot + slot * 0.12
        bw = slot * 0.36
        h = plot_h * d.movements / most
        parts.append(
            f'<rect x="{x0:.1f}" y="{base - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
            f'class="bar-moves"><title>{d.day}: {d.movements}</title></rect>'
        )
        if d.sleep_hours is not None:
            sh = plot_h * min(d.sleep_hours, 14) / 14
            parts.append(
                f'<rect x="{x0 + bw + 2:.1f}" y="{base - sh:.1f}" width="{bw:.1f}" '
                f'height="{sh:.1f}" class="bar-sleep">'
                f"<title>{d.day}: {d.sleep_hours} {escape(hours_unit)}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + bw:.1f}" y="{height - 10}" class="tick" '
            f'text-anchor="middle">{d.day[5:]}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
