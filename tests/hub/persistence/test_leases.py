"""Leases split the homes' work between hubs: claim, renew, balance, takeover and fencing.

Each test runs on a SQLite file and on a real PostgreSQL server (the `hubs_db` fixture), with
one connection per hub, as separate hub processes would have. Time is a manual clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hub.coordination import LeaseCoordinator, LeaseSettings, OwnershipOfOnePass, partition_of
from hub.persistence import leases as leases_repo
from hub.persistence.connection import Connection
from mehr.clock import ManualClock
from tests.hub.persistence.multi import HubsDatabase

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SETTINGS = LeaseSettings(partitions=64, ttl_s=15.0, renew_s=5.0, margin_s=1.0)


def _hub(db: HubsDatabase, hub_id: str, clock: ManualClock) -> LeaseCoordinator:
    return LeaseCoordinator(db.transactions(), hub_id, clock, SETTINGS)


def _holders(db: HubsDatabase, clock: ManualClock) -> dict[int, str]:
    with db.transactions()() as conn:
        return {
            lease.partition: lease.holder
            for lease in leases_repo.leases(conn)
            if lease.expires_at > clock.now()
        }


def _rounds(clock: ManualClock, *hubs: LeaseCoordinator, times: int = 1) -> None:
    for _ in range(times):
        clock.advance(SETTINGS.renew_s)
        for hub in hubs:
            hub.run_round()


def test_a_hub_alone_holds_every_partition_at_once(hubs_db: HubsDatabase) -> None:
    clock = ManualClock(T0)
    hub = _hub(hubs_db, "hub-a", clock)
    hub.run_round()
    assert sorted(hub.held()) == list(range(64))
    assert all(hub.owns(f"home-{i}") for i in range(200))
    assert set(_holders(hubs_db, clock).values()) == {"hub-a"}


def test_renewing_keeps_the_leases_and_their_epochs(hubs_db: HubsDatabase) -> None:
    clock = ManualClock(T0)
    hub = _hub(hubs_db, "hub-a", clock)
    hub.run_round()
    first = hub.held()
    _rounds(clock, hub, times=10)  # 50 s: far past one TTL, renewed all along
    assert hub.held() == first
    assert hub.owns("home-1")


def test_two_hubs_share_the_partitions_evenly_and_disjointly(hubs_db: HubsDatabase) -> None:
    clock = ManualClock(T0)
    a, b = _hub(hubs_db, "hub-a", clock), _hub(hubs_db, "hub-b", clock)
    a.run_round()
    b.run_round()  # everything is held: b waits for a to hand some over
    assert len(b.held()) == 0
    _rounds(clock, a, b)
    assert (len(a.held()), len(b.held())) == (32, 32)
    assert set(a.held()).isdisjoint(b.held())
    holders = _holders(hubs_db, clock)
    assert len(holders) == 64
    homes = [f"home-{i}" for i in range(500)]
    assert all(a.owns(h) != b.owns(h) for h in homes)  # every home: exactly one hub


def test_three_hubs_share_the_partitions_evenly(hubs_db: HubsDatabase) -> None:
    clock = ManualClock(T0)
    hubs = [_hub(hubs_db, f"hub-{n}", clock) for n in "abc"]
    for hub in hubs:
        hub.run_round()
    _rounds(clock, *hubs, times=2)
    sizes = sorted(len(h.held()) for h in hubs)
    assert sizes == [20, 22, 22]
    held = [set(h.held()) for h in hubs]
    assert set().union(*held) == set(range(64))
    assert sum(len(s) for s in held) == 64


def test_a_dead_hubs_partitions_are_taken_over_within_ttl_plus_renew(
    hubs_db: HubsDatabase,
) -> None:
    clock = ManualClock(T0)
    a, b = _hub(hubs_db, "hub-a", clock), _hub(hubs_db, "hub-b", clock)
    a.run_round()
    b.run_round()
    _rounds(clock, a, b)
    a_parts = a.held()
    died_at = clock.now()  # a's last renewal: it is killed now and never renews again
    orphan = next(f"home-{i}" for i in range(500) if partition_of(f"home-{i}", 64) in a_parts)
    taken_at = None
    while taken_at is None and clock.now() < died_at + timedelta(seconds=60):
        _rounds(clock, b)
        if b.owns(orphan):
            taken_at = clock.now()
    assert taken_at is not None
    assert (taken_at - died_at).total_seconds() <= SETTINGS.takeover_bound_s
    assert sorted(b.held()) == list(range(64))
    # The fencing token went up for every partition that changed hands.
    assert all(b.held()[p] == epoch + 1 for p, epoch in a_parts.items())


def test_a_partition_taken_over_in_the_middle_of_a_pass_waits_for_the_next_pass(
    hubs_db: HubsDatabase,
) -> None:
    # The engine's pass reads the leases once: the next pass first settles the sends the dead
    # holder was killed in, and only then acts on the partition (CI saw a taken-over step
    # sent while the dead hub's send was still "sending").
    clock = ManualClock(T0)
    a, b = _hub(hubs_db, "hub-a", clock), _hub(hubs_db, "hub-b", clock)
    a.run_round()
    b.run_round()
    _rounds(clock, a, b)
    orphan = next(f"home-{i}" for i in range(500) if b.owns(f"home-{i}"))
    one_pass = OwnershipOfOnePass(a)
    before = one_pass.begin_pass()
    # b dies; a's renewal thread takes its partitions over while a's pass is under way.
    _rounds(clock, a, times=4)
    assert a.owns(orphan)
    assert not one_pass.owns(orphan)  # not in this pass
    assert one_pass.held() == before
    gained = one_pass.begin_pass().items() - before.items()
    assert partition_of(orphan, 64) in {p for p, _ in gained}
    assert one_pass.owns(orphan)
    # And a partition lost mid-pass is dropped at once, not at the next pass.
    mine = next(f"home-{i}" for i in range(500) if a.owns(f"home-{i}"))
    clock.advance(SETTINGS.ttl_s)
    assert not one_pass.owns(mine)


def test_a_hub_whose_lease_ran_out_stops_acting_before_another_takes_it(
    hubs_db: HubsDatabase,
) -> None:
    clock = ManualClock(T0)
    a, b = _hub(hubs_db, "hub-a", clock), _hub(hubs_db, "hub-b", clock)
    a.run_round()
    b.run_round()
    _rounds(clock, a, b)
    home = next(f"home-{i}" for i in range(500) if a.owns(f"home-{i}"))
    # a stalls (a long pause, a lost database link): no renewal for a whole TTL.
    clock.advance(SETTINGS.ttl_s - SETTINGS.margin_s)
    assert not a.owns(home)  # a stops first, by its own clock, with the margin to spare
    clock.advance(SETTINGS.margin_s + 0.5)
    b.run_round()
    assert b.owns(home)
    # a wakes up: its renewal does not bring the lease back, and it cannot claim it from b.
    a.run_round()
    assert not a.owns(home)
    with hubs_db.transactions()() as conn:
        part = partition_of(home, 64)
        until = clock.now() + timedelta(seconds=15)
        assert leases_repo.claim(conn, part, "hub-a", clock.now(), until) is None


def test_a_stopped_hub_hands_its_partitions_over_at_once(hubs_db: HubsDatabase) -> None:
    clock = ManualClock(T0)
    a, b = _hub(hubs_db, "hub-a", clock), _hub(hubs_db, "hub-b", clock)
    a.run_round()
    b.run_round()
    _rounds(clock, a, b)
    a.stop()
    b.run_round()  # no waiting for a TTL: a released its leases and left
    assert sorted(b.held()) == list(range(64))


def test_a_restarted_hub_keeps_its_own_leases(hubs_db: HubsDatabase) -> None:
    clock = ManualClock(T0)
    first = _hub(hubs_db, "hub-a", clock)
    first.run_round()
    epochs = first.held()
    again = _hub(hubs_db, "hub-a", clock)  # same hub id, new process, killed one left leases
    clock.advance(1)
    again.run_round()
    assert again.held() == epochs


def test_of_two_hubs_claiming_one_partition_at_once_exactly_one_gets_it(
    hubs_db: HubsDatabase,
) -> None:
    now = T0
    until = now + timedelta(seconds=15)

    def claim(hub_id: str) -> Callable[[Connection], object]:
        return lambda conn: leases_repo.claim(conn, 7, hub_id, now, until)

    first, second = hubs_db.race(claim("hub-a"), claim("hub-b"))
    assert first is not None and first.holder == "hub-a"  # type: ignore[attr-defined]
    assert second is None
    with hubs_db.transactions()() as conn:
        (lease,) = leases_repo.leases(conn)
    assert (lease.holder, lease.epoch) == ("hub-a", 1)


