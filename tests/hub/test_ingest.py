"""Ingest on a real SQLite file: what is stored, what is rejected and why, what alerts."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import hub.persistence.kit_changes
from hub.ingest import Ingestor, Outcome, RawMessage, TimeLimits
from hub.persistence import test_modes
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, SensorSpec
from hub.stats import HubStats
from mehr.clock import ManualClock
from mehr.contract import SensorKind, TopicKind, topic_for
from tests.detectors import signals
from tests.hub.factories import T0, event_bytes, home_spec, raw, raw_event


@pytest.fixture
def ingestor(tmp_path: Path) -> Ingestor:
    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec("home-1", "kit-1"), T0)
    store.register_home(home_spec("home-2", "kit-2"), T0)
    return Ingestor(store, ManualClock(T0), HubStats())


def test_valid_events_are_stored_and_duplicates_dropped(ingestor: Ingestor) -> None:
    result = ingestor.process_batch([raw_event(1), raw_event(2), raw_event(1)])
    assert [o for o, _ in result.outcomes] == [Outcome.STORED, Outcome.STORED, Outcome.DUPLICATE]
    again = ingestor.process_batch([raw_event(2)])
    assert again.outcomes == [(Outcome.DUPLICATE, None)]
    assert ingestor.store.count_events() == 2
    assert ingestor.stats.get("duplicates") == 2


def test_unknown_kit_and_wrong_home_are_rejected_and_not_stored(ingestor: Ingestor) -> None:
    result = ingestor.process_batch(
        [
            raw_event(1, home="home-9", kit="kit-9"),
            raw_event(1, home="home-2", kit="kit-1"),  # kit-1 speaking into home-2
        ]
    )
    assert [r for _, r in result.outcomes] == ["unknown_kit", "home_mismatch"]
    assert ingestor.store.count_events() == 0
    assert ingestor.stats.rejected("unknown_kit") == 1
    assert ingestor.stats.rejected("home_mismatch") == 1


def test_malformed_messages_are_counted_by_reason(ingestor: Ingestor) -> None:
    topic = topic_for("home-1", "kit-1", TopicKind.EVENTS)
    body = json.loads(event_bytes(1))
    batch = [
        raw(topic, b"not json"),
        raw(topic, {**body, "v": 9}),
        raw(topic, {**body, "extra": 1}),
        raw(topic, {**body, "kind": "smoke"}),
        raw(topic, b"{" + b" " * 5000 + b"}"),
        raw("mehr/v1/homes/home-1/kits/kit-1/nonsense", body),
        raw(topic, body),
    ]
    result = ingestor.process_batch(batch)
    assert [r for _, r in result.outcomes] == [
        "not_json",
        "unsupported_version",
        "unknown_field",
        "unknown_kind",
        "too_large",
        "bad_topic",
        None,
    ]
    assert ingestor.store.count_events() == 1


def test_help_button_raises_one_critical_alert_for_its_home(ingestor: Ingestor) -> None:
    press = {"sensor": "help", "kind": SensorKind.HELP_BUTTON, "value": "pressed"}
    result = ingestor.process_batch([raw_event(1), raw_event(2, **press), raw_event(3, **press)])
    (alert,) = result.new_alerts
    assert (alert.home_id, alert.kind, alert.severity) == ("home-1", "help_button", "critical")
    assert alert.detail["room"] == "Bedroom"
    (stored,) = ingestor.store.alerts()
    assert stored.count == 2  # the second press merged into the open alert


def test_fall_sensor_alarm_raises_a_fall_alert(ingestor: Ingestor) -> None:
    result = ingestor.process_batch(
        [raw_event(1, sensor="fall-radar", kind=SensorKind.FALL, value="detected")]
    )
    assert [a.kind for a in result.new_alerts] == ["fall"]


def test_help_from_an_unregistered_sensor_still_alerts(ingestor: Ingestor) -> None:
    result = ingestor.process_batch(
        [raw_event(1, sensor="help-2", kind=SensorKind.HELP_BUTTON, value="pressed")]
    )
    assert [a.kind for a in result.new_alerts] == ["help_button"]
    assert ingestor.stats.snapshot()["warnings"] == {"unregistered_sensor": 1}


def test_heartbeat_and_availability_update_kit_state(ingestor: Ingestor) -> None:
    ingestor.process_batch(
        [
            raw(
                topic_for("home-1", "kit-1", TopicKind.HEARTBEAT),
                {
                    "v": 1,
                    "kit": "kit-1",
                    "ts": "2026-11-23T06:00:00Z",
                    "uptime_s": 5,
                    "outbox_depth": 3,
                    "dropped": 0,
                },
            ),
            raw(
                topic_for("home-1", "kit-1", TopicKind.AVAILABILITY),
                {"v": 1, "kit": "kit-1", "state": "offline"},
            ),
        ]
    )
    kit = ingestor.store.kit("kit-1")
    assert kit is not None
    assert kit.availability == "offline"
    assert kit.last_heartbeat is not None and kit.last_heartbeat["outbox_depth"] == 3


def _beat(at: datetime, outbox: int = 0, unavailable: list[str] | None = None) -> RawMessage:
    """kit-1's heartbeat sent at `at`, received at once."""
    body: dict[str, object] = {
        "v": 1, "kit": "kit-1", "ts": at.isoformat().replace("+00:00", "Z"), "uptime_s": 5,
        "outbox_depth": outbox, "dropped": 0, "sensors": {"pir-kitchen": at.isoformat()},
    }  # fmt: skip
    if unavailable is not None:
        body["unavailable"] = unavailable
    return RawMessage(
        topic_for("home-1", "kit-1", TopicKind.HEARTBEAT), json.dumps(body).encode(), at
    )


