"""A test's own MQTT 5 client, logged in as one broker user (its username is its client id)."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.broker_auth import BrokerUser

__all__ = ["v5_client"]


def v5_client(user: BrokerUser) -> mqtt.Client:
    """An MQTT 5 paho client for `user`, not yet connected."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=user.username,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(user.username, user.password)
    return client
