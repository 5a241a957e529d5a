"""Through a real Mosquitto: a kit's events, duplicates and junk reach the hub; exactly the valid
unique events are stored, the rest is rejected and counted by reason, and help raises an alert."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hub.broker_auth import BrokerUser
from hub.config import HubSettings, MqttProtocol
from hub.persistence.sqlite_store import SqliteStore
from hub.service import Hub
from mehr.contract import SensorKind, TopicKind, make_event, topic_for
from mehr_app.cli import main
from mehr_app.services.hub_config import write_registry
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user


@pytest.fixture
def hub(tmp_path: Path, mosquitto: Mosquitto, hub_password: str) -> Iterator[Hub]:
    settings = HubSettings(
        mqtt_url=mosquitto.url,
        mqtt_username=HUB_USER,
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        db_path=tmp_path / "hub.db",
        registry_file=write_registry(
            tmp_path / "registry.yaml", [("home-1", "kit-1"), ("home-2", "kit-2")]
        ),
        stats_port=0,
    )
    hub = Hub(settings)
    hub.start()
    wait_until(hub.link.connected.is_set, 10, "hub connected")
    yield hub
    hub.stop()


def _kit(broker: Mosquitto, user: BrokerUser, home: str) -> SimpleKit:
    kit = SimpleKit(
        home, user.username, broker.host, broker.port, user.username, user.password, mqtt_v5=True
    )
    kit.connect()
    return kit


def test_kit_events_are_stored_exactly_once_and_junk_is_counted(
    mosquitto: Mosquitto, hub: Hub
) -> None:
    kit1, kit2 = kit_user("home-1", "kit-1"), kit_user("home-2", "kit-2")
    rogue = BrokerUser("rogue", "rogue-pass", ("topic write mehr/v1/#",))
    for user in (kit1, kit2, rogue):
        mosquitto.add_user(user)
    mosquitto.restart()
    wait_until(hub.link.connected.is_set, 15, "hub reconnected after broker restart")

    k1, k2, bad = _kit(mosquitto, kit1, "home-1"), _kit(mosquitto, kit2, "home-2"), None
    n_valid = 0
    sent_events = []
    for i in range(150):
        k1.event("pir-kitchen", SensorKind.MOTION, i % 2 == 0)
        n_valid += 1
    for _ in range(50):
        k2.event("door-front", SensorKind.DOOR, "open")
        n_valid += 1
    k2.event("help", SensorKind.HELP_BUTTON, "pressed")
    n_valid += 1
    # Duplicates: the same events sent again, as a kit does after a lost PUBACK.
    for seq in range(1, 31):
        sent_events.append(
            make_event(
                kit="kit-1",
                epoch=k1.epoch,
                seq=seq,
                sensor="pir-kitchen",
                kind=SensorKind.MOTION,
                value=(seq - 1) % 2 == 0,
                ts=k1.clock.now(),
            )
        )
    for message in sent_events:
        k1.resend(message)
    # Junk on the kit's own (allowed) topic.
    own = topic_for("home-1", "kit-1", TopicKind.EVENTS)
    good = json.loads(
        make_event(
            kit="kit-1",
            epoch=k1.epoch,
            seq=10_000,
            sensor="pir-kitchen",
            kind=SensorKind.MOTION,
            value=True,
            ts=k1.clock.now(),
        ).model_dump_json()
    )
    junk = [
        b"\x00\x01binary",
        b"{not json",
        json.dumps({**good, "v": 3}).encode(),
        json.dumps({**good, "surprise": 1}).encode(),
        json.dumps({**good, "kind": "smoke"}).encode(),
        json.dumps({**good, "kit": "kit-2"}).encode(),
        b"{" + b" " * 4096 + b"}",
    ]
    for payload in junk:
        k1.publish_raw(own, payload)
    # A misconfigured broker ACL lets 'rogue' write anywhere; the hub still refuses it.
    bad = SimpleKit(
        "home-1", "rogue", mosquitto.host, mosquitto.port, "rogue", "rogue-pass", mqtt_v5=True
    )
    bad.connect()
    bad.publish_raw(
        topic_for("home-2", "kit-1", TopicKind.EVENTS), json.dumps({**good, "seq": 20_000}).encode()
    )
    bad.publish_raw(
        topic_for("home-9", "kit-9", TopicKind.EVENTS),
        json.dumps({**good, "kit": "kit-9"}).encode(),
    )
    for kit in (k1, k2, bad):
        kit.flush()

    # + 2 foreign events + the rogue client's own birth message (it is no registered kit either)
    expected_seen = n_valid + len(sent_events) + len(junk) + 3
    wait_until(
        lambda: (
            hub.stats.get("stored") + hub.stats.get("duplicates") + hub.stats.rejected()
            >= expected_seen
        ),
        30,
        "hub to process everything",
    )
    assert hub.stats.get("stored") == n_valid
    assert hub.stats.get("duplicates") == len(sent_events)
    assert hub.stats.snapshot()["rejected"] == {
        "not_json": 2,
        "unsupported_version": 1,
        "unknown_field": 1,
        "unknown_kind": 1,
        "kit_mismatch": 1,
        "too_large": 1,
        "home_mismatch": 1,
        "unknown_kit": 2,
    }
    store = SqliteStore(hub.settings.db_path)
    try:
        assert store.count_events() == n_valid
        assert store.count_events("home-1") == 150
        assert {(e.kit_id, e.seq) for e in store.events("home-1")} == {
            ("kit-1", s) for s in range(1, 151)
        }
        alerts = store.alerts()
        assert [(a.home_id, a.kind) for a in alerts] == [("home-2", "help_button")]
        kit = store.kit("kit-1")
        assert kit is not None and kit.availability == "online"
    finally:
        store.close()
    for kit in (k1, k2):
        kit.close()
    bad.close(graceful=False)


def test_a_kit_cannot_publish_into_another_home(mosquitto: Mosquitto, hub: Hub) -> None:
    kit1 = kit_user("home-1", "kit-1")
    mosquitto.add_user(kit1)
    mosquitto.restart()
    wait_until(hub.link.connected.is_set, 15, "hub reconnected")
    k1 = _kit(mosquitto, kit1, "home-1")
    # Publish into home-2's topic with kit-1's credentials: the broker's ACL drops it.
    k1.publish_raw(topic_for("home-2", "kit-2", TopicKind.EVENTS), json.dumps({"v": 1}).encode())
    k1.event("pir-kitchen", SensorKind.MOTION, True)  # a marker that does arrive
    k1.flush()
    wait_until(lambda: hub.stats.get("stored") >= 1, 15, "marker stored")
    assert hub.stats.rejected() == 0  # the foreign publish never reached the hub
    k1.close()


def test_hub_with_wrong_broker_password_refuses_to_start(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mqtt_url": mosquitto.url,
                "mqtt_username": HUB_USER,
                "mqtt_password": "not-the-password",
                "db_path": str(tmp_path / "hub.db"),
                "stats_port": 0,
            }
        )
    )
    assert main(["hub", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"refused user '{HUB_USER}'" in err
    assert "Not authorized" in err or "Bad user name or password" in err
