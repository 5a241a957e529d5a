"""`mehr certs`: the CA and broker certificate it issues work on a real Mosquitto TLS listener
that requires client certificates, and a kit connects with the certificate issued for it."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from mehr.contract import TopicKind, topic_for
from mehr_app.cli import main
from mehr_app.services.mosquitto import Mosquitto, free_port
from mehr_app.services.wait import wait_until
from tests.conftest import HUB_USER, kit_user

_TOPIC = topic_for("home-1", "kit-1", TopicKind.EVENTS)


def _client(
    name: str, username: str, password: str, ca: Path, cert: Path | None, key: Path | None
) -> tuple[mqtt.Client, threading.Event, list[str]]:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=name,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.username_pw_set(username, password)
    client.tls_set(ca_certs=str(ca), certfile=cert and str(cert), keyfile=key and str(key),
                   tls_version=ssl.PROTOCOL_TLS_CLIENT)  # fmt: skip
    answered = threading.Event()
    outcome: list[str] = []

    def on_connect(client: mqtt.Client, userdata: object, flags: object, rc: object,
                   props: object) -> None:  # fmt: skip
        outcome.append(str(rc))
        answered.set()

    client.on_connect = on_connect
    return client, answered, outcome


def _issue(pki: Path) -> None:
    assert main(["certs", "ca", "--dir", str(pki), "--name", "Test district CA"]) == 0
    assert main(["certs", "server", "--dir", str(pki), "--dns", "localhost",
                 "--ip", "127.0.0.1"]) == 0  # fmt: skip
    assert main(["certs", "kit", "--dir", str(pki), "--home", "home-1", "--kit", "kit-1"]) == 0


def test_issued_certificates_carry_a_kit_over_a_client_certificate_listener(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    """The broker presents broker.crt (verified against ca.crt with the hostname checked); the
    kit's own certificate lets it in and its event reaches the hub's subscription."""
    pki = tmp_path / "pki"
    _issue(pki)
    for key in (pki / "ca.key", pki / "broker.key", pki / "kits" / "kit-1.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    port = free_port()
    mosquitto.extra_conf = (
        f"listener {port} localhost\ncafile {pki / 'ca.crt'}\ncertfile {pki / 'broker.crt'}\n"
        f"keyfile {pki / 'broker.key'}\ntls_version tlsv1.2\nrequire_certificate true\n"
    )
    mosquitto.restart()

    received = threading.Event()
    subscribed = threading.Event()
    hub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="hub-test")
    hub.username_pw_set(HUB_USER, hub_password)
    hub.on_message = lambda *_: received.set()
    hub.on_subscribe = lambda *_: subscribed.set()
    hub.connect(mosquitto.host, mosquitto.port)
    hub.subscribe(_TOPIC, qos=1)
    hub.loop_start()
    assert subscribed.wait(10), "the hub's subscription was not acknowledged"

    kit_dir = pki / "kits"
    kit, answered, outcome = _client(
        "kit-1", user.username, user.password, pki / "ca.crt",
        kit_dir / "kit-1.crt", kit_dir / "kit-1.key",
    )  # fmt: skip
    try:
        kit.connect("localhost", port)
        kit.loop_start()
        assert answered.wait(10), "no CONNACK over TLS"
        assert outcome == ["Success"]
        kit.publish(_TOPIC, b"{}", qos=1).wait_for_publish(10)
        assert received.wait(10), "the kit's message did not reach the hub"
    finally:
        kit.loop_stop()
        kit.disconnect()
        hub.loop_stop()
        hub.disconnect()


def test_a_client_without_a_certificate_is_refused_by_the_listener(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """require_certificate: a stolen password alone does not get a client onto the TLS port."""
    pki = tmp_path / "pki"
    _issue(pki)
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    port = free_port()
    mosquitto.extra_conf = (
        f"listener {port} localhost\ncafile {pki / 'ca.crt'}\ncertfile {pki / 'broker.crt'}\n"
        f"keyfile {pki / 'broker.key'}\ntls_version tlsv1.2\nrequire_certificate true\n"
    )
    mosquitto.restart()
    # restart() waits for the broker's first port; the TLS listener may open a moment later
    # (a fresh-clone run was refused on it once).
    wait_until(lambda: _accepts("localhost", port), 10, f"the TLS listener on {port}")
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    # The server certificate verifies (hostname and CA); the missing client certificate is
    # refused by the broker, at the handshake or at the first read (TLS 1.3).
    with (
        socket.create_connection(("localhost", port), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"\x10\x00")
        if tls.recv(1) == b"":
            raise ConnectionResetError("closed by the broker")


def test_certs_refuse_to_overwrite_a_ca_or_to_sign_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `ca` would orphan every issued kit; a server cert needs the CA first."""
    pki = tmp_path / "pki"
    assert main(["certs", "server", "--dir", str(pki), "--dns", "mqtt.example.uz"]) == 1
    assert "run `mehr certs ca" in capsys.readouterr().err
    assert main(["certs", "ca", "--dir", str(pki)]) == 0
    first = (pki / "ca.crt").read_bytes()
    assert main(["certs", "ca", "--dir", str(pki)]) == 1
    assert "exists" in capsys.readouterr().err
    assert (pki / "ca.crt").read_bytes() == first


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