def test_a_heartbeat_with_nothing_new_is_written_every_two_minutes_news_at_once(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec(), T0)
    clock = ManualClock(T0)
    ingestor = Ingestor(store, clock, HubStats(), heartbeat_every_s=120)

    def last_written(beat: RawMessage) -> datetime | None:
        clock.advance((beat.received_at - clock.now()).total_seconds())
        result = ingestor.process_batch([beat])
        assert result.outcomes == [(Outcome.STATE, None)]  # acknowledged either way
        kit = store.kit("kit-1")
        assert kit is not None
        return kit.last_heartbeat_at

    minute = [T0 + timedelta(minutes=n) for n in range(8)]
    # Every 60 s, nothing new: the first, then one every 120 s.
    assert [last_written(_beat(at)) for at in minute[:5]] == [
        minute[0], minute[0], minute[2], minute[2], minute[4]
    ]  # fmt: skip
    assert last_written(_beat(minute[5], outbox=12)) == minute[5]  # events waiting on the kit
    assert last_written(_beat(minute[6], outbox=12, unavailable=["pir-bath"])) == minute[6]
    assert last_written(_beat(minute[7], outbox=12, unavailable=["pir-bath"])) == minute[6]
    assert ingestor.stats.get("heartbeats") == 5
    assert ingestor.stats.get("heartbeats_not_written") == 3


def _thinning_ingestor(tmp_path: Path) -> tuple[Ingestor, ManualClock]:
    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec(), T0)
    clock = ManualClock(T0)
    return Ingestor(store, clock, HubStats(), heartbeat_every_s=120), clock


def _last_heartbeat(ingestor: Ingestor) -> tuple[datetime | None, int | None]:
    kit = ingestor.store.kit("kit-1")
    assert kit is not None and kit.last_heartbeat is not None
    return kit.last_heartbeat_at, kit.last_heartbeat["outbox_depth"]


