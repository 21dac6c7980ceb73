"""Durable store: one SQLite file in WAL mode, or a PostgreSQL database (:mod:`sntakeover.pgstore`).

Tables: ``events`` (every accepted event, unique on its id, with a
``processed`` flag so an acknowledged event that was not yet applied is applied
after a crash), ``raw`` (monitoring payloads as received), ``incidents`` (at most
one open per service node, enforced by a partial unique index), ``timeline``
(append-only transitions and notes), ``nodes`` (per-node plan and the combined
verdict), ``verdicts`` (what each verifier said about each node: ``ok`` 1, 0 or
NULL for "could not tell") and ``commands`` (every xCAT command run for an incident).

Writes use ``synchronous=FULL``: when :meth:`Store.add_event` returns, the event
is on disk, and only then is it acknowledged.

Each component (intake, engine, notifier) opens its own :class:`Store`, that is
its own connection: WAL lets one writer and any number of readers work at once,
and a writer waits for another (busy timeout) instead of sharing one lock.
``outbox`` holds notifications for plugins (see :mod:`sntakeover.outbox`).
The database and its ``-wal``/``-shm`` files are made 0640, also when they
already existed (:mod:`sntakeover.storefiles`). The schema and its versions are
:mod:`sntakeover.storeschema`'s.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .clock import now
from .errors import StaleLeader, StoreError
from .model import Event, Incident, NodeProgress, NodeVerdict, State
from .pgstore import PgConnection, is_url, redact
from .storefiles import BUSY_TIMEOUT, FILE_MODE, create_private, store_exists, tighten, tighten_store_files, write_lock
from .storecommands import CommandsAndLead
from .storeschema import SCHEMA_VERSION, migrate as migrate_schema, stored_version

__all__ = ["FILE_MODE", "SCHEMA_VERSION", "Store", "StaleLeader", "store_exists", "tighten", "tighten_store_files"]

log = logging.getLogger(__name__)

class Store(CommandsAndLead):
    """Thread-safe access to the store: one connection, one lock.

    ``path`` is an SQLite file, or a ``postgresql://`` URL (:mod:`sntakeover.pgstore`):
    the same schema, statements and behaviour on either.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False, synchronous: str = "FULL",
                 checkpoint: bool = True, migrate: bool | None = None) -> None:
        """Open (and create) the store.

        :param synchronous: ``FULL`` (every commit is on disk when it returns) or
            ``NORMAL`` (for a connection whose commits may be redone after a
            crash: the engine's event apply; the next FULL commit of any
            connection makes them durable too, WAL being one file written in order).
            PostgreSQL commits are always durable (``synchronous_commit`` of the server).
        :param checkpoint: ``False`` turns automatic WAL checkpoints off on this
            connection (they run inside a commit); then someone must call
            :meth:`checkpoint` (the daemon does, every second).
        :param migrate: bring an older schema to :data:`SCHEMA_VERSION` when opening.
            ``None``: an SQLite file (one daemon's) is migrated, a shared PostgreSQL
            database only when it is empty; an older one is refused until
            ``sntakeover store migrate`` has run (daemons of both versions may share it).
        """
        self.dialect = "postgresql" if is_url(path) else "sqlite"
        self.path: Any = str(path) if self.dialect == "postgresql" else Path(path)
        self.checkpoints = checkpoint
        self._lock = threading.RLock()
        #: set by the daemon's leader election: returns the fencing token this process holds
        #: (``None`` = not the leader); :meth:`command_started` checks it against the store's
        self.fencing: Callable[[], int | None] | None = None
        if self.dialect == "postgresql":
            self._write = threading.Lock()
            self.db: Any = PgConnection(self.path, readonly=readonly)
            if not readonly:
                self._open_schema(False if migrate is None else migrate)
            return
        self._write = write_lock(self.path)
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=10)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # SQLite gives the -wal and -shm files the mode of the database file. Only a new
                # file is opened here: closing any descriptor of a file drops every POSIX lock this
                # process holds on it, the ones SQLite holds for an open connection included.
                create_private(self.path)
                tighten_store_files(self.path)
                self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                if synchronous not in ("FULL", "NORMAL"):
                    raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
                self.db.execute(f"PRAGMA synchronous={synchronous}")
                if not checkpoint:
                    self.db.execute("PRAGMA wal_autocheckpoint=0")
                self.db.execute("PRAGMA foreign_keys=ON")
                self.db.row_factory = sqlite3.Row
                self._open_schema(True if migrate is None else migrate)
                tighten_store_files(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self.db.row_factory = sqlite3.Row

    def __str__(self) -> str:
        return redact(self.path) if self.dialect == "postgresql" else str(self.path)

    def _open_schema(self, migrate: bool) -> None:
        """Check the schema version; create or migrate it (see :mod:`sntakeover.storeschema`)."""
        version = self.schema_version()
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(f"store {self} has schema version {version}, newer than this sntakeover's "
                             f"({SCHEMA_VERSION}): upgrade sntakeover")
        if version == SCHEMA_VERSION:
            with self.tx() as db:  # columns of this version added in place, as ever
                migrate_schema(db, self.dialect)
            return
        if version is not None and not migrate:
            raise StoreError(f"store {self} has schema version {version}, older than this sntakeover's "
                             f"({SCHEMA_VERSION}): run `sntakeover store migrate` first")
        self.migrate()

    def schema_version(self) -> int | None:
        with self._lock:
            if self.dialect == "postgresql":
                self.db.ensure()
            return stored_version(self.db, self.dialect)

    def migrate(self) -> tuple[int | None, int]:
        """Bring the schema to :data:`SCHEMA_VERSION`; returns (version before, version now)."""
        with self.tx() as db:
            before, after = migrate_schema(db, self.dialect)
        if before != after:
            log.info("store %s: schema version %s -> %d", self, before if before is not None else "(new)", after)
        return before, after

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def tx(self) -> Iterator[Any]:
        """An immediate write transaction, committed on success (writers follow one another)."""
        with self._lock, self._write:
            if self.dialect == "postgresql":
                self.db.begin()
                try:
                    yield self.db
                except BaseException:
                    self.db.rollback()
                    raise
                else:
                    self.db.commit()
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    def checkpoint(self) -> None:
        """Copy the WAL back into the database without blocking writers (PASSIVE).

        The daemon's connections leave automatic checkpoints off (they would run
        inside a writer's commit, holding up the intake) and a thread calls this.
        Nothing to do on PostgreSQL (the server checkpoints).
        """
        if self.dialect == "postgresql":
            return
        with self._lock:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def query(self, sql: str, args: Any = ()) -> list[Any]:
        with self._lock:
            if self.dialect == "postgresql":
                self.db.ensure()
            return self.db.execute(sql, args).fetchall()

    # -- events ------------------------------------------------------------------

    def add_event(self, event: Event) -> tuple[bool, int | None]:
        """Store an event durably. Returns ``(duplicate, seq)``."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO events (id, kind, servicenode, received, body) VALUES (?,?,?,?,?)",
                (event.id, event.kind, event.servicenode, now(), json.dumps(event.to_dict(), sort_keys=True)),
            )
            if cur.rowcount == 0:
                return True, None
            return False, cur.lastrowid

    def add_events(self, events: list[Event], raw: tuple[str, Any] | None = None) -> list[tuple[bool, int | None]]:
        """Store several events (and the raw payload they came from) in one transaction."""
        out: list[tuple[bool, int | None]] = []
        with self.tx() as db:
            for event in events:
                cur = db.execute(
                    "INSERT OR IGNORE INTO events (id, kind, servicenode, received, body) VALUES (?,?,?,?,?)",
                    (event.id, event.kind, event.servicenode, now(), json.dumps(event.to_dict(), sort_keys=True)),
                )
                out.append((cur.rowcount == 0, cur.lastrowid if cur.rowcount else None))
            if raw is not None:
                db.execute(
                    "INSERT INTO raw (source, received, payload, event_ids) VALUES (?,?,?,?)",
                    (raw[0], now(), json.dumps(raw[1], sort_keys=True), json.dumps([e.id for e in events])),
                )
        return out

    def pending_events(self, limit: int = -1) -> list[tuple[int, Event]]:
        sql = "SELECT seq, body FROM events WHERE processed = 0 ORDER BY seq"
        rows = self.query(sql + " LIMIT ?", (limit,)) if limit >= 0 else self.query(sql)
        return [(r["seq"], Event.from_dict(json.loads(r["body"]))) for r in rows]

    def mark_processed(self, db: sqlite3.Connection, seq: int, incident_id: int | None, outcome: str) -> None:
        db.execute(
            "UPDATE events SET processed = 1, incident_id = ?, outcome = ? WHERE seq = ?", (incident_id, outcome, seq)
        )

    def counts(self) -> dict[str, int]:
        rows = self.query("SELECT processed, COUNT(*) AS n FROM events GROUP BY processed")
        c = {"events": 0, "events_pending": 0}
        for r in rows:
            c["events"] += r["n"]
            if not r["processed"]:
                c["events_pending"] = r["n"]
        return c

    # -- incidents ---------------------------------------------------------------

    def open_incident(self, db: sqlite3.Connection, servicenode: str) -> sqlite3.Row | None:
        return db.execute(
            "SELECT * FROM incidents WHERE servicenode = ? AND closed IS NULL", (servicenode,)
        ).fetchone()

    def create_incident(
        self, db: sqlite3.Connection, servicenode: str, state: State, reason: str, *, requested: bool, nodes: list[str]
    ) -> int:
        t = now()
        closed = t if state.terminal else None
        cur = db.execute(
            "INSERT INTO incidents (servicenode, state, opened, updated, closed, reason, requested, nodes)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (servicenode, state.value, t, t, closed, reason, int(requested), json.dumps(sorted(nodes))),
        )
        iid = int(cur.lastrowid)
        db.execute(
            "INSERT INTO timeline (incident_id, time, from_state, to_state, reason) VALUES (?,?,?,?,?)",
            (iid, t, None, state.value, reason),
        )
        return iid

    def transition(self, iid: int, to: State, reason: str, *, db: sqlite3.Connection | None = None,
                   waiting: str = "", wake_at: str | None = None) -> str:
        """Move an incident to ``to``; returns the previous state. Terminal states close it.

        :param waiting: what the incident waits for, in plain words (waiting states only).
        :param wake_at: when the engine should look at it again (``None`` = at once).
        """

        def _do(c: sqlite3.Connection) -> str:
            row = c.execute("SELECT state FROM incidents WHERE id = ?", (iid,)).fetchone()
            if row is None:
                raise StoreError(f"no incident {iid}")
            t = now()
            c.execute(
                "UPDATE incidents SET state = ?, updated = ?, reason = ?, closed = ?, waiting = ?, wake_at = ?,"
                " escalated = NULL WHERE id = ?",
                (to.value, t, reason, t if to.terminal else None, waiting, wake_at, iid),
            )
            c.execute(
                "INSERT INTO timeline (incident_id, time, from_state, to_state, reason) VALUES (?,?,?,?,?)",
                (iid, t, row["state"], to.value, reason),
            )
            return str(row["state"])

        if db is not None:
            return _do(db)
        with self.tx() as c:
            return _do(c)

    def reopen(self, db: sqlite3.Connection, iid: int, reason: str) -> None:
        """Open a closed incident again (the same outage goes on), back at ``detected``."""
        t = now()
        row = db.execute("SELECT state FROM incidents WHERE id = ?", (iid,)).fetchone()
        db.execute("UPDATE incidents SET state = ?, updated = ?, closed = NULL, reason = ?, waiting = '',"
                   " wake_at = NULL, evidence = '{}' WHERE id = ?", (State.DETECTED.value, t, reason, iid))
        db.execute("INSERT INTO timeline (incident_id, time, from_state, to_state, reason) VALUES (?,?,?,?,?)",
                   (iid, t, row["state"], State.DETECTED.value, reason))

    def set_wake(self, iid: int, wake_at: str | None, *, db: sqlite3.Connection | None = None) -> None:
        """Ask the engine to look at the incident at ``wake_at`` (``None`` = now)."""
        if db is not None:
            db.execute("UPDATE incidents SET wake_at = ? WHERE id = ?", (wake_at, iid))
        else:
            with self.tx() as c:
                c.execute("UPDATE incidents SET wake_at = ? WHERE id = ?", (wake_at, iid))

    def update_json(self, iid: int, column: str, change, *, db: sqlite3.Connection | None = None) -> Any:
        """Read-modify-write one JSON column of an incident (``evidence``, ``approvals``) in a transaction."""
        if column not in ("evidence", "approvals"):
            raise ValueError(column)

        def _do(c: sqlite3.Connection) -> Any:
            row = c.execute(f"SELECT {column} FROM incidents WHERE id = ?", (iid,)).fetchone()
            value = change(json.loads(row[0]))
            c.execute(f"UPDATE incidents SET {column} = ? WHERE id = ?", (json.dumps(value), iid))
            return value

        if db is not None:
            return _do(db)
        with self.tx() as c:
            return _do(c)

    def set_columns(self, iid: int, *, db: sqlite3.Connection | None = None, **values: Any) -> None:
        """Set plain incident columns (``committed``, ``fenced``, ``escalated``, ``waiting``...)."""
        allowed = {"committed", "fenced", "escalated", "waiting", "wake_at", "requested", "reason"}
        if not values or set(values) - allowed:
            raise ValueError(f"cannot set {sorted(set(values) - allowed)}")
        sql = "UPDATE incidents SET " + ", ".join(f"{k} = ?" for k in values) + " WHERE id = ?"
        if db is not None:
            db.execute(sql, (*values.values(), iid))
        else:
            with self.tx() as c:
                c.execute(sql, (*values.values(), iid))

    def note(self, iid: int, text: str, *, db: sqlite3.Connection | None = None) -> None:
        """Append a note (no state change) to the incident's timeline."""
        sql = "INSERT INTO timeline (incident_id, time, from_state, to_state, reason) VALUES (?,?,NULL,NULL,?)"
        if db is not None:
            db.execute(sql, (iid, now(), text))
        else:
            with self.tx() as c:
                c.execute(sql, (iid, now(), text))

    def set_nodes_restriction(self, db: sqlite3.Connection, iid: int, nodes: list[str]) -> None:
        db.execute("UPDATE incidents SET nodes = ? WHERE id = ?", (json.dumps(sorted(nodes)), iid))

    def save_plan(self, iid: int, plan_dict: dict[str, Any], node_rows: list[tuple[str, str, str, str, str]]) -> None:
        """Store the plan and the per-node rows ``(node, source, backup, status, detail)``."""
        t = now()
        with self.tx() as db:
            self.check_fencing(db)
            db.execute("UPDATE incidents SET plan = ?, updated = ? WHERE id = ?", (json.dumps(plan_dict), t, iid))
            for node, source, backup, status, detail in node_rows:
                db.execute(
                    "INSERT INTO nodes (incident_id, node, source, backup, status, detail, updated) VALUES (?,?,?,?,?,?,?)"
                    " ON CONFLICT(incident_id, node) DO UPDATE SET status=excluded.status, detail=excluded.detail,"
                    " updated=excluded.updated",
                    (iid, node, source, backup, status, detail, t),
                )

    def set_node_status(self, iid: int, verdicts: dict[str, tuple[str, str]], *, moved: bool = False) -> None:
        """Set ``(status, detail)`` per node; ``moved`` also stamps the time the takeover ran for them."""
        t = now()
        with self.tx() as db:
            self.check_fencing(db)
            for node, (status, detail) in verdicts.items():
                db.execute(
                    "UPDATE nodes SET status = ?, detail = ?, updated = ?" + (", moved = ?" if moved else "")
                    + " WHERE incident_id = ? AND node = ?",
                    (status, detail, t, *((t,) if moved else ()), iid, node),
                )

    def nodes_in(self, iid: int, *statuses: str) -> list[sqlite3.Row]:
        """Node rows of an incident with one of ``statuses``, in node order."""
        marks = ",".join("?" * len(statuses))
        return self.query(f"SELECT * FROM nodes WHERE incident_id = ? AND status IN ({marks}) ORDER BY node",
                          (iid, *statuses))

    def moved_since(self, nodes: list[str], since: str, *, other_than: int) -> dict[str, tuple[int, str]]:
        """Nodes that another incident moved at or after ``since``: node -> (incident, when)."""
        out: dict[str, tuple[int, str]] = {}
        wanted = set(nodes)
        for r in self.query("SELECT node, incident_id, moved FROM nodes WHERE moved IS NOT NULL AND moved >= ?"
                            " AND incident_id != ? ORDER BY moved", (since, other_than)):
            if r["node"] in wanted:
                out[r["node"]] = (r["incident_id"], r["moved"])
        return out
    def save_verdicts(self, iid: int, verdicts: Iterable[NodeVerdict]) -> None:
        """Store each verifier's verdict per node (a later round replaces an earlier one)."""
        t = now()
        with self.tx() as db:
            self.check_fencing(db)
            for v in verdicts:
                db.execute(
                    "INSERT INTO verdicts (incident_id, node, verifier, ok, detail, time) VALUES (?,?,?,?,?,?)"
                    " ON CONFLICT(incident_id, node, verifier) DO UPDATE SET ok=excluded.ok, detail=excluded.detail,"
                    " time=excluded.time",
                    (iid, v.node, v.verifier, None if v.ok is None else int(v.ok), v.detail, t),
                )

    def verdicts_of(self, iid: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM verdicts WHERE incident_id = ? ORDER BY node, verifier", (iid,))

    def incident(self, iid: int) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM incidents WHERE id = ?", (iid,))
        return rows[0] if rows else None

    def incident_view(self, row: sqlite3.Row) -> Incident:
        rows = self.node_rows(row["id"])
        return Incident(
            id=row["id"],
            servicenode=row["servicenode"],
            state=State(row["state"]),
            opened=row["opened"],
            reason=row["reason"],
            nodes=tuple(json.loads(row["nodes"])),
            requested=bool(row["requested"]),
            committed=bool(row["committed"]),
            progress=NodeProgress.from_statuses({r["node"]: r["status"] for r in rows}, {r["node"]: r["backup"] for r in rows}),
            committed_at=row["committed"],
        )

    def last_closed(self, db: sqlite3.Connection, servicenode: str) -> sqlite3.Row | None:
        """The most recently closed incident of an SN."""
        return db.execute("SELECT * FROM incidents WHERE servicenode = ? AND closed IS NOT NULL"
                          " ORDER BY closed DESC, id DESC LIMIT 1", (servicenode,)).fetchone()

    def unfinished(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM incidents WHERE closed IS NULL ORDER BY id")

    def incidents(self, limit: int = 100) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM incidents ORDER BY id DESC LIMIT ?", (limit,))

    def timeline(self, iid: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM timeline WHERE incident_id = ? ORDER BY seq", (iid,))

    def node_rows(self, iid: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM nodes WHERE incident_id = ? ORDER BY node", (iid,))

    def events_of(self, iid: int) -> list[sqlite3.Row]:
        return self.query("SELECT seq, id, kind, received, outcome, sender FROM events WHERE incident_id = ? ORDER BY seq",
                          (iid,))
