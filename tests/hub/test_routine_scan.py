"""The routine scan on an injected clock: unusual silence alerts once, explained; an offline kit
holds it back; going out is not inactivity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from detectors import DetectorError, Place
from hub.explain import explain_finding
from hub.persistence.sqlite_store import SqliteStore
from hub.places import guess_place
from hub.routine_scan import RoutineScanner, ScanSettings
from hub.stats import HubStats
from hub.store.base import NewEvent
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from tests.hub.factories import home_spec

# Local midnight in Tashkent (UTC+5) on a Monday, 21 days before the day of the incident.
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC) - timedelta(hours=5)


class Home:
    """Writes a resident's days into the store as events of home-1/kit-1."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.seq = 0

    def at(
        self, day: int, hh: float, sensor: str, kind: str = "motion", value: object = True
    ) -> None:
        self.seq += 1
        when = START + timedelta(days=day, hours=hh)
        room = {
            "pir-kitchen": "Kitchen",
            "pir-bath": "Bathroom",
            "door-front": "Hallway",
            "mat-chair": "Living room",
        }[sensor]
        self.store.store_events(
            [NewEvent("home-1", "kit-1", 1, self.seq, sensor, kind, value, room, when, when)],
            when,
        )

    def ordinary_day(self, day: int) -> None:
        """Up at 7, kitchen and bathroom through the day every 20-40 min, asleep at 22."""
        hh = 7.0
        step = 0
        while hh < 22.0:
            self.at(day, hh, "pir-kitchen" if step % 3 else "pir-bath")
            hh += 0.33 + 0.1 * (step % 3)
            step += 1
        self.store.commit()


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "hub.db")
    s.register_home(home_spec(), START)
    return s


def _scanner(store: SqliteStore, now: datetime) -> tuple[RoutineScanner, ManualClock]:
    clock = ManualClock(now)
    return RoutineScanner(store, clock, HubStats()), clock


def test_unusual_silence_raises_one_explained_alert(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 7.0, "pir-bath")
    home.at(20, 10 + 40 / 60, "pir-kitchen")  # 10:40, then nothing
    store.commit()
    scanner, clock = _scanner(store, START + timedelta(days=20, hours=11))
    assert scanner.scan() == []  # twenty minutes of quiet is ordinary here

    stored = store.load_routine("home-1")
    assert stored is not None
    limit_s = stored[1]["threshold_s"][int(Place.KITCHEN)][10]  # the kitchen from 10:00
    assert 45 * 60 <= limit_s < 4 * 3600, "a busy kitchen's silence limit is hours, not a day"
    clock.set(START + timedelta(days=20, hours=10, minutes=40, seconds=limit_s - 60))
    assert scanner.scan() == []
    clock.set(START + timedelta(days=20, hours=10, minutes=40, seconds=limit_s + 60))
    (alert,) = scanner.scan()
    assert (alert.kind, alert.severity) == ("unusual_inactivity", "high")
    assert alert.detail["room"] == "Kitchen"
    assert alert.detail["routine_learned"] is True
    english = alert.detail["explanation"]["en"]
    assert english.startswith("No movement for ")
    assert "since Kitchen at 10:40; at this hour it is usually under" in english
    assert "soat" in alert.detail["explanation"]["uz"]
    assert "Нет движения" in alert.detail["explanation"]["ru"]

    clock.advance(60)
    assert scanner.scan() == [], "the open alert is not raised again every minute"


def test_an_alert_is_announced_even_when_planning_the_next_look_fails(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 7.0, "pir-kitchen")  # 07:00, then nothing until 17:00
    store.commit()
    announced: list[str] = []
    clock = ManualClock(START + timedelta(days=20, hours=17))
    scanner = RoutineScanner(store, clock, HubStats(), on_alert=lambda a: announced.append(a.kind))

    def plan_fails(*args: object, **kwargs: object) -> None:
        raise DetectorError("no plan for this home")

    monkeypatch.setattr(scanner, "_note_look", plan_fails)
    (alert,) = scanner.scan()
    # Committed before the plan was made: announced, and not lost or left half-written.
    assert announced == [alert.kind] == ["unusual_inactivity"]
    assert [a.kind for a in store.alerts("home-1")] == ["unusual_inactivity"]
    assert scanner.stats.get("scan_errors") == 1


