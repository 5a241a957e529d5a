"""A real PostgreSQL server on a free loopback port, for the persistence tests and benchmarks.

Started from the OS packages (Debian `postgresql`) the way Mosquitto is: initdb into a fresh
directory, pg_ctl start, one database per test, pg_ctl stop. PostgreSQL refuses to run as
root, so as root the server runs as the packages' `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from mehr_app.services.ports import free_port

__all__ = ["PostgresServer", "find_pg_bin", "running_postgres"]

_SEARCH = ("/usr/lib/postgresql",)


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl (the newest version installed), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for root in _SEARCH:
        versions = sorted(Path(root).glob("*/bin/initdb"), reverse=True)
        if versions:
            return versions[0].parent
    return None


class PostgresServer:
    """One running server: its port and how to reach a fresh database on it."""

    def __init__(
        self, bin_dir: Path, workdir: Path, port: int, user: str | None, fsync: bool = False
    ) -> None:
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.port = port
        self._run_as = user
        self._fsync = fsync

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", self._run_as, "--", *cmd] if self._run_as else cmd

    def start(self) -> None:
        """initdb, then start and wait until it accepts connections."""
        data = self.workdir / "data"
        subprocess.run(
            self._cmd("initdb", "-D", str(data), "-A", "trust", "-U", "mehr", "-E", "UTF8"),
            check=True,
            capture_output=True,
        )
        self._pg_ctl("start")

    def restart(self) -> None:
        """Stop (fast: clients are disconnected) and start again, on the same port and data."""
        self._pg_ctl("restart", "-m", "fast")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        # fsync off for tests (the data is thrown away); on for a benchmark's durable commits.
        fsync = "on" if self._fsync else "off"
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync={fsync}"
        subprocess.run(
            self._cmd(
                "pg_ctl",
                "-D",
                str(self.workdir / "data"),
                "-o",
                options,
                "-l",
                str(self.workdir / "log"),
                "-w",
                action,
                *extra,
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        """Stop at once (the data is thrown away)."""
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.workdir / "data"), "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
        )

    def url(self, database: str = "postgres") -> str:
        """A postgresql:// URL for one database on this server."""
        return f"postgresql://mehr@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """Create an empty database (PostgreSQL's own `createdb`, as an operator would); return
        its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "mehr", name],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return self.url(name)


@contextlib.contextmanager
def running_postgres(fsync: bool = False) -> Iterator[PostgresServer]:
    """A server for the duration of the block, in a directory of its own (fsync=True for
    benchmarks: commits as durable as a production server's)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    workdir = Path(tempfile.mkdtemp(prefix="mehr-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bin_dir, workdir, free_port(), user, fsync)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
