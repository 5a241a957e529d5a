"""Two hubs' alert engines on one database, each acting only on the homes it leases; when one
hub stops renewing, the other takes its homes over and carries their escalations on.

Real SQLite file, real lease coordinators, a manual clock; channels record what is sent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hub.alerts.channels import RecordingChannel
from hub.alerts.engine import AlertEngine, open_alerts_db
from hub.alerts.tokens import TokenSigner
from hub.coordination import DatabaseTransactions, LeaseCoordinator, LeaseSettings
from tests.hub.alerts.conftest import SECRET, home, make_rig

LEASES = LeaseSettings(partitions=64, ttl_s=15.0, renew_s=5.0, margin_s=1.0)
HOMES = [f"home-{i}" for i in range(10, 22)]


def _mailbox(url: str) -> str:
    return url.split("//", 1)[1].split("@", 1)[0]


def test_each_engine_escalates_only_its_homes_and_takes_a_dead_hubs_homes_over(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path, homes=[home(h, f"kit-{h}") for h in HOMES])
    hubs = {
        name: LeaseCoordinator(DatabaseTransactions(rig.db_path), name, rig.clock, LEASES)
        for name in ("hub-a", "hub-b")
    }
    for coordinator in hubs.values():
        coordinator.run_round()
    for coordinator in hubs.values():
        coordinator.run_round()  # a hands half over, b takes it
    channels = {name: RecordingChannel() for name in hubs}
    conns = {name: open_alerts_db(rig.db_path) for name in hubs}
    engines = {
        name: AlertEngine(
            conns[name], rig.config, rig.clock, channels[name], TokenSigner(SECRET),
            "https://mehr.test", ownership=hubs[name],
        )
        for name in hubs
    }
    owner = {h: next(n for n, c in hubs.items() if c.owns(h)) for h in HOMES}
    assert set(owner.values()) == {"hub-a", "hub-b"}
    alert_home = {rig.raise_alert(h, "help_button"): h for h in HOMES}

    for engine in engines.values():
        engine.run_due()
    for engine in engines.values():
        engine.run_due()  # nothing left for either: no step twice
    for name, channel in channels.items():
        told = [_mailbox(url) for url, _, _ in channel.sent]
        assert told == ["sw-day"] * sum(1 for h in HOMES if owner[h] == name)
    assert sum(len(c.sent) for c in channels.values()) == len(alert_home)

    # hub-b dies: it renews no more. hub-a renews every 5 s and takes b's partitions over.
    for _ in range(4):
        rig.clock.advance(LEASES.renew_s)
        hubs["hub-a"].run_round()
    assert all(hubs["hub-a"].owns(h) for h in HOMES)
    before = len(channels["hub-a"].sent)
    rig.clock.advance(180)  # the duty officer's step of every alert is due
    hubs["hub-a"].run_round()
    engines["hub-a"].run_due()
    duty = Counter(
        _mailbox(url) for url, _, _ in channels["hub-a"].sent[before:]
    )
    assert duty == Counter({"duty": len(alert_home)})  # b's alerts too, once each
    for conn in conns.values():
        conn.close()
    rig.conn.close()