def _limits(store: SqliteStore, name: str) -> np.ndarray:
    stored = store.load_routine("home-1")
    assert stored is not None
    return np.asarray(stored[1][name])


def test_an_ask_first_home_is_asked_at_the_lower_limit(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 10 + 40 / 60, "pir-kitchen")  # 10:40, then nothing
    store.commit()
    start = START + timedelta(days=20, hours=10, minutes=40)
    plain, clock = _scanner(store, start + timedelta(minutes=5))
    assert plain.scan() == []
    ask = _limits(store, "ask_threshold_s")[int(Place.KITCHEN)][10]
    worker = _limits(store, "threshold_s")[int(Place.KITCHEN)][10]
    assert ask < worker
    asking = RoutineScanner(store, clock, HubStats(), ask_first=lambda home_id: True)
    clock.set(start + timedelta(seconds=ask + 60))
    (alert,) = asking.scan()
    assert alert.kind == "unusual_inactivity" and alert.detail["asking"] is True
    assert "Kitchen" in alert.detail["explanation"]["en"]


def test_a_home_that_often_misses_the_buzzer_is_asked_less_low(tmp_path: Path) -> None:
    now = START + timedelta(days=20, hours=10, minutes=5)
    limits = {}
    for name, history in (("answers", (20, 0)), ("misses", (10, 10))):
        store = SqliteStore(tmp_path / f"{name}.db")
        store.register_home(home_spec(), START)
        home = Home(store)
        for day in range(20):
            home.ordinary_day(day)
        home.at(20, 10.0, "pir-kitchen")
        store.commit()
        scanner = RoutineScanner(
            store, ManualClock(now), HubStats(), answers=lambda home_id, since, h=history: h
        )
        scanner.scan()
        stored = store.load_routine("home-1")
        assert stored is not None
        limits[name] = np.asarray(stored[1]["ask_threshold_s"])
        assert stored[1]["answer_rate"] == pytest.approx((history[0] + 19) / (sum(history) + 20))
        store.close()
    assert np.all(limits["misses"] >= limits["answers"])
    assert np.any(limits["misses"] > limits["answers"])


def test_an_event_stamped_after_now_does_not_hide_the_silence(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 10 + 40 / 60, "pir-kitchen")
    home.at(21, 3.0, "pir-bath")  # a kit clock far ahead: "tomorrow at 03:00"
    store.commit()
    scanner, _ = _scanner(store, START + timedelta(days=20, hours=10, minutes=45))
    scanner.scan()
    limit = _limits(store, "threshold_s")[int(Place.KITCHEN)][10]
    scanner.clock.set(START + timedelta(days=20, hours=10, minutes=40, seconds=limit + 60))  # type: ignore[attr-defined]
    assert [a.kind for a in scanner.scan()] == ["unusual_inactivity"]


def test_sitting_in_the_armchair_for_hours_is_not_a_silence(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 10.5, "pir-kitchen")
    home.at(20, 10 + 40 / 60, "mat-chair", "occupancy", True)  # sat down at 10:40
    store.commit()
    scanner, _ = _scanner(store, START + timedelta(days=20, hours=13, minutes=40))
    assert scanner.scan() == [], "three hours in the armchair: a nap, the TV"
    home.at(20, 13 + 40 / 60, "mat-chair", "occupancy", False)  # got up at 13:40...
    store.commit()
    scanner.clock.set(START + timedelta(days=20, hours=20))  # type: ignore[attr-defined]
    (alert,) = scanner.scan()  # ...and nothing anywhere since
    assert alert.kind == "unusual_inactivity" and alert.detail["seated"] is False


