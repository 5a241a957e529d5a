"""A real Mosquitto broker on a free loopback port, with a password file, an ACL file and the
shipped broker settings (identity and durability from firmware_configs/mosquitto/mehr.conf)."""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from hub.broker_auth import BrokerUser, acl_text, password_line
from mehr_app.services.ports import free_port

__all__ = ["HUB_USER", "MOSQUITTO", "SHIPPED_CONF", "Mosquitto", "free_port", "shipped_settings"]

# The hub's broker user in local brokers (tests, benchmarks, the demo with Mosquitto).
HUB_USER = "mehr-hub"

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SHIPPED_CONF = Path(__file__).resolve().parents[2] / "firmware_configs" / "mosquitto" / "mehr.conf"

# Lines of the shipped config that name the district's machine (listeners, certificates, file
# paths, logging); a test broker puts its own in their place. Everything else (identity,
# durability, queue and packet limits) is taken from the shipped file as it is.
_SITE_KEYS = frozenset({
    "listener", "protocol", "cafile", "capath", "certfile", "keyfile", "tls_version",
    "require_certificate", "password_file", "acl_file", "persistence_location", "log_dest",
    "log_type", "connection_messages", "user", "pid_file",
})


def shipped_settings(path: Path = SHIPPED_CONF) -> dict[str, str]:
    """The shipped config's identity, durability and limit settings, as option -> value."""
    settings: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key not in _SITE_KEYS:
            # Listener options repeat once per listener with the same value; one copy is enough
            # for the test broker's single listener.
            settings[key] = value.strip()
    return settings


class Mosquitto:
    """One Mosquitto process; users and ACLs are files it reads at start."""

    def __init__(
        self,
        workdir: Path,
        users: Iterable[BrokerUser] = (),
        overrides: dict[str, str] | None = None,
        run_as: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.users: dict[str, BrokerUser] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_conf = ""
        # None: run as the invoking user. A name (as root): Mosquitto drops to that user, as the
        # Debian service does, and every file it reads or writes must be that user's to read.
        self.run_as = run_as
        # The shipped settings, with `overrides` (option -> value) for benches that compare.
        self.settings = {**shipped_settings(), **(overrides or {})}
        for user in users:
            self.users[user.username] = user

    @property
    def url(self) -> str:
        """mqtt:// URL of the plain listener."""
        return f"mqtt://{self.host}:{self.port}"

    def add_user(self, user: BrokerUser) -> None:
        """Add (or replace) a user; takes effect at the next (re)start."""
        self.users[user.username] = user

    @property
    def passwd_file(self) -> Path:
        """The password file the broker reads."""
        return self.workdir / "passwd"

    @property
    def acl_file(self) -> Path:
        """The ACL file the broker reads."""
        return self.workdir / "acl"

    def _write_config(self) -> Path:
        pw, acl = self.passwd_file, self.acl_file
        pw.write_text(
            "".join(password_line(u.username, u.password) + "\n" for u in self.users.values())
        )
        acl.write_text(acl_text(self.users.values()))
        if self.run_as is not None:
            # Installed as an operator would: the broker's own files, readable by it alone.
            gid = pwd.getpwnam(self.run_as).pw_gid
            for path in (self.workdir, pw, acl):
                shutil.chown(path, self.run_as, gid)
            pw.chmod(0o600)
            acl.chmod(0o600)
        shipped = "".join(f"{key} {value}\n" for key, value in self.settings.items())
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            # By default run as the invoking user: as root, mosquitto would drop to "mosquitto"
            # and could not write its persistence file in the test directory.
            f"""user {self.run_as or getpass.getuser()}
listener {self.port} 127.0.0.1
password_file {pw}
acl_file {acl}
persistence_location {self.workdir}/
{shipped}log_dest file {self.workdir}/mosquitto.log
log_type error
log_type warning
log_type notice
{self.extra_conf}
"""
        )
        return conf

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        conf = self._write_config()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.workdir / "mosquitto.log").read_text(errors="replace")
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)  # waiting for a real process to listen, not for time to pass
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        """Stop the broker (it saves persistent sessions on a clean stop)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            # It writes its whole persistence snapshot on the way out: on a loaded machine that
            # took over 10 s once (a fresh-clone run); a kill here would lose what tests restart
            # it to keep.
            deadline = time.monotonic() + 60
            while not self._exited_within(0.5):
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(self.proc.args, 60)
                # Mosquitto 2.0 blocks signals while it waits for its sockets, and an idle
                # broker waits up to a minute: the SIGTERM stays pending until something
                # happens (seen in /proc/<pid>/status: ShdPnd 0x4000 in do_epoll_wait). A
                # connection is something.
                with contextlib.suppress(OSError):
                    socket.create_connection((self.host, self.port), timeout=0.2).close()
        self.proc = None

    def _exited_within(self, seconds: float) -> bool:
        assert self.proc is not None
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would: no save on the way out."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def reload(self) -> None:
        """SIGHUP, as `systemctl reload mosquitto` does: re-read password and ACL files."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGHUP)

    def restart(self) -> None:
        """Stop and start on the same port, keeping persistence."""
        self.stop()
        self.start()