def test_a_kit_beating_a_little_early_still_has_a_heartbeat_written_every_two_minutes(
    tmp_path: Path,
) -> None:
    ingestor, clock = _thinning_ingestor(tmp_path)
    written = []
    for n in range(9):  # a kit's timer wakes a few ms late or early: 59.99 s apart
        at = T0 + timedelta(seconds=59.99 * n)
        clock.advance((at - clock.now()).total_seconds())
        ingestor.process_batch([_beat(at)])
        written.append(_last_heartbeat(ingestor)[0])
    ages = [(clock_at - w).total_seconds() for clock_at, w in zip(
        (T0 + timedelta(seconds=59.99 * n) for n in range(9)), written, strict=True
    ) if w is not None]  # fmt: skip
    assert max(ages) <= 120  # never the 180 s a test on the beat's own age alone gave
    assert ingestor.stats.get("heartbeats") == 5  # beats 0, 2, 4, 6, 8


def test_news_in_a_batch_is_not_undone_by_the_beat_after_it(tmp_path: Path) -> None:
    ingestor, clock = _thinning_ingestor(tmp_path)
    ingestor.process_batch([_beat(T0)])
    clock.advance(61)
    # Back after a gap: the catch-up beat says 5 events wait, the next one (in the same batch)
    # that they are sent: the row must end with the second, not keep the first's 5.
    ingestor.process_batch(
        [_beat(T0 + timedelta(seconds=60), outbox=5), _beat(T0 + timedelta(seconds=61))]
    )
    assert _last_heartbeat(ingestor) == (T0 + timedelta(seconds=61), 0)
    # A late copy of an older beat changes neither the row nor what the next decision uses.
    ingestor.process_batch([_beat(T0 + timedelta(seconds=60), outbox=5)])
    assert _last_heartbeat(ingestor) == (T0 + timedelta(seconds=61), 0)


def test_a_kit_clock_that_moves_5_s_against_the_hub_s_is_news_jitter_is_not(
    tmp_path: Path,
) -> None:
    ingestor, clock = _thinning_ingestor(tmp_path)

    def beat_arriving(at: datetime, late_s: float) -> datetime | None:
        clock.advance((at + timedelta(seconds=late_s) - clock.now()).total_seconds())
        delayed = _beat(at)
        delayed = RawMessage(delayed.topic, delayed.payload, at + timedelta(seconds=late_s))
        ingestor.process_batch([delayed])
        return _last_heartbeat(ingestor)[0]

    assert beat_arriving(T0, 2.4) == T0
    # Delivery jitter around a step boundary (2.4 s, then 2.6 s late): not news.
    assert beat_arriving(T0 + timedelta(seconds=60), 2.6) == T0
    # 6 s more than the one written: the kit's clock moved, written at once.
    at = T0 + timedelta(seconds=90)
    assert beat_arriving(at, 8.4) == at


def test_every_heartbeat_of_a_home_in_test_mode_is_written(tmp_path: Path) -> None:
    ingestor, clock = _thinning_ingestor(tmp_path)
    migrate_alerts(ingestor.store.connection)
    test_modes.add(
        ingestor.store.connection, home_id="home-1", kit_id=None, starts_at=T0,
        ends_at=T0 + timedelta(hours=1), set_by="installer", set_at=T0,
    )  # fmt: skip
    for n in range(4):
        at = T0 + timedelta(seconds=60 * n)
        clock.advance((at - clock.now()).total_seconds())
        ingestor.process_batch([_beat(at)])
        assert _last_heartbeat(ingestor)[0] == at  # the walk test's page ticks each minute
    assert ingestor.stats.get("heartbeats_not_written") == 0


