"""The walk-test report as the installer reads it: their language, the home's local time.

`edge/walktest.py` keeps the report's data (and an English `render()` for the kit's side, which
has no Babel); this renders the same data from the catalogue: sensor kinds and rooms by name,
what to do for each silent sensor.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge.walktest import SensorResult, WalkReport
from mehr.catalogue import has, room_name
from mehr.vocabulary import sensor_label_key
from mehr_app.cli_language import Say

__all__ = ["render_walk_report", "sensor_line"]


def _local(moment: datetime, zone: ZoneInfo, fmt: str) -> str:
    return moment.astimezone(zone).strftime(fmt)


def sensor_line(say: Say, lang: str, kind: str, room: str) -> tuple[str, str]:
    """A sensor's kind and room as words of `lang`."""
    return say(sensor_label_key(kind)), room_name(room, lang)


def _how_to_trigger(say: Say, lang: str, result: SensorResult) -> str | None:
    key = f"how_{result.kind}"  # the handover sheet's own texts, one per sensor kind
    return say(key) if has(key, lang) else None


def render_walk_report(report: WalkReport, say: Say, lang: str, zone: str) -> str:
    """A printable report: one line per sensor, pass or what to do for each silent one."""
    tz = ZoneInfo(zone)
    rows = [
        (s.sensor, room_name(s.room, lang), say(sensor_label_key(s.kind)),
         _local(s.first_signal, tz, "%H:%M:%S") if s.first_signal else say("cli_walk_never"))
        for s in report.sensors
    ]
    header = (say("cli_walk_col_sensor"), say("cli_walk_col_room"), say("cli_walk_col_kind"),
              say("cli_walk_col_first"))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]

    def line(cells: tuple[str, str, str, str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + (
            "  " + cells[3]
        )

    lines = [
        say("cli_walk_title", home=report.home_id, kit=report.kit_id),
        say("cli_walk_times", zone=zone,
            started=_local(report.started, tz, "%Y-%m-%d %H:%M:%S"),
            finished=_local(report.finished, tz, "%Y-%m-%d %H:%M:%S")),
        "",
        line(header),
        *(line(row) for row in rows),
        "",
    ]
    if report.passed:
        lines.append(say("cli_walk_pass", n=len(report.sensors)))
    else:
        lines.append(say("cli_walk_fail", sensors=", ".join(report.missing)))
        for s in report.sensors:
            how = _how_to_trigger(say, lang, s) if s.first_signal is None else None
            if how is not None:
                lines.append(f"  {s.sensor}: {how}")
    return "\n".join(lines)
