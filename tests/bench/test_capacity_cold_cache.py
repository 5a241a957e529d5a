"""--cold-cache drops the database's pages from the page cache, as a reboot does: the measured
hub's first reads are the disk's, not memory's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bench.capacity import _evict_from_page_cache


def _cached_bytes(path: Path) -> int:
    out = subprocess.run(
        ["fincore", "--json", "--bytes", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return int(json.loads(out)["fincore"][0]["res"])


def test_the_database_and_its_wal_leave_the_page_cache(tmp_path: Path) -> None:
    database = tmp_path / "hub.db"
    wal = tmp_path / "hub.db-wal"
    for path in (database, wal):
        path.write_bytes(os.urandom(2 << 20))
        path.read_bytes()
    assert _cached_bytes(database) > 0 and _cached_bytes(wal) > 0
    assert _evict_from_page_cache(database) == 4 << 20
    assert _cached_bytes(database) == 0
    assert _cached_bytes(wal) == 0