def test_an_offline_kit_holds_back_silence_alerts(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 8.0, "pir-kitchen")
    store.set_availability("kit-1", "offline", START + timedelta(days=20, hours=8))
    store.commit()
    scanner, _ = _scanner(store, START + timedelta(days=20, hours=14))
    assert scanner.scan() == []
    assert scanner.stats.get("held_back_kit_offline") >= 1


def test_going_out_is_not_inactivity(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 9.0, "pir-kitchen")
    home.at(20, 9.5, "door-front", "door", "open")
    home.at(20, 9.51, "door-front", "door", "closed")
    store.commit()
    scanner, _ = _scanner(store, START + timedelta(days=20, hours=13))
    assert [a.kind for a in scanner.scan()] == []


def test_a_new_home_uses_defaults_and_the_routine_is_kept(store: SqliteStore) -> None:
    home = Home(store)
    home.at(0, 9.0, "pir-kitchen")
    store.commit()
    scanner, _ = _scanner(store, START + timedelta(hours=9 + 5))
    (alert,) = scanner.scan()  # 5 h of silence by day exceeds the 4 h default
    assert alert.kind == "unusual_inactivity"
    assert alert.detail["routine_learned"] is False
    assert store.load_routine("home-1") is not None


@pytest.mark.parametrize(
    ("kind", "room", "sensor", "place"),
    [
        ("motion", "Oshxona", "pir-1", "kitchen"),
        ("motion", "Ванная", "pir-2", "bathroom"),
        ("motion", "Hallway", "pir-hall", "other"),
        ("door", "Hallway", "door-front", "entrance"),
        ("door", "Прихожая", "d1", "entrance"),
        ("motion", "Yotoqxona", "pir-3", "bedroom"),
        ("motion", "Garage", "pir-4", "other"),
    ],
)
def test_place_is_guessed_from_room_names_in_three_languages(
    kind: str, room: str, sensor: str, place: str
) -> None:
    assert guess_place(SensorKind(kind), room, sensor).value == place


def test_a_high_risk_home_gets_tighter_thresholds(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 10.0, "pir-kitchen")
    store.commit()
    when = START + timedelta(days=20, hours=11)
    learned = {}
    for level in ("low", "medium", "high"):
        store.set_risk_level("home-1", level)
        scanner, _ = _scanner(store, when)
        scanner.scan()
        stored = store.load_routine("home-1")
        assert stored is not None
        learned[level] = np.asarray(stored[1]["threshold_s"])
    assert np.all(learned["high"] <= learned["medium"])
    assert np.all(learned["medium"] <= learned["low"])
    assert np.any(learned["high"] < learned["medium"])


def test_a_motion_sensor_silent_for_days_is_reported_once(store: SqliteStore) -> None:
    home = Home(store)
    for day in range(10):
        for hh in range(7, 22):
            home.at(day, hh, "pir-kitchen")
        if day <= 3:  # the bathroom sensor's battery dies after day 3
            home.at(day, 7.5, "pir-bath")
    store.commit()
    scanner, clock = _scanner(store, START + timedelta(days=9, hours=21, minutes=30))
    silent = [a for a in scanner.scan() if a.kind == "sensor_silent"]
    assert len(silent) == 1
    assert [s["sensor"] for s in silent[0].detail["sensors"]] == ["pir-bath"]
    # Rooms in each reader's language; the sensor's id stays in the detail for the installer.
    assert silent[0].detail["explanation"]["en"].endswith("3 days: Bathroom")
    assert silent[0].detail["explanation"]["ru"].endswith("3 дн.: Ванная")
    clock.advance(60)
    assert [a for a in scanner.scan() if a.kind == "sensor_silent"] == []


def test_a_long_sitting_is_explained_as_sitting_in_three_languages() -> None:
    text = explain_finding(
        "unusual_inactivity", 5 * 3600, 3 * 3600, "Mehmonxona", 13 * 3600 + 300, seated=True
    )
    # The room typed in Uzbek reads in each language.
    assert text["en"].startswith("Sitting or lying (Living room) since 13:05, not up for 5 h")
    assert "oʻtiribdi yoki yotibdi (Mehmonxona)" in text["uz"]  # U+02BB, not an apostrophe
    assert text["ru"].startswith("Сидит или лежит (Гостиная) с 13:05")


