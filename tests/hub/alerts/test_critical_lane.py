"""The alert engine's critical lane: a help press is notified while the full engine is stuck in
a long pass over other alerts, and every message still goes out once.

At 100,000 homes a first scan pass raised 3,915 alerts together; help presses raised while the
engine adopted, stepped and sent them waited up to 10 s for their first message.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.alerts.channels import RecordingChannel, SendResult
from hub.alerts.config import AlertsConfig
from hub.alerts.delivery import SendsInFlight
from hub.alerts.engine import AlertEngine, AlertRunner, open_alerts_db
from hub.alerts.tokens import TokenSigner
from hub.coordination import EVERY_HOME, SettledOwnership
from hub.persistence import alerts as alerts_repo
from hub.persistence import notifications as notifications_repo
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewAlert
from hub.write_priority import PriorityWriters
from mehr.clock import ManualClock
from mehr_app.services.wait import wait_until
from tests.hub.alerts.conftest import SECRET, T0, config_dict, home

BACKLOG = 30


class GatedChannel(RecordingChannel):
    """Records every message; a message about anything but a help press waits for `gate`,
    as a slow gateway would hold the full engine in the middle of a backlog."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.held = threading.Event()  # the full engine is waiting inside a send

    def send(self, url: str, subject: str, body: str) -> SendResult:
        if "help button" not in f"{subject} {body}".lower():
            self.held.set()
            self.gate.wait(30)
        with self.lock:
            return super().send(url, subject, body)


def district(tmp_path: Path, homes: int = 1) -> Path:
    """A database with home-1 … home-N registered, one kit each."""
    db_path = tmp_path / "hub.db"
    store = SqliteStore(db_path)
    for i in range(1, homes + 1):
        store.register_home(home(f"home-{i}", f"kit-{i}"), T0)
    store.close()
    return db_path


@contextmanager
def full_and_critical(
    db_path: Path, critical_channel: RecordingChannel
) -> Iterator[tuple[AlertEngine, AlertEngine, ManualClock]]:
    """The engine's two lanes on their own connections, sharing what is in flight; the
    critical lane sends through `critical_channel`."""
    config = AlertsConfig.model_validate(config_dict())
    clock = ManualClock(T0)
    in_flight = SendsInFlight()
    full = AlertEngine(
        open_alerts_db(db_path), config, clock, RecordingChannel(), in_flight=in_flight
    )
    critical = AlertEngine(
        open_alerts_db(db_path), config, clock, critical_channel, critical_only=True,
        in_flight=in_flight,
    )  # fmt: skip
    try:
        yield full, critical, clock
    finally:
        full.conn.close()
        critical.conn.close()


def raise_alert(db_path: Path, home_id: str, kind: str, severity: str) -> int:
    store = SqliteStore(db_path)
    try:
        record, _ = store.raise_alert(NewAlert(home_id, kind, severity, T0, None, {}))
        store.commit()
    finally:
        store.close()
    return record.id


def test_a_press_is_sent_while_the_full_engine_is_held_in_a_backlog(tmp_path: Path) -> None:
    db_path = district(tmp_path, BACKLOG + 1)
    settings = config_dict()
    for someone in settings["people"]:
        someone["languages"] = ["en"]  # the channel tells a press's messages by their words
    config = AlertsConfig.model_validate(settings)
    channel = GatedChannel()
    priority = PriorityWriters()
    marked: list[bool] = []

    @contextmanager
    def write_first() -> Iterator[None]:
        with priority.first():
            marked.append(priority.busy())
            yield

    runner = AlertRunner(
        db_path, config, ManualClock(T0), channel, TokenSigner(SECRET), "https://mehr.test",
        write_first=write_first,
    )  # fmt: skip
    for i in range(2, BACKLOG + 2):
        raise_alert(db_path, f"home-{i}", "not_back", "medium")
    runner.start()
    try:
        wait_until(channel.held.is_set, 10, "the full engine held inside its backlog")
        raise_alert(db_path, "home-1", "help_button", "critical")
        runner.wake()
        # Home-1's family and its on-call worker hear of it while the backlog is still held.
        wait_until(lambda: len(channel.sent) >= 4, 10, "the press's first messages")
        assert not channel.gate.is_set()
        assert all("help button" in (s + b).lower() for _, s, b in channel.sent)
        assert marked and all(marked)  # the lane's writes went before routine batches
        channel.gate.set()
        assert runner.run_pass(30)
        wait_until(lambda: len(channel.sent) >= BACKLOG + 4, 30, "the backlog went out too")
        assert runner.run_pass(30)
    finally:
        channel.gate.set()
        runner.stop()
    assert runner.errors == 0
    # Each message once: neither lane sent what the other had claimed.
    assert len(channel.sent) == len(set(channel.sent)), channel.sent
    recipients = [url for url, s, b in channel.sent if "help button" in (s + b).lower()]
    assert len(recipients) == 4  # family first, on call, family with worker, family informed


