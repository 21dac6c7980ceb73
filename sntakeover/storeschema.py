"""The store's schema, its versions and its migrations, for SQLite and PostgreSQL.

One DDL text (SQLite's dialect) is the schema; :func:`ddl` turns it into
PostgreSQL's. ``meta`` holds ``schema_version``, ``store_id`` (in command tags)
and ``leader_generation`` (the fencing token, see :mod:`sntakeover.leader`).

Versions:

1. the tables below; columns added later in place (``ADDED_COLUMNS``) are
   added whenever a store is opened for writing.
2. ``commands.generation`` (the fencing token of the leader that ran the
   command) and ``meta.leader_generation``.
3. ``events.sender`` and ``raw.sender``: the name of the CURVE key a request
   came with; ``events.attempts``: failed applies of an event (a poison event is
   quarantined after ``engine.apply_attempts``).

:func:`migrate` brings any older store to :data:`SCHEMA_VERSION` in one
transaction; it is idempotent.
"""

from __future__ import annotations

import re
from typing import Any

#: the schema version this code reads and writes
SCHEMA_VERSION = 3


DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    servicenode TEXT NOT NULL,
    received TEXT NOT NULL,
    body TEXT NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    incident_id INTEGER,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events(processed) WHERE processed = 0;
CREATE TABLE IF NOT EXISTS raw (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    received TEXT NOT NULL,
    payload TEXT NOT NULL,
    event_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    servicenode TEXT NOT NULL,
    state TEXT NOT NULL,
    opened TEXT NOT NULL,
    updated TEXT NOT NULL,
    closed TEXT,
    reason TEXT NOT NULL DEFAULT '',
    requested INTEGER NOT NULL DEFAULT 0,
    nodes TEXT NOT NULL DEFAULT '[]',
    plan TEXT
);
CREATE INDEX IF NOT EXISTS incidents_sn ON incidents(servicenode, id);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_incident ON incidents(servicenode) WHERE closed IS NULL;
CREATE TABLE IF NOT EXISTS timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    time TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_incident ON timeline(incident_id);
CREATE TABLE IF NOT EXISTS nodes (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    node TEXT NOT NULL,
    source TEXT NOT NULL,
    backup TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL,
    PRIMARY KEY (incident_id, node)
);
CREATE TABLE IF NOT EXISTS verdicts (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    node TEXT NOT NULL,
    verifier TEXT NOT NULL,
    ok INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    time TEXT NOT NULL,
    PRIMARY KEY (incident_id, node, verifier)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hook TEXT NOT NULL,
    created TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_cursor (
    plugin TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_failures (
    seq INTEGER NOT NULL,
    plugin TEXT NOT NULL,
    time TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (seq, plugin)
);
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER,
    started TEXT NOT NULL,
    argv TEXT NOT NULL,
    pid INTEGER,
    rc INTEGER,
    timed_out INTEGER,
    duration REAL,
    stdout TEXT,
    stderr TEXT
);
CREATE TABLE IF NOT EXISTS controls (
    key TEXT PRIMARY KEY,          -- 'pause', 'breaker'
    value TEXT NOT NULL,           -- JSON
    since TEXT NOT NULL,
    by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS maintenance (
    servicenode TEXT PRIMARY KEY,
    until TEXT NOT NULL,
    since TEXT NOT NULL,
    by TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT ''
);
"""

#: columns added to existing tables after version 1 (table, column, declaration);
#: an older store gets them with ALTER TABLE when it is opened
ADDED_COLUMNS = (
    ("incidents", "committed", "TEXT"),  # when fencing or moving began: from then on the takeover completes
    ("incidents", "wake_at", "TEXT"),  # when the engine looks at the incident again (NULL = now)
    ("incidents", "waiting", "TEXT NOT NULL DEFAULT ''"),  # what it waits for, in plain words
    ("incidents", "evidence", "TEXT NOT NULL DEFAULT '{}'"),  # confirmation rounds, retries, re-probe requests
    ("incidents", "approvals", "TEXT NOT NULL DEFAULT '[]'"),  # gates a human approved: [{gate, by, time, comment}]
    ("incidents", "fenced", "TEXT"),  # how the SN was fenced (NULL = not yet)
    ("incidents", "escalated", "TEXT"),  # last reminder sent while waiting
    ("nodes", "moved", "TEXT"),  # when the takeover ran for this node (hold-down counts from here)
    ("commands", "tag", "TEXT"),  # put in the command's environment: finds its process after a restart
    ("commands", "generation", "INTEGER"),  # the leader's fencing token when the command was recorded (version 2)
    ("events", "sender", "TEXT"),  # the name of the CURVE key it came with, NULL: ipc:// or insecure tcp:// (version 3)
    ("raw", "sender", "TEXT"),
    ("events", "attempts", "INTEGER NOT NULL DEFAULT 0"),  # failed applies (see sntakeover.poison) (version 3)
)


#: tables whose key the database assigns: table -> key column (``lastrowid`` on PostgreSQL)
SERIAL_KEYS = {"events": "seq", "raw": "seq", "incidents": "id", "timeline": "seq", "outbox": "seq", "commands": "seq"}


def ddl(dialect: str) -> list[str]:
    """The schema's statements for ``sqlite`` or ``postgresql``."""
    text = DDL
    if dialect == "postgresql":
        text = pg_decl(text)
    text = re.sub(r"--[^\n]*", "", text)
    return [s.strip() for s in text.split(";") if s.strip()]


def pg_decl(decl: str) -> str:
    """SQLite's column types as PostgreSQL's: 64-bit integers and floats, as SQLite stores them."""
    decl = decl.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    decl = re.sub(r"\bINTEGER\b", "BIGINT", decl)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", decl)


def stored_version(db: Any, dialect: str) -> int | None:
    """The store's schema version; ``None`` for an empty database (no ``meta`` table)."""
    if dialect == "sqlite":
        have = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    else:
        have = db.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema()"
                          " AND table_name = 'meta'").fetchone()
    if not have:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def columns(db: Any, dialect: str, table: str) -> set[str]:
    if dialect == "sqlite":
        return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    return {r[0] for r in db.execute("SELECT column_name FROM information_schema.columns WHERE"
                                     " table_schema = current_schema() AND table_name = ?", (table,))}


def migrate(db: Any, dialect: str) -> tuple[int | None, int]:
    """Create or upgrade the schema inside the caller's write transaction; returns (from, to)."""
    before = stored_version(db, dialect)
    for stmt in ddl(dialect):
        db.execute(stmt)
    for table, column, decl in ADDED_COLUMNS:
        if column not in columns(db, dialect, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {pg_decl(decl) if dialect != 'sqlite' else decl}")
    store_id = "lower(hex(randomblob(6)))" if dialect == "sqlite" else "substr(md5(random()::text), 1, 12)"
    db.execute(f"INSERT OR IGNORE INTO meta VALUES ('store_id', {store_id})")
    db.execute("INSERT OR IGNORE INTO meta VALUES ('leader_generation', '0')")
    db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    return before, SCHEMA_VERSION