def test_a_silence_while_the_kit_was_dark_is_timed_from_its_return(tmp_path: Path) -> None:
    """A power cut at 10:45 while she was in the kitchen: the alert engine records the outage;
    after the kit is back at 12:30 the scan times the silence from 12:30, not from 10:40."""
    import sqlite3

    from hub.persistence.schema_alerts import migrate_alerts

    db = tmp_path / "hub.db"
    store = SqliteStore(db)
    store.register_home(home_spec(), START)
    with sqlite3.connect(db) as conn:
        migrate_alerts(conn)  # the alert engine's tables live in the same file
    home = Home(store)
    for day in range(20):
        home.ordinary_day(day)
    home.at(20, 7.0, "pir-bath")
    home.at(20, 10 + 40 / 60, "pir-kitchen")  # 10:40, then the power goes
    store.commit()
    dark = START + timedelta(days=20, hours=10, minutes=45)
    back = START + timedelta(days=20, hours=12, minutes=30)
    store.set_availability("kit-1", "offline", dark)
    store.commit()
    with sqlite3.connect(db) as conn:  # as the alert engine records an outage past its grace
        conn.execute(
            "INSERT INTO kit_outages(kit_id, since, home_id, mahalla, alert_id) VALUES (?,?,?,?,?)",
            ("kit-1", dark.timestamp(), "home-1", "", None),
        )
    store.set_availability("kit-1", "online", back)  # back; the engine has not closed it yet
    store.commit()
    scanner, clock = _scanner(store, back + timedelta(minutes=1))
    assert scanner.scan() == []
    stored = store.load_routine("home-1")
    assert stored is not None
    limit_s = stored[1]["threshold_s"][int(Place.KITCHEN)][12]
    clock.set(back + timedelta(seconds=limit_s - 120))
    assert scanner.scan() == [], "the silence is the resident's only since the kit came back"
    clock.set(back + timedelta(seconds=limit_s + 120))
    (alert,) = scanner.scan()
    assert alert.kind == "unusual_inactivity"


def test_routines_learned_together_are_relearned_spread_out_not_in_one_pass(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "spread.db")
    homes = [f"home-{i}" for i in range(1, 5)]
    for i, home_id in enumerate(homes, start=1):
        store.register_home(home_spec(home_id, f"kit-{i}"), START)
        days = []
        for day in range(20):  # the kitchen every half hour from 07:00
            for n in range(30):
                at = START + timedelta(days=day, hours=7, minutes=30 * n)
                days.append(
                    NewEvent(home_id, f"kit-{i}", 1, day * 40 + n, "pir-kitchen", "motion",
                             True, "Kitchen", at, at)
                )  # fmt: skip
        store.store_events(days, START)
        store.commit()
    learned_at = START + timedelta(days=20, hours=9)
    settings = ScanSettings(max_relearns_per_pass=1, relearn_jitter=timedelta(hours=1))
    clock = ManualClock(learned_at)
    stats = HubStats()
    scanner = RoutineScanner(store, clock, stats, settings=settings)
    scanner.scan()
    assert stats.get("routines_learned") == 4, "a home without a routine is always learned"

    clock.set(learned_at + settings.relearn_every - settings.relearn_jitter - timedelta(seconds=1))
    scanner.scan()
    assert stats.get("routines_learned") == 4, "no routine is stale before its jitter allows"

    clock.set(learned_at + settings.relearn_every)  # every routine is stale now
    for passes in range(1, 5):
        scanner.scan()
        assert stats.get("routines_learned") == 4 + passes, "one re-learn per pass at most"
        clock.advance(60)
    assert stats.get("relearns_deferred") == 3 + 2 + 1
    scanner.scan()
    assert stats.get("routines_learned") == 8, "each home re-learned once, then fresh again"
