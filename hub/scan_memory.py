"""The routine scan's memory on disk, so that a restart goes on from it instead of reading
every home's last 36 hours again.

Without it, the first pass after every start reads every home: at 100,000 homes on one machine
that pass took 12 minutes and competed with ingest for the disk the whole time
(docs/benchmarks.md). The gate's arrays are written every few minutes (a temporary file of the
hub's own, fsync, rename: a power cut leaves the old file or the new one) and read back at the
scanner's first pass. The events stored meanwhile come in through the gate's tail as in any
pass.

A saved memory is used only when it describes this database and this code:
- saved at most `full_check_every` ago (older, every home is due for its hourly look anyway)
  and not in the future (the clock went back);
- its tail is an event this database holds, the same event (kit, epoch, sequence, time): ids
  are handed out again after a restore, a point-in-time recovery or commits lost to a power
  cut, and new events under a reused id would never reach the gate;
- the same fingerprint: the package version, the scan settings and the source of the hub and
  the detectors, so any new code starts with a full pass.
Anything else, or a file that cannot be read, is logged and the scan rebuilds as before.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Final

import numpy as np

import detectors
import hub
import mehr.vocabulary
from hub.scan_gate import ScanGate
from mehr.files import replace_file

__all__ = ["code_fingerprint", "load_scan_memory", "save_scan_memory"]

_LOGGER = logging.getLogger(__name__)
# Homes' last activity times: readable by the hub's user only, as its database is.
_FILE_MODE: Final = 0o600


def code_fingerprint(settings_repr: str) -> str | None:
    """A digest of what decides: the package version, the scan settings and the source of the
    hub and the detectors (an edited rule or query must not trust plans made by the old). None
    when the source cannot be read (an install without it): then nothing is saved or loaded."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        digest.update(metadata.version("mehr").encode())
    except metadata.PackageNotFoundError:
        digest.update(b"unpackaged")
    digest.update(settings_repr.encode())
    roots = [Path(detectors.__file__).parent, Path(hub.__file__).parent]
    sources = sorted(f for root in roots for f in root.rglob("*.py"))
    sources.append(Path(mehr.vocabulary.__file__))
    try:
        for source in sources:
            digest.update(str(source.relative_to(source.parents[1])).encode())
            digest.update(source.read_bytes())
    except (OSError, ValueError) as exc:
        _LOGGER.warning("scan memory off: cannot read the scan's source (%s)", exc)
        return None
    return digest.hexdigest()


def save_scan_memory(
    path: Path, gate: ScanGate, *, saved_at_s: float, fingerprint: str, tail_identity: str
) -> None:
    """Write the gate's memory to `path`, replacing what was there in one step."""
    arrays = gate.memory()
    arrays["saved_at_s"] = np.array([saved_at_s], np.float64)
    arrays["fingerprint"] = np.array([fingerprint], dtype=np.str_)
    arrays["tail_identity"] = np.array([tail_identity], dtype=np.str_)
    # A file of our own beside the target (mehr.files): a scan process left from a killed hub
    # writing at the same moment must not interleave with this one.
    replace_file(path, lambda out: np.savez(out, **arrays), mode=_FILE_MODE)  # type: ignore[arg-type]


def load_scan_memory(
    path: Path,
    *,
    now_s: float,
    fingerprint: str,
    last_event_id: int,
    identity_of: Callable[[int], str],
    full_check_every: timedelta,
) -> ScanGate | None:
    """The gate saved at `path` if it still describes this database and code, else None (the
    reason logged). `identity_of(event_id)` is that event's identity in this database."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
        saved_at_s = float(arrays["saved_at_s"][0])
        saved_fingerprint = str(arrays["fingerprint"][0])
        tail_identity = str(arrays["tail_identity"][0])
        gate = ScanGate.from_memory(arrays, full_check_every)
    except Exception as exc:
        _LOGGER.warning("scan memory %s not used: cannot read it (%s: %s); reading every home",
                        path, type(exc).__name__, exc)  # fmt: skip
        return None
    reason = _why_not(saved_at_s, saved_fingerprint, now_s, full_check_every, fingerprint)
    if reason is None:
        assert gate.tail_id is not None  # from_memory refuses a memory without a tail
        if gate.tail_id > last_event_id or identity_of(gate.tail_id) != tail_identity:
            reason = "its last event is not in this database (restored, replaced or lost)"
    if reason is not None:
        _LOGGER.info("scan memory %s not used: %s; reading every home", path, reason)
        return None
    _LOGGER.info("scan memory %s: %d homes, saved %.0f s ago", path, len(gate.ids),
                 now_s - saved_at_s)  # fmt: skip
    return gate


def _why_not(
    saved_at_s: float,
    saved_fingerprint: str,
    now_s: float,
    full_check_every: timedelta,
    fingerprint: str,
) -> str | None:
    max_age_s = full_check_every.total_seconds()
    if saved_fingerprint != fingerprint:
        return "saved by other code or other scan settings"
    if not math.isfinite(saved_at_s) or saved_at_s > now_s:
        return "saved in the future (the clock went back)"
    if now_s - saved_at_s > max_age_s:
        age = now_s - saved_at_s
        return f"saved {age:.0f} s ago, more than the hourly look's {max_age_s:.0f} s"
    return None
