"""The routine scan's memory on disk, so that a restart goes on from it instead of reading
every home's last 36 hours again.

Without it, the first pass after every start reads every home: at 100,000 homes on one machine
that pass took 12 minutes and competed with ingest for the disk the whole time
(docs/benchmarks.md). The gate's arrays are written after each pass (a temporary file, fsync,
rename: a power cut leaves the old file or the new one) and read back at the scanner's first
pass. The events stored meanwhile come in through the gate's tail as in any pass.

A saved memory is used only when it describes this database and this code:
- saved at most `full_check_every` ago (older, every home is due for its hourly look anyway)
  and not in the future (the clock went back);
- its tail not beyond the database's last event (not a restored or replaced database);
- the same fingerprint: the package version, the scan settings and the source of the modules
  that decide (the detectors, the gate, the scan), so an upgrade starts with a full pass.
Anything else, or a file that cannot be read, is logged and the scan rebuilds as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Final

import numpy as np

import detectors
from hub import scan_gate
from hub.scan_gate import ScanGate

__all__ = ["code_fingerprint", "load_scan_memory", "save_scan_memory"]

_LOGGER = logging.getLogger(__name__)
# The modules besides the detectors whose source decides what the gate trusts.
_DECIDING: Final = ("scan_gate.py", "routine_scan.py")


def code_fingerprint(settings_repr: str) -> str:
    """A digest of what decides: the package version, the scan settings and the source of the
    detectors, the gate and the scan (an edited rule must not trust plans made by the old)."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        digest.update(metadata.version("mehr").encode())
    except metadata.PackageNotFoundError:
        digest.update(b"unpackaged")
    digest.update(settings_repr.encode())
    sources = sorted(Path(detectors.__file__).parent.glob("*.py"))
    sources += [Path(scan_gate.__file__).with_name(name) for name in _DECIDING]
    for source in sources:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def save_scan_memory(path: Path, gate: ScanGate, *, saved_at_s: float, fingerprint: str) -> None:
    """Write the gate's memory to `path`, replacing what was there in one step."""
    arrays = gate.memory()
    arrays["saved_at_s"] = np.array([saved_at_s], np.float64)
    arrays["fingerprint"] = np.array([fingerprint], dtype=np.str_)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def load_scan_memory(
    path: Path,
    *,
    now_s: float,
    fingerprint: str,
    last_event_id: int,
    full_check_every: timedelta,
) -> ScanGate | None:
    """The gate saved at `path` if it still describes this database and code, else None (the
    reason logged)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
        saved_at_s = float(arrays["saved_at_s"][0])
        saved_fingerprint = str(arrays["fingerprint"][0])
        gate = ScanGate.from_memory(arrays, full_check_every)
    # StaleMemory is a ValueError.
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        _LOGGER.warning("scan memory %s not used: cannot read it (%s); reading every home", path,
                        exc)  # fmt: skip
        return None
    max_age_s = full_check_every.total_seconds()
    reason = _why_not(gate, saved_at_s, saved_fingerprint, now_s, max_age_s, fingerprint,
                      last_event_id)  # fmt: skip
    if reason is not None:
        _LOGGER.info("scan memory %s not used: %s; reading every home", path, reason)
        return None
    _LOGGER.info("scan memory %s: %d homes, saved %.0f s ago", path, len(gate.ids),
                 now_s - saved_at_s)  # fmt: skip
    return gate


def _why_not(
    gate: ScanGate,
    saved_at_s: float,
    saved_fingerprint: str,
    now_s: float,
    max_age_s: float,
    fingerprint: str,
    last_event_id: int,
) -> str | None:
    if saved_fingerprint != fingerprint:
        return "saved by other code or other scan settings"
    if saved_at_s > now_s:
        return "saved in the future (the clock went back)"
    if now_s - saved_at_s > max_age_s:
        age = now_s - saved_at_s
        return f"saved {age:.0f} s ago, more than the hourly look's {max_age_s:.0f} s"
    if gate.tail_id is None or gate.tail_id > last_event_id:
        return "it has seen events this database does not have (a restored or other database)"
    return None
