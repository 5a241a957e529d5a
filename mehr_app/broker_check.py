"""The installer commands' broker check: one connection, one line saying what is wrong.

Used by `mehr edge --check` (on the kit: its own credentials and topics), `mehr kit check` and
`mehr kit provision` (at the hub). It imports paho, the kit's config model and the ACL's probe
topic (hub/broker_auth.py, standard library only), so it runs on the Pi. A check connects with a
clean session and no will and leaves with a clean DISCONNECT: with the shipped
`use_username_as_clientid` it briefly IS the kit at the broker, so run it before the kit's agent
starts (a running agent would be taken over and reconnect).
"""

from __future__ import annotations

import queue
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import KitConfig
from hub.broker_auth import kit_check_topic

__all__ = ["BrokerCheck", "check_broker", "check_kit_broker"]


@dataclass(frozen=True, slots=True)
class BrokerCheck:
    """The outcome: `problem` is None when all is well; `line` is what a person reads."""

    problem: str | None  # "unreachable", "refused", "not-authorised" or None
    line: str
    # The same finding as a catalogue key (`cli_broker_…`) and its values, so the installer's
    # command can say it in their language; `line` is its English, for the kit without Babel.
    key: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the broker answered as it should."""
        return self.problem is None


def _found(problem: str | None, key: str, english: str, **values: object) -> BrokerCheck:
    """A finding: its English line (the same text as en.po's `key`) and its key and values."""
    texts = {name: str(value) for name, value in values.items()}
    return BrokerCheck(problem, english.format(**texts), key, texts)


def _address(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return parts.hostname or "", parts.port or (8883 if tls else 1883), tls


def check_broker(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    protocol: str = "5",
    ca_file: Path | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    write_topic: str | None = None,
    timeout_s: float = 10.0,
) -> BrokerCheck:
    """Connect once; with no username, any answer (even a refusal) proves the broker is there."""
    host, port, tls = _address(url)
    where = f"{host}:{port}"
    v5 = protocol == "5"
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=username or "",
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else True,
    )
    if username is not None:
        client.username_pw_set(username, password)
    answers: queue.Queue[Any] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, rc, _p: answers.put(rc)
    client.on_publish = lambda _c, _u, _m, rc, _p: answers.put(rc)
    try:
        if tls:
            client.tls_set(
                ca_certs=str(ca_file) if ca_file else None,
                certfile=str(client_cert) if client_cert else None,
                keyfile=str(client_key) if client_key else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.connect(host, port, keepalive=30)
    except ssl.SSLError as exc:
        return _found("unreachable", "cli_broker_tls_failed",
                      "broker {where}: TLS failed: {reason}", where=where, reason=exc.reason or exc)
    except OSError as exc:
        return _found("unreachable", "cli_broker_unreachable",
                      "broker {where} unreachable: {reason}", where=where,
                      reason=exc.strerror or exc)
    client.loop_start()
    try:
        return _converse(client, answers, where, username, write_topic if v5 else None,
                         timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()


def _converse(
    client: mqtt.Client,
    answers: queue.Queue[Any],
    where: str,
    username: str | None,
    write_topic: str | None,
    timeout_s: float,
) -> BrokerCheck:
    """Read the CONNACK, then (MQTT 5, a user with a topic) the PUBACK of a probe message."""
    try:
        code = answers.get(timeout=timeout_s)
    except queue.Empty:
        return _found("unreachable", "cli_broker_no_answer",
                      "broker {where} did not answer within {seconds} s",
                      where=where, seconds=f"{timeout_s:.0f}")
    if username is None:
        return _found(None, "cli_broker_answers", "broker {where} answers", where=where)
    if code.is_failure:
        return _found("refused", "cli_broker_refused",
                      "broker {where} refused the credentials of {user} ({code})",
                      where=where, user=username, code=code)
    if write_topic is None:
        return _found(None, "cli_broker_accepts_v311",
                      "broker {where} accepts {user} (its topics are checked only over MQTT 5)",
                      where=where, user=username)
    return _authorised(client, answers, where, username, write_topic, timeout_s)


def _authorised(
    client: mqtt.Client,
    answers: queue.Queue[Any],
    where: str,
    username: str,
    write_topic: str,
    timeout_s: float,
) -> BrokerCheck:
    """Publish an empty probe: the MQTT 5 PUBACK says whether the user's ACL block is in force."""
    client.publish(write_topic, b"", qos=1)
    try:
        code = answers.get(timeout=timeout_s)
    except queue.Empty:
        return _found("unreachable", "cli_broker_no_puback",
                      "broker {where} did not acknowledge a publish", where=where)
    if code.is_failure:
        return _found(
            "not-authorised", "cli_broker_not_authorised",
            "broker {where} accepts {user} but refuses its topics ({code}): its ACL block is "
            "missing, names another home, or the broker was not reloaded",
            where=where, user=username, code=code,
        )
    return _found(None, "cli_broker_authorised",
                  "broker {where} accepts {user}, authorised for its topics",
                  where=where, user=username)


def check_kit_broker(config: KitConfig, timeout_s: float = 10.0) -> BrokerCheck:
    """Check the kit's broker, credentials and ACL exactly as its agent will use them."""
    broker = config.broker
    try:
        password = broker.password_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return _found("refused", "cli_broker_no_password",
                      "cannot read the broker password file {path}: {reason}",
                      path=broker.password_file, reason=exc.strerror)
    return check_broker(
        broker.url,
        username=config.username,
        password=password,
        protocol=broker.protocol,
        ca_file=broker.ca_file,
        client_cert=broker.client_cert,
        client_key=broker.client_key,
        write_topic=kit_check_topic(config.home_id, config.kit_id),
        timeout_s=timeout_s,
    )
