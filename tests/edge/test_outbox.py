"""The durable outbox: seq and epoch on disk, deletes only what was acknowledged, bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.outbox import Outbox
from mehr.contract import TopicKind

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _payload(size: int = 100):  # type: ignore[no-untyped-def]
    return lambda seq: (TopicKind.EVENTS, f'{{"seq":{seq}}}'.encode().ljust(size))


def test_seq_and_epoch_survive_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    epoch = box.epoch
    assert [box.append(_payload(), critical=False, now=T0) for _ in range(3)] == [1, 2, 3]
    box.delete([1, 2, 3])
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert again.epoch == epoch
    assert again.append(_payload(), critical=False, now=T0) == 4  # never reused, even when empty
    assert 1 <= epoch < 2**62 + 1


def test_a_new_database_gets_a_new_epoch(tmp_path: Path) -> None:
    assert Outbox(tmp_path / "a.db").epoch != Outbox(tmp_path / "b.db").epoch


def test_pending_sends_critical_and_routine_separately_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for critical in (False, True, False, True):
        box.append(_payload(), critical=critical, now=T0)
    assert [r.seq for r in box.pending(critical=True, after_seq=0, limit=10)] == [2, 4]
    assert [r.seq for r in box.pending(critical=False, after_seq=1, limit=10)] == [3]
    assert box.delete([2, 99]) == 1
    assert box.depth == 3


def test_failed_build_allocates_no_seq(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")

    def broken(seq: int) -> tuple[TopicKind, bytes]:
        raise ValueError("bad event")

    with contextlib.suppress(ValueError):
        box.append(broken, critical=False, now=T0)
    assert box.append(_payload(), critical=False, now=T0) == 1
    assert box.depth == 1


def test_full_outbox_drops_oldest_routine_never_critical_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=1000)
    box.append(_payload(), critical=True, now=T0)  # seq 1: a help-button press
    for _ in range(9):
        box.append(_payload(), critical=False, now=T0)  # seq 2..10, 100 bytes each
    assert box.dropped == 0 and box.size_bytes == 1000
    box.append(_payload(), critical=False, now=T0)  # seq 11 pushes it over
    assert box.dropped == 1
    left = [r.seq for r in box.pending(critical=False, after_seq=0, limit=100)]
    assert left == list(range(3, 12))  # seq 2 went first
    assert [r.seq for r in box.pending(critical=True, after_seq=0, limit=10)] == [1]
    # Only critical events: over the limit, yet nothing of them is dropped.
    crit = Outbox(tmp_path / "c.db", max_bytes=250)
    for _ in range(5):
        crit.append(_payload(), critical=True, now=T0)
    assert crit.depth == 5 and crit.dropped == 0


def test_old_routine_events_expire_old_critical_ones_stay(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_age=timedelta(days=7))
    box.append(_payload(), critical=False, now=T0)
    box.append(_payload(), critical=True, now=T0)
    box.append(_payload(), critical=False, now=T0 + timedelta(days=6))
    assert box.enforce_bounds(T0 + timedelta(days=7, seconds=1)) == 1
    assert box.depth == 2 and box.dropped == 1
    box.close()
    assert Outbox(tmp_path / "o.db").dropped == 1  # the count is on disk too


def test_sensor_last_signal_is_kept_with_the_event(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append(_payload(), critical=False, now=T0, sensor="hall")
    box.append(_payload(), critical=False, now=T0 + timedelta(minutes=5), sensor="hall")
    assert box.sensor_last() == {"hall": T0 + timedelta(minutes=5)}


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path
    from edge.outbox import Outbox
    from mehr.contract import TopicKind
    box = Outbox(Path(sys.argv[1]))
    print(box.epoch, flush=True)
    while True:
        seq = box.append(lambda s: (TopicKind.EVENTS, b'{"seq":%d}' % s),
                         critical=False, now=datetime.now(UTC))
        print(seq, flush=True)  # only after COMMIT returned
    """
)


def test_every_committed_event_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    epoch = int(proc.stdout.readline())
    acknowledged = []
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    box = Outbox(db)
    assert box.epoch == epoch
    on_disk = {r.seq for r in box.pending(critical=False, after_seq=0, limit=100_000)}
    assert set(acknowledged) <= on_disk
    # No gaps and no reuse: the next seq follows the last committed one.
    assert on_disk == set(range(1, box.next_seq))
