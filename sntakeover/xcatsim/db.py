"""The store of a simulated cluster: one SQLite file, like xCAT's own default database.

Every xCAT table of :data:`state.TABLES` is an SQL table with xCAT's columns
(NULL = never set). ``member`` indexes ``nodelist.groups`` (group -> node),
``machine`` holds what is true on each simulated host (one JSON document per
host), ``meta`` the simulation settings (latency, fanout, addresses).

The file is in WAL mode with a busy timeout: readers never wait, writers wait
only for each other's short transactions, so commands running at the same time
overlap as on a real management node. There is no lock held for a whole
command: a command reads what it needs when it needs it and writes each change
in its own transaction (:meth:`DB.write`), committed when it happens. Nothing
may sleep inside a transaction.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .state import (LIST_TABLES, MACHINE_KEYS, NODE_ATTRS, TABLES, StateError, in_subnet, inherited, is_ip,
                    new_machine, split_groups)

log = logging.getLogger(__name__)

DB_FILE = "cluster.db"
LOG_FILE = "commands.log"
KEY_COLUMN = {t: cols[0] for t, cols in TABLES.items() if t not in LIST_TABLES}
KEY_COLUMN["notification"] = "filename"
_CHUNK = 900
_GROUP_CACHE_SECONDS = 5.0  # group rows and the site table, like xCAT's own caches
_BUSY_SECONDS = 60
_BUSY_STEP_MS = 3
# statelite rows snmove reads (Table.pm getAllEntries without "all")
_ENABLED = ("0", "no", "NO", "No", "nO")


@lru_cache(maxsize=1024)
def q(name: str) -> str:
    """A quoted SQL identifier (xCAT column names include SQL keywords: key, groups, disable)."""
    return '"' + name.replace('"', '""') + '"'


def _schema() -> list[str]:
    out = ["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
           "CREATE TABLE member (grp TEXT NOT NULL, node TEXT NOT NULL, pos INTEGER NOT NULL, "
           "PRIMARY KEY (grp, node)) WITHOUT ROWID",
           "CREATE INDEX member_node ON member (node)",
           "CREATE TABLE machine (name TEXT PRIMARY KEY, up INTEGER NOT NULL, power TEXT NOT NULL, "
           "data TEXT NOT NULL)"]
    for t, cols in TABLES.items():
        key = KEY_COLUMN.get(t)
        defs = ", ".join(f"{q(c)} TEXT" + (" PRIMARY KEY" if c == key else "") for c in cols)
        out.append(f"CREATE TABLE {q(t)} ({defs})")
    out.append('CREATE INDEX statelite_node ON statelite ("node")')
    return out


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _present(row: sqlite3.Row | tuple, cols: list[str]) -> dict[str, str]:
    return {c: v for c, v in zip(cols, row) if v is not None}


class DB:
    """One connection to a cluster's store."""

    def __init__(self, directory: str | os.PathLike[str], *, create: bool = False) -> None:
        self.dir = Path(directory)
        path = self.dir / DB_FILE
        if not create and not path.exists():
            raise StateError(f"no simulated cluster in {self.dir}")
        self.conn = sqlite3.connect(path, timeout=float(_BUSY_SECONDS), isolation_level=None)
        if create:
            self.conn.execute("PRAGMA journal_mode = WAL")
        # committed data is visible to every process (and survives a killed one) without fsync; a
        # simulation has no power failures to survive, and fsync stalls would be the disk's cost, not xCAT's
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA cache_size = -65536")     # up to 64 MiB: a whole big cluster stays in memory
        self.conn.execute("PRAGMA mmap_size = 268435456")
        self._depth = 0
        self._gcache: dict[str, tuple[float, dict[str, dict]]] = {}
        self._site: tuple[float, dict[str, str]] | None = None
        self.changes: list[tuple[str, str, str, dict, dict]] = []
        self.on_commit: Callable[[list[tuple[str, str, str, dict, dict]]], None] | None = None

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------ transactions
    @property
    def in_write(self) -> bool:
        return self._depth > 0

    @contextmanager
    def write(self) -> Iterator["DB"]:
        """One write transaction (nested calls join it); change records go to ``on_commit``."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            self.changes.clear()
            raise
        self._depth = 0
        self.conn.execute("COMMIT")
        changes, self.changes = self.changes, []
        if changes and self.on_commit is not None:
            self.on_commit(changes)

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, retried every few milliseconds while another writer holds the lock
        (SQLite's own busy handler backs off to 100 ms sleeps, which would serialize many short
        writers far more than their transactions do)."""
        deadline = time.monotonic() + _BUSY_SECONDS
        self.conn.execute(f"PRAGMA busy_timeout = {_BUSY_STEP_MS}")
        try:
            while True:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {_BUSY_SECONDS * 1000}")

    def _rows_in(self, sql: str, keys: list[str], extra: tuple = ()) -> list[tuple]:
        out: list[tuple] = []
        for part in _chunks(keys):
            marks = ",".join("?" * len(part))
            out.extend(self.conn.execute(sql.format(marks=marks), (*extra, *part)).fetchall())
        return out

    # ------------------------------------------------------------ settings
    def meta(self, key: str, default: str = "") -> str:
        r = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return r[0] if r and r[0] is not None else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.write():
            self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                              "SET value = excluded.value", (key, str(value)))

    def site(self, key: str) -> str:
        """A site attribute (read once per few seconds, as xcatd keeps the site table in memory)."""
        now = time.monotonic()
        if self._site is None or now - self._site[0] > _GROUP_CACHE_SECONDS:
            self._site = (now, {k: v or "" for k, v in self.conn.execute('SELECT "key", "value" FROM site')})
        return self._site[1].get(key, "")

    # ------------------------------------------------------------ nodes and groups
    def all_nodes(self) -> list[str]:
        return sorted(r[0] for r in self.conn.execute('SELECT "node" FROM nodelist'))

    def is_node(self, name: str) -> bool:
        return self.conn.execute('SELECT 1 FROM nodelist WHERE "node" = ?', (name,)).fetchone() is not None

    def existing(self, names: Iterable[str]) -> set[str]:
        return {r[0] for r in self._rows_in('SELECT "node" FROM nodelist WHERE "node" IN ({marks})',
                                            sorted(set(names)))}

    def group_members(self, group: str) -> list[str] | None:
        """The nodes of a group, or None when no node is in it."""
        rows = self.conn.execute("SELECT node FROM member WHERE grp = ?", (group,)).fetchall()
        return [r[0] for r in rows] or None

    def in_group(self, node: str, group: str) -> bool:
        return self.conn.execute("SELECT 1 FROM member WHERE grp = ? AND node = ?",
                                 (group, node)).fetchone() is not None

    # ------------------------------------------------------------ table rows
    def rows(self, table: str, keys: Iterable[str] | None, cols: list[str] | None = None) -> dict[str, dict]:
        """Keyed rows {key: {col: value or None}} of a keyed table; all rows when keys is None."""
        key = KEY_COLUMN[table]
        cols = cols or TABLES[table][1:]
        sel = ", ".join(q(c) for c in (key, *cols))
        if keys is None:
            found = self.conn.execute(f"SELECT {sel} FROM {q(table)}").fetchall()
        else:
            found = self._rows_in(f"SELECT {sel} FROM {q(table)} WHERE {q(key)} IN ({{marks}})", list(keys))
        return {r[0]: dict(zip(cols, r[1:])) for r in found}

    def row(self, table: str, key: str) -> dict[str, str] | None:
        """One keyed row with only its non-NULL columns, or None."""
        cols = TABLES[table]
        r = self.conn.execute(f"SELECT {', '.join(q(c) for c in cols)} FROM {q(table)} WHERE {q(cols[0])} = ?",
                              (key,)).fetchone()
        if r is None:
            return None
        d = _present(r, cols)
        d.pop(cols[0], None)
        return d

    def list_rows(self, table: str) -> list[dict[str, str]]:
        """All rows of a table in insertion order, each with its non-NULL columns and ``_rowid``."""
        cols = TABLES[table]
        out = []
        for r in self.conn.execute(f"SELECT rowid, {', '.join(q(c) for c in cols)} FROM {q(table)} ORDER BY rowid"):
            d = _present(r[1:], cols)
            d["_rowid"] = r[0]
            out.append(d)
        return out

    def get_attrs(self, nodes: list[str] | None, table: str, cols: list[str],
                  origin: bool = False) -> dict[str, dict[str, Any]]:
        """Per node (all nodes when None), each column's value after group inheritance
        ((value, group) with ``origin``). Nodes that are not in nodelist get their own row's values."""
        sel = ", ".join(f"t.{q(c)}" for c in cols)
        if table == "nodelist":
            base = f'SELECT t."node", t."groups", {sel} FROM nodelist t'
        else:
            base = f'SELECT l."node", l."groups", {sel} FROM nodelist l LEFT JOIN {q(table)} t ON t."node" = l."node"'
        where = ' WHERE t."node" IN ({marks})' if table == "nodelist" else ' WHERE l."node" IN ({marks})'
        found = self.conn.execute(base).fetchall() if nodes is None else self._rows_in(base + where, nodes)
        names = [r[0] for r in found] if nodes is None else nodes
        rows = {r[0]: r for r in found}
        missing = [n for n in names if n not in rows]
        if missing:  # not nodes (e.g. group or unknown names): their own rows, no groups
            for k, r in self.rows(table, missing, cols).items():
                rows[k] = (k, "", *(r[c] for c in cols))
        out: dict[str, dict[str, Any]] = {}
        for n in names:
            r = rows.get(n)
            groups = split_groups(r[1]) if r else []
            own = dict(zip(cols, r[2:])) if r else None
            vals: dict[str, Any] = {}
            for c in cols:
                v = (own or {}).get(c) or ""
                if v or table == "nodelist" or not groups:
                    vals[c] = (v, None) if origin else v
                    continue
                v = inherited(table, c, own, groups, self._group_rows(table, groups))
                vals[c] = v if origin else v[0]
            out[n] = vals
        return out

    def _group_rows(self, table: str, groups: list[str]) -> dict[str, dict]:
        """Group rows of a node table, cached for a few seconds (as xCAT's NodeRange and Table caches)."""
        now = time.monotonic()
        cache = self._gcache.get(table)
        if cache is None or now - cache[0] > _GROUP_CACHE_SECONDS:
            cache = self._gcache[table] = (now, {})
        rows = cache[1]
        need = [g for g in groups if g not in rows]
        if need:
            found = self.rows(table, need)
            for g in need:
                rows[g] = found.get(g) or {}
        return rows

    def get_attr(self, node: str, table: str, col: str, *, with_origin: bool = False) -> Any:
        v = self.get_attrs([node], table, [col], origin=True)[node][col]
        return v if with_origin else v[0]

    def node_attrs(self, nodes: list[str] | None, attrs: Iterable[str]) -> dict[str, dict[str, str]]:
        """lsdef attribute names -> values, per node."""
        by_table: dict[str, list[str]] = {}
        for a in attrs:
            t, c = NODE_ATTRS[a]
            by_table.setdefault(t, []).append(c)
        out: dict[str, dict[str, str]] = {}
        for t, cols in by_table.items():
            for n, vals in self.get_attrs(nodes, t, sorted(set(cols))).items():
                d = out.setdefault(n, {})
                for a in attrs:
                    at, ac = NODE_ATTRS[a]
                    if at == t:
                        d[a] = vals[ac]
        return out

    def node_attr(self, node: str, attr: str) -> str:
        t, c = NODE_ATTRS[attr]
        return self.get_attr(node, t, c)

    def set_node_attrs(self, node: str, table: str, values: dict[str, str]) -> None:
        """Write a node-level row; record ('u'|'a', table, key, old_row, new_values) for notification."""
        key = KEY_COLUMN[table]
        cols = list(values)
        self._gcache.pop(table, None)
        with self.write():
            old = self.row(table, node)
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols) or f"{q(key)} = excluded.{q(key)}"
            self.conn.execute(f"INSERT INTO {q(table)} ({', '.join(q(c) for c in (key, *cols))}) "
                              f"VALUES ({','.join('?' * (len(cols) + 1))}) ON CONFLICT ({q(key)}) DO UPDATE SET {sets}",
                              (node, *values.values()))
            if table == "nodelist" and "groups" in values:
                self._set_members(node, values["groups"])
            changed = old is None or any((old.get(k) or "") != v for k, v in values.items())
            if changed:
                self.changes.append(("u" if old is not None else "a", table, node, old or {}, dict(values)))

    def add_node(self, node: str) -> None:
        """A new node object: a nodelist row with no groups and a simulated host that is up."""
        with self.write():
            self.conn.execute('INSERT INTO nodelist ("node", "groups") VALUES (?, ?)', (node, ""))
            self.changes.append(("a", "nodelist", node, {}, {}))
            if self.conn.execute("SELECT 1 FROM machine WHERE name = ?", (node,)).fetchone() is None:
                self.save_machine(node, new_machine())

    def _set_members(self, node: str, groups: str | None) -> None:
        self.conn.execute("DELETE FROM member WHERE node = ?", (node,))
        self.conn.executemany("INSERT OR IGNORE INTO member (grp, node, pos) VALUES (?, ?, ?)",
                              [(g, node, i) for i, g in enumerate(split_groups(groups))])

    def put_row(self, table: str, values: dict[str, str]) -> None:
        """Insert or replace a row of a keyed table (site, nimimage, notification)."""
        cols = list(values)
        self._site = None
        with self.write():
            self.conn.execute(f"INSERT OR REPLACE INTO {q(table)} ({', '.join(q(c) for c in cols)}) "
                              f"VALUES ({','.join('?' * len(cols))})", tuple(values.values()))

    def delete_row(self, table: str, key: str) -> None:
        with self.write():
            self.conn.execute(f"DELETE FROM {q(table)} WHERE {q(KEY_COLUMN[table])} = ?", (key,))

    # ------------------------------------------------------------ statelite, networks
    def statelite_rows(self, *, enabled_only: bool) -> list[dict[str, str]]:
        rows = self.list_rows("statelite")
        if enabled_only:
            rows = [r for r in rows if r.get("disable") in (None, "", *_ENABLED)]
        return rows

    def set_statelite(self, node: str, statemnt: str) -> None:
        """Table.pm setAttribs({node => N}, {statemnt => V}): update the node's rows, else add one."""
        cols = TABLES["statelite"]
        with self.write():
            old = [_present(r, cols) for r in self.conn.execute(
                f'SELECT {", ".join(q(c) for c in cols)} FROM statelite WHERE "node" = ? ORDER BY rowid', (node,))]
            if old:
                self.conn.execute('UPDATE statelite SET "statemnt" = ? WHERE "node" = ?', (statemnt, node))
                for r in old:
                    self.changes.append(("u", "statelite", node, r, {"node": node, "statemnt": statemnt}))
            else:
                self.conn.execute('INSERT INTO statelite ("node", "image", "statemnt") VALUES (?, ?, ?)',
                                  (node, "", statemnt))
                self.changes.append(("a", "statelite", node, {}, {"node": node, "statemnt": statemnt}))

    def networks(self) -> list[dict[str, str]]:
        return self.list_rows("networks")

    def resolve(self, name: str) -> str:
        """getipaddr: an IP stays as is; a name is looked up in the hosts table."""
        return self.resolve_many([name])[name]

    def resolve_many(self, names: list[str]) -> dict[str, str]:
        ips = {n: (r.get("ip") or "") for n, r in self.rows("hosts", [n for n in names if not is_ip(n)],
                                                          ["ip"]).items()}
        master = self.site("master")
        return {n: n if is_ip(n) else ips.get(n) or (n if n == master else "") for n in names}

    def node_network(self, node: str, networks: list[dict[str, str]] | None = None) -> dict[str, str] | None:
        """The LAST networks row containing the node's IP (xCAT's getNetwkInfo)."""
        ip = self.resolve(node)
        found = None
        for row in self.networks() if networks is None else networks:
            if in_subnet(ip, row.get("mask", ""), row.get("net", "")):
                found = row
        return found

    # ------------------------------------------------------------ machines
    def machines(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The simulated hosts of those names that have one."""
        return {n: json.loads(d) for n, d in self._rows_in(
            "SELECT name, data FROM machine WHERE name IN ({marks})", names)}

    def machine(self, name: str) -> dict[str, Any]:
        """The host of ``name``; a new (up) one if it has none yet."""
        return self.machines([name]).get(name) or new_machine()

    def save_machine(self, name: str, m: dict[str, Any]) -> None:
        with self.write():
            self.conn.execute("INSERT OR REPLACE INTO machine (name, up, power, data) VALUES (?, ?, ?, ?)",
                              (name, 1 if m.get("up") else 0, m.get("power") or "off", json.dumps(m)))

    def up_map(self, names: list[str]) -> dict[str, bool]:
        found = {n: bool(u and p == "on") for n, u, p in self._rows_in(
            "SELECT name, up, power FROM machine WHERE name IN ({marks})", names)}
        return {n: found.get(n, False) for n in names}

    def is_up(self, name: str) -> bool:
        return self.up_map([name])[name]

    def mn_reaches(self, name: str) -> bool:
        """Up and reachable from the MN (not partitioned from it)."""
        return self.is_up(name) and not self.machine(name).get("partitioned")

    # ------------------------------------------------------------ the dict form
    def export(self) -> dict[str, Any]:
        """The whole cluster in the dict form, as one consistent snapshot (one read transaction)."""
        self.conn.execute("BEGIN")
        try:
            return self._export()
        finally:
            self.conn.execute("COMMIT")

    def _export(self) -> dict[str, Any]:
        tables: dict[str, Any] = {}
        for t, cols in TABLES.items():
            if t in LIST_TABLES:
                tables[t] = [{k: v for k, v in r.items() if k != "_rowid"} for r in self.list_rows(t)]
                continue
            rows = {}
            for r in self.conn.execute(f"SELECT {', '.join(q(c) for c in cols)} FROM {q(t)} ORDER BY rowid"):
                d = _present(r, cols)
                rows[d.pop(cols[0])] = d
            tables[t] = {k: v.get("value", "") for k, v in rows.items()} if t == "site" else rows
        machines = {n: json.loads(d) for n, d in self.conn.execute("SELECT name, data FROM machine ORDER BY rowid")}
        return {"version": int(self.meta("version", "1")), "latency": float(self.meta("latency", "0")),
                "fanout": int(self.meta("fanout", "64")), "tables": tables, "machines": machines}

    def replace_all(self, state: dict[str, Any]) -> None:
        """Make the store hold exactly ``state`` (the dict form)."""
        self._gcache.clear()
        self._site = None
        with self.write():
            for t in (*TABLES, "member", "machine"):
                self.conn.execute(f"DELETE FROM {q(t)}")
            for k in ("version", "latency", "fanout"):
                if k in state:
                    self.set_meta(k, state[k])
            for t, content in state.get("tables", {}).items():
                if t not in TABLES:
                    raise StateError(f"unknown table {t!r}")
                if t == "site":
                    rows = [{"key": k, "value": v} for k, v in content.items()]
                elif t in LIST_TABLES:
                    rows = list(content)
                else:
                    rows = [{KEY_COLUMN[t]: k, **v} for k, v in content.items()]
                for r in rows:
                    bad = [c for c in r if c not in TABLES[t]]
                    if bad:
                        raise StateError(f"table {t!r} has no column {bad[0]!r}")
                    cols = list(r)
                    self.conn.execute(f"INSERT INTO {q(t)} ({', '.join(q(c) for c in cols)}) "
                                      f"VALUES ({','.join('?' * len(cols))})", tuple(r.values()))
                    if t == "nodelist":
                        self._set_members(r["node"], r.get("groups"))
            for name, m in state.get("machines", {}).items():
                bad = [k for k in m if k not in MACHINE_KEYS]
                if bad:
                    raise StateError(f"machine {name!r} has no key {bad[0]!r}")
                self.save_machine(name, {**new_machine(), **m})
            self.changes.clear()


_LOG_FDS: dict[str, int] = {}


def append_log(directory: str | os.PathLike[str], argv: list[str], rc: int, via: str | None = None) -> None:
    """One line per command; a single append write, so lines from concurrent commands never mix."""
    path = os.path.join(os.fspath(directory), LOG_FILE)
    fd = _LOG_FDS.get(path)
    if fd is None:
        fd = _LOG_FDS[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    rec = {"argv": list(argv), "rc": rc, "t": time.time(), "via": via}
    os.write(fd, (json.dumps(rec) + "\n").encode())


def commands_log(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    p = Path(directory) / LOG_FILE
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def create(directory: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """A new store in ``directory`` holding ``state`` (an existing one is replaced)."""
    d = Path(directory)
    for suffix in ("", "-wal", "-shm"):
        (d / (DB_FILE + suffix)).unlink(missing_ok=True)
    db = DB(d, create=True)
    try:
        for stmt in _schema():
            db.conn.execute(stmt)
        db.replace_all(state)
    finally:
        db.close()
