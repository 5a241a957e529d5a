"""The core schema of the hub's database (component "core"; see hub/persistence/migrate.py).

Times are REAL seconds since the Unix epoch (UTC): they sort, subtract and feed numpy directly.
Never edit a released step; add a new one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: registry, events exactly once, per-sensor state, kit state, alerts.
    """
    CREATE TABLE homes (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        timezone TEXT NOT NULL DEFAULT 'Asia/Tashkent',
        mahalla TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE TABLE kits (
        id TEXT PRIMARY KEY,
        home_id TEXT NOT NULL REFERENCES homes(id),
        created_at REAL NOT NULL,
        availability TEXT,
        availability_at REAL,
        last_heartbeat_at REAL,
        last_heartbeat TEXT
    );
    CREATE INDEX kits_home ON kits(home_id);
    CREATE TABLE sensors (
        kit_id TEXT NOT NULL REFERENCES kits(id),
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        room TEXT NOT NULL,
        PRIMARY KEY (kit_id, id)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        home_id TEXT NOT NULL,
        kit_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        sensor_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        room TEXT,
        occurred_at REAL NOT NULL,
        received_at REAL NOT NULL,
        stored_at REAL NOT NULL,
        UNIQUE (kit_id, epoch, seq)
    );
    CREATE INDEX events_home_time ON events(home_id, occurred_at);
    CREATE TABLE sensor_state (
        kit_id TEXT NOT NULL,
        sensor_id TEXT NOT NULL,
        home_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        room TEXT,
        value TEXT NOT NULL,
        occurred_at REAL NOT NULL,
        PRIMARY KEY (kit_id, sensor_id)
    );
    CREATE INDEX sensor_state_home ON sensor_state(home_id);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        home_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        state TEXT NOT NULL,
        raised_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        source_event_id INTEGER REFERENCES events(id),
        count INTEGER NOT NULL DEFAULT 1,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alerts_home_state ON alerts(home_id, kind, state);
    """,
    # 2: what each sensor's room is for, each home's care-plan risk level (it sets how
    # sensitive the routine rules are), learned routines (serialisable, per home), and the
    # installers' walk-test (commissioning) reports.
    """
    ALTER TABLE sensors ADD COLUMN place TEXT;
    ALTER TABLE homes ADD COLUMN risk_level TEXT NOT NULL DEFAULT 'medium';
    CREATE TABLE routines (
        home_id TEXT PRIMARY KEY REFERENCES homes(id),
        learned_at REAL NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE commissioning_reports (
        id INTEGER PRIMARY KEY,
        kit_id TEXT NOT NULL,
        home_id TEXT NOT NULL,
        finished_at REAL NOT NULL,
        passed INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX commissioning_kit ON commissioning_reports(kit_id, finished_at);
    """,
    # 3: a home's signs of life read from the index alone. The routine scan reads a home's last
    # 36 hours at each look and 28 days at each re-learn (`activity_events`). In a live database
    # the events of many homes arrive together, so one home's rows lie one per table page: every
    # row was a random page read (a re-learn, ~3,000 of them). The index holds what that query
    # reads in home and time order: a few pages per home. Partial: only the kinds that are signs
    # of life, whose values are a word; an accelerometer window's value is kilobytes of samples
    # (PostgreSQL refuses index entries over 2,704 bytes). events_home_time stays for the rest.
    """
    CREATE INDEX events_home_activity
        ON events(home_id, occurred_at, kind, value, kit_id, sensor_id, room)
        WHERE kind IN ('motion', 'appliance', 'door', 'help_button', 'ok_button', 'occupancy');
    """,
    # 4: every event in one home-and-time index, not two. Measured at 60,000 homes, the single
    # writer spent most of its time inside the INSERT: each event landed on a different leaf of
    # three B-trees keyed by home or kit (events_home_time, events_home_activity, the unique
    # key), each a random page to read and a whole page to log. A sign of life is in
    # events_home_activity already, so events_home_time keeps only the other kinds. Queries name
    # the index's term (hub/persistence/event_index_terms.py, checked against these indexes by a
    # test). Building it reads the table once. Built before the old one is dropped: on
    # PostgreSQL DROP INDEX locks the table against readers until the step commits.
    """
    CREATE INDEX events_home_other ON events(home_id, occurred_at)
        WHERE kind NOT IN ('motion', 'appliance', 'door', 'help_button', 'ok_button', 'occupancy');
    DROP INDEX events_home_time;
    """,
    # 5: which kits' registrations changed, in order. Each writer keeps every kit in memory and
    # reads this every few seconds to drop the ones re-provisioned since (hub/ingest.py), instead
    # of reading every kit again every 15 minutes (at 100,000 kits, 110 reads a second of the
    # single writer's time). Rows older than a day are removed as new ones come.
    """
    CREATE TABLE kit_changes (
        seq INTEGER PRIMARY KEY,
        kit_id TEXT NOT NULL,
        changed_at REAL NOT NULL
    );
    CREATE INDEX kit_changes_at ON kit_changes(changed_at);
    """,
)
