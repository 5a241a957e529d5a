"""The capacity harness on the several-hubs topology (bench/capacity.py --hubs K --database
postgresql --broker rabbitmq-cluster): its history on PostgreSQL is the SQLite preparation's,
row for row; homes per hub follow the leases as they are in the database; and options that
cannot work together are refused before anything starts. The full run stays in bench/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.capacity import main as capacity_main
from bench.capacity_history import HistorySpec, load_fleet_homes, load_fleet_homes_postgres
from bench.db_query import query
from hub.coordination import DatabaseTransactions, LeaseCoordinator, LeaseSettings, partition_of
from hub.persistence.sqlite_store import open_store
from mehr.clock import ManualClock
from mehr_app.services.cluster_hubs import homes_per_hub, lease_holders
from tests.support.postgres import PostgresServer

END = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SETTINGS = LeaseSettings(partitions=64, ttl_s=15.0, renew_s=5.0, margin_s=1.0)
_EVENT_COLUMNS = (
    "home_id, kit_id, epoch, seq, sensor_id, kind, value, room, occurred_at, received_at, "
    "stored_at"
)


def test_postgres_history_is_the_sqlite_preparations_rows(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.fresh_database()
    spec = HistorySpec(days=2.0, seed=3)
    sqlite_rows = load_fleet_homes(tmp_path / "hub.db", 5, END, spec, workers=2)
    pg_rows = load_fleet_homes_postgres(url, 5, END, spec, workers=2)

    assert pg_rows == sqlite_rows > 0
    order = "ORDER BY kit_id, epoch, seq"
    assert query(url, f"SELECT {_EVENT_COLUMNS} FROM events {order}") == query(
        tmp_path / "hub.db", f"SELECT {_EVENT_COLUMNS} FROM events {order}"
    )
    state = "SELECT kit_id, sensor_id, home_id, kind, room, value, occurred_at FROM sensor_state"
    assert sorted(query(url, state)) == sorted(query(tmp_path / "hub.db", state))
    homes = "SELECT id, name, mahalla FROM homes ORDER BY id"
    assert query(url, homes) == query(tmp_path / "hub.db", homes)


def test_homes_per_hub_follows_the_leases_in_the_database(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.fresh_database()
    open_store(url).close()  # migrated, as a hub does at start
    clock = ManualClock(END)
    connections = [DatabaseTransactions(url), DatabaseTransactions(url)]
    hub_a = LeaseCoordinator(connections[0], "hub-0", clock, SETTINGS)
    hub_b = LeaseCoordinator(connections[1], "hub-1", clock, SETTINGS)
    homes = [f"fleet-{i:05d}" for i in range(500)]
    try:
        for _ in range(3):
            clock.advance(SETTINGS.renew_s)
            hub_a.run_round()
            hub_b.run_round()
        both = homes_per_hub(lease_holders(url, clock.now().timestamp()), homes, 64)
        b_partitions = set(hub_b.held())
        in_b = sum(1 for h in homes if partition_of(h, 64) in b_partitions)
        assert both == {"hub-0": len(homes) - in_b, "hub-1": in_b}
        assert 0 < in_b < len(homes)

        # hub-1 stops renewing (killed): once its leases expire its homes are nobody's until
        # hub-0, renewing its own all along, takes them at its next round.
        clock.advance(SETTINGS.renew_s)
        hub_a.run_round()  # hub-1 is still a live member: hub-0 keeps to its share
        clock.advance(SETTINGS.ttl_s - SETTINGS.renew_s + 0.5)
        expired = homes_per_hub(lease_holders(url, clock.now().timestamp()), homes, 64)
        assert expired == {"hub-0": len(homes) - in_b, "none": in_b}
        hub_a.run_round()
        after = homes_per_hub(lease_holders(url, clock.now().timestamp()), homes, 64)
        assert after == {"hub-0": len(homes)}
    finally:
        for connection in connections:
            connection.close()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--hubs", "2"], "needs --broker rabbitmq-cluster"),
        (["--hubs", "0", "--broker", "rabbitmq-cluster"], "--hubs must be >= 1"),
        (["--database", "postgresql", "--prepared", "/nonexistent"], "are for --database sqlite"),
        (
            ["--broker", "rabbitmq-cluster", "--broker-autosave-interval-s", "60"],
            "is a Mosquitto setting",
        ),
    ],
)
def test_options_that_cannot_work_together_are_refused_before_anything_starts(
    args: list[str], complaint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    workdir = tmp_path / "run"
    with pytest.raises(SystemExit) as stopped:
        capacity_main(["--homes", "10", "--workdir", str(workdir), *args])
    assert stopped.value.code == 2
    assert complaint in capsys.readouterr().err
    assert not workdir.exists()


def test_a_shifted_district_gets_the_fixed_offset_zone_of_its_residents() -> None:
    from zoneinfo import ZoneInfo

    from bench.capacity import district_timezone

    assert district_timezone(5) == "Asia/Tashkent"
    for hours in (-7, 0, 9):
        offset = ZoneInfo(district_timezone(hours)).utcoffset(datetime(2026, 3, 2))
        assert offset is not None and offset.total_seconds() == hours * 3600
    with pytest.raises(ValueError, match="whole number"):
        district_timezone(5.5)
