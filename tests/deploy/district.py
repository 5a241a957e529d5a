"""A district's /etc laid out in a temp dir from the shipped files, and the shipped command lines
(compose services, systemd units) pointed at it: paths, host names and ports rewritten, nothing
else. No Docker engine runs here, so this is how far the compose path can be exercised."""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mehr_app.cli import main as mehr_main
from mehr_app.services.mosquitto import MOSQUITTO, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
UNITS = ROOT / "firmware_configs" / "systemd"
MEHR = Path(sys.executable).parent / "mehr"  # the venv's entry point, as /opt/mehr/.venv/bin/mehr


def compose() -> dict[str, Any]:
    """The shipped compose file, parsed."""
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def unit_exec_start(name: str) -> list[str]:
    """ExecStart of a shipped unit, split into argv."""
    for line in (UNITS / name).read_text().splitlines():
        if line.startswith("ExecStart="):
            return line.removeprefix("ExecStart=").split()
    raise AssertionError(f"{name} has no ExecStart")


@dataclass
class District:
    """One district's files under `root`, and the replacements that point shipped text at them."""

    root: Path
    hub_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    tls_port: int = field(default_factory=free_port)
    plain_port: int = field(default_factory=free_port)
    stats_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "mehr"

    @property
    def passwd_file(self) -> Path:
        """The broker's password file (the shipped /etc/mosquitto/mehr.passwd)."""
        return self.etc / "mosquitto" / "mehr.passwd"

    @property
    def acl_file(self) -> Path:
        """The broker's ACL file (the shipped /etc/mosquitto/mehr.acl)."""
        return self.etc / "mosquitto" / "mehr.acl"

    def replacements(self) -> list[tuple[str, str]]:
        """Shipped text -> this district (longest first: certs live in the district's pki)."""
        return [
            ("/opt/mehr/.venv/bin/mehr", str(MEHR)),
            ("/etc/mosquitto/conf.d/mehr.conf", str(self.root / "mosquitto.conf")),
            ("/etc/mosquitto/certs/", f"{self.etc}/pki/"),
            ("/etc/mosquitto/", f"{self.etc}/mosquitto/"),
            ("/var/lib/mosquitto/", f"{self.root}/var/lib/mosquitto/"),
            ("/etc/mehr/", f"{self.etc}/"),
            ("/var/lib/mehr/", f"{self.root}/var/lib/mehr/"),
            ("mqtts://mosquitto:8883", f"mqtts://localhost:{self.tls_port}"),
            ("127.0.0.1:1883", f"127.0.0.1:{self.plain_port}"),
            ("127.0.0.1:8787", f"127.0.0.1:{self.stats_port}"),
            ("127.0.0.1:8080", f"127.0.0.1:{self.web_port}"),
            ("stats_port: 8787", f"stats_port: {self.stats_port}"),
            ("port: 8080", f"port: {self.web_port}"),
            ("0.0.0.0", "127.0.0.1"),  # loopback only in a test
        ]

    def localise(self, text: str) -> str:
        """Rewrite paths, names and ports of shipped text for this district."""
        # One pass, so a replacement's result is never rewritten again by a later pattern.
        table = dict(self.replacements())
        pattern = re.compile("|".join(re.escape(shipped) for shipped in table))
        return pattern.sub(lambda match: table[match.group(0)], text)

    def argv(self, shipped: Sequence[str]) -> list[str]:
        """A shipped command line (compose `command` or `healthcheck`, or a unit's ExecStart)."""
        args = [self.localise(arg) for arg in shipped]
        if args[0] in ("hub", "web"):  # a compose command of the Mehr image: ENTRYPOINT mehr
            args.insert(0, str(MEHR))
        elif args[0] == "mehr":  # a health check inside the Mehr image
            args[0] = str(MEHR)
        elif args[0] == "mosquitto":
            args[0] = MOSQUITTO
        return args

    def lay_out(self) -> None:
        """Write what docs/deploy.md tells the operator to put in /etc/mehr, from shipped files."""
        (self.root / "var" / "lib" / "mehr").mkdir(parents=True)
        (self.root / "var" / "lib" / "mosquitto").mkdir(parents=True)
        pki = self.etc / "pki"
        assert mehr_main(["certs", "ca", "--dir", str(pki)]) == 0
        assert mehr_main(["certs", "server", "--dir", str(pki), "--dns", "mosquitto",
                          "--dns", "localhost", "--ip", "127.0.0.1"]) == 0  # fmt: skip
        for name in ("hub.yaml", "web.yaml"):
            (self.etc / name).write_text(
                self.localise((ROOT / "deploy" / "etc" / name).read_text())
            )
        shutil.copy(
            ROOT / "hub" / "alerts" / "examples" / "district.yaml", self.etc / "alerts.yaml"
        )
        for name in ("hub.password",):
            (self.etc / name).write_text(self.hub_password)
        (self.etc / "alerts.secret").write_text(secrets.token_urlsafe(48))
        (self.etc / "web.secret").write_text(secrets.token_urlsafe(48))
        broker = self.etc / "mosquitto"
        broker.mkdir()
        # The hub's broker users (its own and its urgent lane's) as the operator makes them.
        assert mehr_main(["hub", "broker-users", "--config", str(self.etc / "hub.yaml"),
                          "--passwd-file", str(self.passwd_file), "--acl-file",
                          str(self.acl_file), "--broker-user", getpass.getuser()]) == 0  # fmt: skip
        shipped = (ROOT / "firmware_configs" / "mosquitto" / "mehr.conf").read_text()
        conf = self.localise(
            shipped.replace("listener 8883", f"listener {self.tls_port}")
            .replace("listener 1883 ", f"listener {self.plain_port} ")
            .replace("log_dest syslog", f"log_dest file {self.root}/mosquitto.log")
        )
        # Run as the invoking user (as root Mosquitto would switch to "mosquitto", which cannot
        # read a test directory); the image runs it as its own user.
        (self.root / "mosquitto.conf").write_text(f"user {getpass.getuser()}\n{conf}")

    def start(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        """Start a service's command; its output goes to a log file named after it."""
        log = (self.root / f"{name}.log").open("wb")
        # The example district's gateways read their secrets from the environment (compose:
        # env_file mehr.env); a token of the right shape, never used: nothing is sent here.
        env = {**os.environ, "MEHR_TELEGRAM_TOKEN": "123456:test-token-not-used-anywhere",
               "MEHR_ESKIZ_PASSWORD": "not-used"}  # fmt: skip
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env=env
        )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        """What a started service printed."""
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        """Stop every started service, newest first."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()


def port_open(port: int) -> bool:
    """What the broker's health check asks: does the port accept a connection?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def passes(argv: list[str]) -> bool:
    """Run a health check command; True when it exits 0."""
    return subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode == 0