def test_a_heartbeat_rolled_back_is_written_when_its_batch_is_retried(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec(), T0)
    ingestor = Ingestor(store, ManualClock(T0), HubStats(), heartbeat_every_s=120)
    blocker = sqlite3.connect(tmp_path / "hub.db", timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the batch fails
    store.connection.execute("PRAGMA busy_timeout=0")
    with pytest.raises(sqlite3.OperationalError):
        ingestor.process_batch([_beat(T0)])
    blocker.rollback()
    ingestor.process_batch([_beat(T0)])  # the retry, as the hub's worker does
    kit = store.kit("kit-1")
    assert kit is not None and kit.last_heartbeat_at == T0


def test_a_locked_database_rolls_back_the_whole_batch_for_a_retry(tmp_path: Path) -> None:
    setup = SqliteStore(tmp_path / "hub.db")
    setup.register_home(home_spec("home-1", "kit-1"), T0)
    setup.close()
    store = SqliteStore(tmp_path / "hub.db", busy_timeout_s=0.05)
    ingestor = Ingestor(store, ManualClock(T0), HubStats())
    other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock: a transient error
    press = {"sensor": "help", "kind": SensorKind.HELP_BUTTON, "value": "pressed"}
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        ingestor.process_batch([raw_event(1), raw_event(2, **press)])
    other.execute("ROLLBACK")
    assert store.count_events() == 0  # nothing half-stored and nothing rejected: retry it all
    assert ingestor.stats.rejected() == 0
    result = ingestor.process_batch([raw_event(1), raw_event(2, **press)])
    assert [o for o, _ in result.outcomes] == [Outcome.STORED, Outcome.STORED]
    assert [a.kind for a in result.new_alerts] == ["help_button"]
    other.close()
    store.close()


def test_a_message_the_store_refuses_is_rejected_alone_and_the_rest_stored(
    ingestor: Ingestor,
) -> None:
    # A real SQLite refusal of one row, as a corrupt index or a constraint would give.
    ingestor.store.connection.execute(
        "CREATE TRIGGER refuse_seq_7 BEFORE INSERT ON events WHEN NEW.seq = 7 "
        "BEGIN SELECT RAISE(ABORT, 'refused by the store'); END"
    )
    press = {"sensor": "help", "kind": SensorKind.HELP_BUTTON, "value": "pressed"}
    batch = [raw_event(seq) for seq in range(1, 20)] + [raw_event(20, **press)]
    result = ingestor.process_batch(batch)
    outcomes = [o for o, _ in result.outcomes]
    assert outcomes[6] == Outcome.REJECTED and result.outcomes[6][1] == "store_failed"
    assert outcomes.count(Outcome.STORED) == 19
    assert sorted(e.seq for e in ingestor.store.events()) == [s for s in range(1, 21) if s != 7]
    assert [a.kind for a in result.new_alerts] == ["help_button"]
    assert ingestor.stats.rejected("store_failed") == 1
    assert ingestor.stats.rejected_of_kit("kit-1") == {"store_failed": 1}
    assert ingestor.stats.get("stored") == 19


def test_events_from_a_clock_far_ahead_or_long_past_are_rejected_per_kit(
    ingestor: Ingestor,
) -> None:
    result = ingestor.process_batch(
        [
            raw_event(1, ts=T0 + timedelta(hours=35)),
            raw_event(2, ts=datetime(2099, 1, 1, tzinfo=UTC)),
            raw_event(3, ts=T0 + timedelta(seconds=299)),  # within the default skew
            raw_event(4, ts=T0 - timedelta(days=31)),
            raw_event(5, ts=T0 - timedelta(days=29)),  # an outbox emptied after an outage
        ]
    )
    assert [r for _, r in result.outcomes] == [
        "clock_ahead", "clock_ahead", None, "too_old", None,
    ]  # fmt: skip
    assert sorted(e.seq for e in ingestor.store.events()) == [3, 5]
    assert ingestor.stats.rejected_of_kit("kit-1") == {"clock_ahead": 2, "too_old": 1}


def test_the_time_limits_are_settings(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec("home-1", "kit-1"), T0)
    ingestor = Ingestor(
        store, ManualClock(T0), HubStats(), time_limits=TimeLimits(max_ahead_s=10, max_age_s=60)
    )
    result = ingestor.process_batch(
        [raw_event(1, ts=T0 + timedelta(seconds=11)), raw_event(2, ts=T0 - timedelta(seconds=61))]
    )
    assert [r for _, r in result.outcomes] == ["clock_ahead", "too_old"]
    store.close()


def test_a_heartbeat_records_the_kit_clock_offset_and_a_future_one_is_refused(
    ingestor: Ingestor,
) -> None:
    topic = topic_for("home-1", "kit-1", TopicKind.HEARTBEAT)
    beat = {"v": 1, "kit": "kit-1", "uptime_s": 5.0, "outbox_depth": 0, "dropped": 0}
    ahead = (T0 + timedelta(seconds=42)).isoformat().replace("+00:00", "Z")
    far = (T0 + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    result = ingestor.process_batch(
        [raw(topic, {**beat, "ts": ahead, "clock_offset_s": 41.5}), raw(topic, {**beat, "ts": far})]
    )
    assert [r for _, r in result.outcomes] == [None, "clock_ahead"]
    kit = ingestor.store.kit("kit-1")
    assert kit is not None and kit.last_heartbeat is not None
    assert kit.last_heartbeat["hub_offset_s"] == 42.0
    assert kit.last_heartbeat["clock_offset_s"] == 41.5


def test_a_flood_of_rejects_logs_a_bounded_number_of_lines(
    ingestor: Ingestor, caplog: pytest.LogCaptureFixture
) -> None:
    topic = topic_for("home-1", "kit-1", TopicKind.EVENTS)
    caplog.set_level(logging.WARNING)
    clock = ingestor.clock
    assert isinstance(clock, ManualClock)
    for _ in range(5):
        ingestor.process_batch([raw(topic, b"[" * 50 + b"]" * 50)] * 1000)
        clock.advance(61)
    ingestor.process_batch([raw(topic, b"not json")])
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.reject_log"]
    one_by_one = [m for m in lines if m.startswith("rejected message")]
    summaries = [m for m in lines if m.startswith("rejected ") and " more messages" in m]
    assert ingestor.stats.rejected("too_deep") == 5000  # every reject is counted
    assert len(one_by_one) == 10 + 1  # the first ten too_deep, the one not_json
    assert len(summaries) == 5  # one per minute
    assert sum(int(m.split()[1]) for m in summaries) == 5000 - 10


def _accel(seq: int, samples: list[list[float]]) -> RawMessage:
    body = {
        "v": 1, "kit": "kit-1", "epoch": 1, "seq": seq, "sensor": "pendant",
        "kind": "accel_window", "ts": "2026-11-23T06:00:04Z", "rate_hz": 50,
        "start": "2026-11-23T06:00:00Z", "trigger_index": min(225, len(samples) - 1),
        "samples": [[round(v, 4) for v in row] for row in samples],
    }
    return raw(topic_for("home-1", "kit-1", TopicKind.ACCEL), body)


def test_an_accelerometer_fall_window_raises_an_explained_fall_alert(ingestor: Ingestor) -> None:
    result = ingestor.process_batch([_accel(1, signals.fall(seed=3).tolist())])
    (alert,) = result.new_alerts
    assert alert.kind == "fall" and alert.severity == "critical"
    verdict = alert.detail["fall_detector"]
    assert verdict["is_fall"] is True and verdict["probability"] >= verdict["threshold"] - 1
    assert verdict["deciding"], "the alert says which features decided"


def test_sitting_down_hard_is_stored_but_raises_nothing(ingestor: Ingestor) -> None:
    result = ingestor.process_batch([_accel(1, signals.hard_sit(seed=3).tolist())])
    assert result.new_alerts == []
    assert ingestor.store.count_events() == 1


def test_an_unjudgeable_window_is_stored_and_ingest_goes_on(
    ingestor: Ingestor, caplog: pytest.LogCaptureFixture
) -> None:
    result = ingestor.process_batch([_accel(1, [[0.0, -1.0, 0.0]] * 5), raw_event(2)])
    assert "not classified" in caplog.text
    assert [o for o, _ in result.outcomes] == [Outcome.STORED, Outcome.STORED]
    assert result.new_alerts == []


def _renamed(home: str, kit: str, room: str) -> HomeSpec:
    """`home_spec(home, kit)` with its kitchen's motion sensor moved to `room`."""
    spec = home_spec(home, kit)
    sensors = [
        s.model_copy(update={"room": room}) if s.id == "pir-kitchen" else s
        for s in spec.kits[0].sensors
    ]
    return spec.model_copy(update={"kits": [spec.kits[0].model_copy(update={"sensors": sensors})]})


def test_a_room_renamed_by_another_process_is_seen_within_seconds(
    ingestor: Ingestor, tmp_path: Path
) -> None:
    ingestor.process_batch([raw_event(1)])  # kit-1 cached, its kitchen sensor in "Kitchen"
    assert ingestor.store.events()[-1].room == "Kitchen"
    # Re-provisioned from elsewhere (the CLI, another hub): nothing contradicts the cache.
    provisioning = SqliteStore(tmp_path / "hub.db")
    provisioning.register_home(_renamed("home-1", "kit-1", "Living room"), T0)
    provisioning.close()
    assert isinstance(ingestor.clock, ManualClock)
    ingestor.clock.advance(5)
    ingestor.process_batch([raw_event(2)])
    assert ingestor.store.events()[-1].room == "Living room"


def test_a_new_sensor_is_seen_at_its_first_message_after_reprovisioning(
    ingestor: Ingestor,
) -> None:
    ingestor.process_batch([raw_event(1, sensor="pir-kitchen")])  # kit-1 now cached
    spec = home_spec()
    kit = spec.kits[0]
    sensors = [*kit.sensors, SensorSpec(id="pir-hall", kind=SensorKind.MOTION, room="Hallway")]
    ingestor.store.register_home(
        spec.model_copy(update={"kits": [kit.model_copy(update={"sensors": sensors})]}), T0
    )
    ingestor.process_batch([raw_event(2, sensor="pir-hall")])  # no time has passed
    assert ingestor.store.events()[-1].room == "Hallway"
    assert ingestor.stats.get("unregistered_sensor") == 0


def test_registered_kits_are_not_read_again_per_message(ingestor: Ingestor) -> None:
    reads: list[str] = []
    ingestor.store.connection.set_trace_callback(
        lambda sql: reads.append(sql) if "FROM kits" in sql else None
    )
    assert isinstance(ingestor.clock, ManualClock)
    for minute in range(10):  # ten minutes of one kit's traffic, then a stray sensor's
        ingestor.process_batch([raw_event(minute + 1)])
        ingestor.clock.advance(60)
    assert len(reads) == 1
    for seq in range(20, 30):  # a sensor nobody registered: one read per 5 s at most
        ingestor.process_batch([raw_event(seq, sensor="pir-stray")])
        ingestor.clock.advance(1)
    assert len(reads) == 3


def test_a_writer_quiet_for_days_misses_no_re_provisioning(
    ingestor: Ingestor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.persistence.kit_changes, "KEPT_ROWS", 0)  # prune as soon as allowed
    assert isinstance(ingestor.clock, ManualClock)
    ingestor.process_batch([raw_event(1)])  # kit-1 cached (as the urgent writer after a press)
    provisioning = SqliteStore(tmp_path / "hub.db")
    provisioning.register_home(_renamed("home-1", "kit-1", "Living room"), T0 + timedelta(hours=12))
    for day, n in ((2, 8), (3, 9)):  # later changes: kit-1's is more than a day old, and gone
        provisioning.register_home(home_spec(f"home-{n}", f"kit-{n}"), T0 + timedelta(days=day))
    assert [kit for _, kit in provisioning.kit_changes_after(0)] == ["kit-8", "kit-9"]
    provisioning.close()
    ingestor.clock.advance(3.5 * 86400)
    ingestor.process_batch([raw_event(2)])
    assert ingestor.store.events()[-1].room == "Living room"


def _district(
    tmp_path: Path, size: int
) -> tuple[Ingestor, ManualClock, list[tuple[str, str]], list[str]]:
    """An ingestor over `size` registered homes of a kit each, and the reads of the kits table
    it makes from now on."""
    store = SqliteStore(tmp_path / "hub.db")
    homes = [(f"home-{n}", f"kit-{n}") for n in range(size)]
    for home, kit in homes:
        store.register_home(home_spec(home, kit), T0)
    clock = ManualClock(T0)
    reads: list[str] = []
    store.connection.set_trace_callback(
        lambda sql: reads.append(sql) if "FROM kits" in sql else None
    )
    return Ingestor(store, clock, HubStats()), clock, homes, reads


def test_a_writer_that_read_every_kit_at_start_reads_them_all_again_after_a_long_quiet(
    tmp_path: Path,
) -> None:
    ingestor, clock, homes, reads = _district(tmp_path, 20)
    ingestor.warm_kits()
    reads.clear()
    clock.advance(13 * 3600)  # a broker outage: then the whole district at once
    result = ingestor.process_batch([raw_event(1, home, kit) for home, kit in homes])
    assert all(outcome is Outcome.STORED for outcome, _ in result.outcomes)
    assert len(reads) == 1  # one page of every kit, not a read per kit


def test_every_kit_is_read_at_once_at_start_and_again_only_when_re_provisioned(
    tmp_path: Path,
) -> None:
    ingestor, clock, homes, reads = _district(tmp_path, 300)
    assert isinstance(ingestor.store, SqliteStore)
    store = ingestor.store
    assert ingestor.warm_kits() == len(homes)
    assert len(reads) == 1  # the kits in one query (their sensors in one more), before any message
    pages = list(store.kit_registrations(page=128))  # the same, 128 kits at a time
    assert [(k.id, k.sensors) for k in pages] == [
        (k.id, k.sensors) for k in store.kit_registrations()
    ]
    assert len(pages) == len(homes) and len(reads) == 1 + 1 + 3  # one read per page
    reads.clear()

    def every_kit_speaks(seq: int) -> int:
        before = len(reads)
        result = ingestor.process_batch([raw_event(seq, home, kit) for home, kit in homes])
        assert all(outcome is Outcome.STORED for outcome, _ in result.outcomes)
        return len(reads) - before

    assert every_kit_speaks(1) == 0  # the first messages after a start cost no reads
    clock.advance(6 * 3600)
    assert every_kit_speaks(2) == 0  # nor do hours of them: no kit is read again for its age
    provisioning = SqliteStore(tmp_path / "hub.db")
    for home, kit in homes[:200]:  # the registry file loaded again: nothing changed, no reads
        provisioning.register_home(home_spec(home, kit), clock.now())
    for home, kit in homes[:3]:
        provisioning.register_home(_renamed(home, kit, "Living room"), clock.now())
    provisioning.close()
    clock.advance(5)
    assert every_kit_speaks(3) == 3  # the three re-provisioned kits, each read once
    assert [e.room for e in store.events("home-0")] == ["Kitchen", "Kitchen", "Living room"]
    assert every_kit_speaks(4) == 0


def test_a_press_sent_on_events_is_stored_and_counted_for_the_operator(
    ingestor: Ingestor,
) -> None:
    press = {"sensor": "help", "kind": SensorKind.HELP_BUTTON, "value": "pressed"}
    on_urgent = raw_event(2, **press)
    on_urgent = RawMessage(
        topic_for("home-1", "kit-1", TopicKind.URGENT), on_urgent.payload, on_urgent.received_at
    )
    result = ingestor.process_batch([raw_event(1, **press), on_urgent, raw_event(3)])
    assert [o for o, _ in result.outcomes] == [Outcome.STORED] * 3
    # Only the one on `events` tells the operator a kit still sends presses there.
    assert ingestor.stats.get("urgent_on_events") == 1
    # Its second copy (the lane's, a redelivery) is a duplicate and is not counted again.
    assert ingestor.process_batch([raw_event(1, **press)]).outcomes == [(Outcome.DUPLICATE, None)]
    assert ingestor.stats.get("urgent_on_events") == 1