def test_recovery_in_one_lane_leaves_the_other_lanes_send_alone(tmp_path: Path) -> None:
    """The full engine marks sends a killed process left behind "unknown" (at its start, at a
    takeover); a send the critical lane is making at that moment is not one of them."""
    db_path = district(tmp_path)

    class RecoveryMeanwhile(RecordingChannel):
        full: AlertEngine

        def send(self, url: str, subject: str, body: str) -> SendResult:
            self.full.delivery.resolve_interrupted_sends(self.full.clock.now())  # its recovery
            return super().send(url, subject, body)

    channel = RecoveryMeanwhile()
    with full_and_critical(db_path, channel) as (full, critical, _):
        channel.full = full
        alert_id = raise_alert(db_path, "home-1", "help_button", "critical")
        critical.run_due()
        assert len(channel.sent) == 4
        actions = [entry.action for entry in critical.service.history(alert_id)]
        assert "delivery_outcome_unknown" not in actions
        assert not notifications_repo.interrupted_sends(critical.conn)


class Leases:
    """Partitions held by this hub at fencing epochs: what the lease coordinator reports."""

    def __init__(self, held: dict[int, int]) -> None:
        self.now = held

    def owns(self, key: str) -> bool:
        return self.partition(key) in self.now

    def held(self) -> dict[int, int]:
        return dict(self.now)

    def partition(self, key: str) -> int | None:
        return int(key.rsplit("-", 1)[1]) % 4


def test_the_critical_lane_acts_only_where_the_full_engine_settled_interrupted_sends() -> None:
    alone = SettledOwnership(EVERY_HOME)
    assert not alone.owns("home-1")  # before the full engine's first recovery: nothing
    alone.settle({})
    assert alone.owns("home-1")

    leases = Leases({0: 1, 1: 1})
    settled = SettledOwnership(leases)
    settled.settle(leases.held())
    assert settled.owns("home-4") and settled.owns("home-5")
    assert not settled.owns("home-6")  # another hub's
    leases.now[2] = 3  # taken over from a dead hub: its sends are not settled yet
    assert not settled.owns("home-6")
    leases.now[1] = 2  # lost and taken back: a new takeover
    assert not settled.owns("home-5")
    assert settled.held() == {0: 1}
    settled.settle(leases.held())
    assert settled.owns("home-6") and settled.owns("home-5")


def test_a_send_that_finished_after_recovery_read_it_is_left_as_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full engine reads the sends without an outcome, and one of them is the critical
    lane's, which then finishes before the full engine gets to it: the send stays sent, with no
    "unknown" in its story (review of the critical lane: it was overwritten as unknown)."""
    db_path = district(tmp_path)
    read_meanwhile: list[notifications_repo.InterruptedSend] = []

    class ReadDuringSend(RecordingChannel):
        full: AlertEngine

        def send(self, url: str, subject: str, body: str) -> SendResult:
            if not read_meanwhile:  # the full engine's read, while this send is in flight
                read_meanwhile.extend(notifications_repo.interrupted_sends(self.full.conn))
            return super().send(url, subject, body)

    channel = ReadDuringSend()
    with full_and_critical(db_path, channel) as (full, critical, clock):
        channel.full = full
        alert_id = raise_alert(db_path, "home-1", "help_button", "critical")
        critical.run_due()
        assert len(read_meanwhile) == 1
        # The full engine goes on from that read, after the lane has finished the send.
        monkeypatch.setattr(
            notifications_repo, "interrupted_sends", lambda conn, nid=None: read_meanwhile
        )
        full.delivery.resolve_interrupted_sends(clock.now())
        note = read_meanwhile[0].notification_id
        statuses = {n.id: n.status for n in critical.service.notifications(alert_id)}
        assert statuses[note] == "sent"
        actions = [entry.action for entry in critical.service.history(alert_id)]
        assert "delivery_outcome_unknown" not in actions
        assert actions.count("notified") == 1


def test_an_alert_is_marked_notified_once(tmp_path: Path) -> None:
    """Two lanes (or hubs) reaching two people of one alert at once: only the first moves it
    from raised to notified, so "notified" is audited once."""
    db_path = district(tmp_path)
    alert_id = raise_alert(db_path, "home-1", "help_button", "critical")
    conn = open_alerts_db(db_path)
    try:
        assert alerts_repo.mark_notified(conn, alert_id, T0)
        assert not alerts_repo.mark_notified(conn, alert_id, T0)
    finally:
        conn.close()
