"""A real PostgreSQL server on a free loopback port, in a temporary directory (OS package
binaries in /usr/lib/postgresql/<version>/bin), as tests/support/mosquitto.py does for Mosquitto.

initdb refuses to run as root, so as root the server runs as the `postgres` system user.
Trust authentication on 127.0.0.1 only; fsync off (a test server, thrown away after the run).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.support.mosquitto import free_port

__all__ = ["Postgres", "postgres_bin"]


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return versions[0].parent if versions else None


class Postgres:
    """One PostgreSQL server; `url` is a SQLAlchemy/psycopg URL to its `postgres` database."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mehr-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """Where tests connect."""
        return f"postgresql://mehr@127.0.0.1:{self.port}/postgres"

    def _run(self, args: Sequence[str]) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """initdb and start; returns when the server accepts connections."""
        self._run([
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "mehr", "--auth=trust",
            "-E", "UTF8", "--no-sync",
        ])
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
            str(self.dir / "server.log"), "-w", "start",
        ])

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        # A server that never started (or stopped already) has nothing to stop.
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                       "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)
