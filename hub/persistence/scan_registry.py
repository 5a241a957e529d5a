"""The registry as the routine scan needs it each pass, without every kit in memory at once.

Per home, a digest of its registration (time zone, risk level, kits with their availability,
sensors with kind, room and place) and whether all its kits are offline, read a chunk of homes
at a time; and one home's motion sensors when the scan reads that home. Building a
`KitRecord` for every kit each pass held ~1.8 KB a home (~180 MB at 100,000 homes) for the
length of the pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from hub.persistence.connection import Connection

__all__ = ["HomeRegistration", "home_registrations", "home_sensors"]

_HOMES_PER_CHUNK = 1_000


@dataclass(frozen=True, slots=True)
class HomeRegistration:
    """One home's registration as the scan compares it from pass to pass."""

    home_id: str
    digest: bytes  # 16 bytes; any change to what is registered changes it
    offline: bool  # the home has kits and every one of them is offline


def home_registrations(
    conn: Connection, chunk: int = _HOMES_PER_CHUNK
) -> Iterator[HomeRegistration]:
    """Every home in id order, `chunk` homes per pair of queries (keyset pages on the ids)."""
    after: str | None = None
    while True:
        homes = conn.execute(
            "SELECT id, timezone, risk_level FROM homes "
            "WHERE :after IS NULL OR id > :after ORDER BY id LIMIT :n",
            {"after": after, "n": chunk},
        ).fetchall()
        if not homes:
            return
        first, last = homes[0][0], homes[-1][0]
        kits: dict[str, list[tuple[object, ...]]] = {}
        for row in conn.execute(
            "SELECT k.home_id, k.id, k.availability, s.id, s.kind, s.room, s.place "
            "FROM kits k LEFT JOIN sensors s ON s.kit_id = k.id "
            "WHERE k.home_id >= :first AND k.home_id <= :last ORDER BY k.home_id, k.id, s.id",
            {"first": first, "last": last},
        ):
            kits.setdefault(row[0], []).append(tuple(row[1:]))
        for home_id, timezone, risk_level in homes:
            rows = kits.get(home_id, [])
            # repr of the tuples: unambiguous, so two different registrations never share the
            # bytes hashed; 128 bits make a collision (a change gone unseen) a 2**-128 chance.
            digest = hashlib.blake2b(
                repr((timezone, risk_level, rows)).encode(), digest_size=16
            ).digest()
            availability = {row[0]: row[1] for row in rows}
            offline = bool(availability) and all(a == "offline" for a in availability.values())
            yield HomeRegistration(home_id, digest, offline)
        if len(homes) < chunk:
            return
        after = last


def home_sensors(conn: Connection, home_id: str) -> list[tuple[str, str, str, str]]:
    """(kit, sensor, kind, room) of a home's sensors: kits by id, each kit's sensors in the
    order they were registered (as `SqliteStore.kits` lists them)."""
    rows = conn.execute(
        "SELECT k.id, s.id, s.kind, s.room FROM kits k JOIN sensors s ON s.kit_id = k.id "
        "WHERE k.home_id = :home ORDER BY k.id, s.rowid",
        {"home": home_id},
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]
