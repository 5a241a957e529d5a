"""Home Assistant MQTT discovery for the homes whose families opted in.

For each such home the hub publishes retained discovery configs (HA's documented schema:
device block, unique_id, availability with value_template, device_class, state_class) and one
retained JSON state under the home's own prefix `mehr-ha/<home_id>/`. The family's Home
Assistant connects as a broker user that may read only that prefix (and the hub's availability),
with its MQTT discovery prefix set to `mehr-ha/<home_id>/homeassistant`. Nothing here reaches
the kits' topics: the family sees the resident's status, not the raw sensor stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from hub.persistence.connection import Connection
from hub.persistence.reports import home_snapshot
from hub.persistence.sqlite_store import SqlStore
from mehr.contract import validate_id
from mehr.vocabulary import LanguageCode

__all__ = [
    "HA_ROOT",
    "HUB_AVAILABILITY_TOPIC",
    "HomeAssistantPublisher",
    "HomeState",
    "discovery_messages",
    "family_acl_rules",
    "home_state",
    "publisher_acl_rules",
]

_LOGGER = logging.getLogger(__name__)

HA_ROOT: Final = "mehr-ha"
# One topic for the hub's own liveness: the publisher's last will sets it offline, so every
# family's entities turn "unavailable" when the hub dies instead of showing a stale "OK".
HUB_AVAILABILITY_TOPIC: Final = f"{HA_ROOT}/_hub/availability"
Language = LanguageCode  # the name this module's callers import

# Entity names as the family reads them in Home Assistant.
_NAMES: Final[dict[str, tuple[str, str, str]]] = {
    # key: (uz, ru, en)
    "status": ("Holati", "Состояние", "Status"),
    "last_movement": ("Oxirgi harakat", "Последнее движение", "Last movement"),
    "kit": ("Uskuna aloqasi", "Связь с комплектом", "Kit connection"),
    "battery": ("Eng past batareya", "Минимальный заряд", "Lowest battery"),
}
_LANG_INDEX: Final = {"uz": 0, "ru": 1, "en": 2}
# Alert kinds whose open alert makes the status "alert"; any other open alert is "attention".
_ALERT_SEVERITIES: Final = frozenset({"critical", "high"})


def _prefix(home_id: str) -> str:
    return f"{HA_ROOT}/{validate_id(home_id, 'home id')}"


def state_topic(home_id: str) -> str:
    """The retained state topic of one home."""
    return f"{_prefix(home_id)}/state"


def discovery_prefix(home_id: str) -> str:
    """The discovery prefix the family sets in its Home Assistant's MQTT options."""
    return f"{_prefix(home_id)}/homeassistant"


def family_acl_rules(home_id: str) -> tuple[str, ...]:
    """Mosquitto ACL rules of a family's Home Assistant user: its home's prefix, read only."""
    return (f"topic read {_prefix(home_id)}/#", f"topic read {HUB_AVAILABILITY_TOPIC}")


def publisher_acl_rules() -> tuple[str, ...]:
    """ACL rules of the hub's Home Assistant publisher: write under the root, nothing else."""
    return (f"topic write {HA_ROOT}/#",)


def discovery_messages(
    home_id: str, home_name: str, language: Language = "uz"
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of every discovery config of one home."""
    names = {key: value[_LANG_INDEX[language]] for key, value in _NAMES.items()}
    object_base = f"mehr_{home_id.replace('-', '_')}"
    device = {
        "identifiers": [object_base],
        "name": f"Mehr: {home_name or home_id}",
        "manufacturer": "Mehr",
        "model": "Home safety kit",
    }
    common = {
        "device": device,
        "origin": {"name": "Mehr hub"},
        "state_topic": state_topic(home_id),
        "availability": [
            {
                "topic": HUB_AVAILABILITY_TOPIC,
                "value_template": "{{ value_json.state }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ],
        "qos": 1,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "sensor",
            "status",
            {
                "device_class": "enum",
                "options": ["ok", "attention", "alert"],
                "value_template": "{{ value_json.status }}",
                "icon": "mdi:account-heart",
            },
        ),
        (
            "sensor",
            "last_movement",
            {
                "device_class": "timestamp",
                "value_template": "{{ value_json.last_movement | default(None) }}",
            },
        ),
        (
            "binary_sensor",
            "kit",
            {
                "device_class": "connectivity",
                "value_template": "{{ value_json.kit }}",
                "payload_on": "online",
                "payload_off": "offline",
                "entity_category": "diagnostic",
            },
        ),
        (
            "sensor",
            "battery",
            {
                "device_class": "battery",
                "state_class": "measurement",
                "unit_of_measurement": "%",
                "value_template": "{{ value_json.battery | default(None) }}",
                "entity_category": "diagnostic",
            },
        ),
    ]
    out = []
    for component, key, extra in entities:
        object_id = f"{object_base}_{key}"
        payload = {**common, **extra, "name": names[key], "unique_id": object_id}
        out.append((f"{discovery_prefix(home_id)}/{component}/{object_id}/config", payload))
    return out


@dataclass(frozen=True, slots=True)
class HomeState:
    """What the family's Home Assistant shows about one home."""

    status: Literal["ok", "attention", "alert"]
    last_movement: datetime | None
    kit: Literal["online", "offline"]
    battery: float | None

    def to_json(self) -> dict[str, Any]:
        """The retained state payload."""
        return {
            "status": self.status,
            "last_movement": self.last_movement.isoformat() if self.last_movement else None,
            "kit": self.kit,
            "battery": self.battery,
        }


def home_state(conn: Connection, home_id: str) -> HomeState:
    """The home's status from the store: open alerts, last sign of life, kits, batteries."""
    snapshot = home_snapshot(conn, home_id)
    kits = snapshot.kit_availability
    kit_online = bool(kits) and all(k == "online" for k in kits)
    status: Literal["ok", "attention", "alert"] = "ok"
    if snapshot.open_alert_severities & _ALERT_SEVERITIES:
        status = "alert"
    elif snapshot.open_alert_severities or not kit_online:
        status = "attention"
    return HomeState(
        status=status,
        last_movement=snapshot.last_sign_of_life,
        kit="online" if kit_online else "offline",
        battery=snapshot.lowest_battery,
    )


Publish = Callable[[str, bytes, bool], object]


class HomeAssistantPublisher:
    """Publishes discovery once per home and each home's state when it changed."""

    def __init__(
        self,
        store: SqlStore,
        publish: Publish,
        homes: dict[str, Language],
    ) -> None:
        for home_id in homes:
            validate_id(home_id, "home id")
        self.store = store
        self._publish = publish
        self.homes = homes
        self._announced: set[str] = set()
        self._last: dict[str, dict[str, Any]] = {}

    def announce(self) -> int:
        """Publish every opted-in home's discovery configs (retained); return how many."""
        names = {h.id: h.name for h in self.store.homes()}
        count = 0
        for home_id, language in self.homes.items():
            if home_id not in names:
                _LOGGER.warning("Home Assistant: home %s is not registered; skipped", home_id)
                continue
            for topic, payload in discovery_messages(home_id, names[home_id], language):
                self._publish(topic, json.dumps(payload).encode(), True)
                count += 1
            self._announced.add(home_id)
        return count

    def publish_states(self, force: bool = False) -> int:
        """Publish the state of each announced home that changed (all if `force`); count them."""
        sent = 0
        for home_id in sorted(self._announced):
            state = home_state(self.store.connection, home_id).to_json()
            if not force and self._last.get(home_id) == state:
                continue
            self._publish(state_topic(home_id), json.dumps(state).encode(), True)
            self._last[home_id] = state
            sent += 1
        return sent
