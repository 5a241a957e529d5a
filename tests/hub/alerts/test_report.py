"""The service report: response times per mahalla against the telecare anchors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.alerts import AlertService
from hub.alerts.report import response_report
from mehr_app.cli import main
from tests.hub.alerts.conftest import T0, Rig, home, make_rig


def _rig(tmp_path: Path) -> Rig:
    return make_rig(
        tmp_path,
        homes=[
            home("home-1", "kit-1"),
            home("home-2", "kit-2"),
            home("home-3", "kit-3", "Bog'ishamol"),
        ],
    )


def test_response_times_per_mahalla_and_the_targets(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    service = AlertService(rig.conn, rig.config, rig.clock)
    a1 = rig.raise_alert("home-1", "help_button")
    a2 = rig.raise_alert("home-2", "fall")
    rig.raise_alert("home-3", "help_button")  # never acknowledged
    rig.at(0)  # notifications go out at once
    rig.at(30)
    service.acknowledge(a1, "worker-a")  # 30 s
    rig.at(120)
    service.acknowledge(a2, "worker-b")  # 120 s: inside 180 s, outside 60 s
    rig.at(900)
    service.arrived(a1, "worker-a")  # 15 min to the door
    # a3 is never acknowledged: it counts against the targets.
    report = response_report(rig.conn, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    district = report["district"]
    assert district["alerts"] == 3 and district["not_acknowledged"] == 1
    assert district["to_acknowledge"]["count"] == 2
    assert district["to_acknowledge"]["max_s"] == 120.0
    assert district["to_arrive"]["p50_s"] == 900.0
    within_60, within_180 = district["targets"]
    assert (within_60["share"], within_60["met"]) == (round(1 / 3, 4), False)
    assert within_180["share"] == round(2 / 3, 4)
    navbahor = report["mahallas"]["Navbahor"]
    assert navbahor["alerts"] == 2 and navbahor["targets"][1]["share"] == 1.0
    assert report["mahallas"]["Bog'ishamol"]["not_acknowledged"] == 1
    rig.conn.close()


def test_report_command_prints_json(tmp_path: Path, capsys: object) -> None:
    rig = _rig(tmp_path)
    rig.raise_alert("home-1", "help_button")
    rig.conn.close()
    day = T0.date().isoformat()
    code = main(["report", "response", "--db", str(rig.db_path), "--from", day, "--to", day])
    assert code == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert '"alerts": 1' in out


def test_report_command_reads_from_and_to_in_district_local_time(
    tmp_path: Path, capsys: object
) -> None:
    """`--from/--to` without an offset are Tashkent time, as in the web report: a window of
    local times around the alert finds it (read as UTC it was 5 h off and found nothing)."""
    from zoneinfo import ZoneInfo

    rig = _rig(tmp_path)
    rig.raise_alert("home-1", "help_button")
    rig.conn.close()
    local = T0.astimezone(ZoneInfo("Asia/Tashkent")).replace(tzinfo=None)
    start = (local - timedelta(hours=1)).isoformat(timespec="minutes")
    end = (local + timedelta(hours=1)).isoformat(timespec="minutes")
    args = ["report", "response", "--db", str(rig.db_path), "--from", start, "--to", end]
    assert main([*args, "--alerts-config", str(tmp_path / "none.yaml")]) == 2  # named, not UTC
    capsys.readouterr()  # type: ignore[attr-defined]
    assert main(args) == 0
    assert '"alerts": 1' in capsys.readouterr().out  # type: ignore[attr-defined]
