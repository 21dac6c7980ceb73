"""PostgreSQL under the store: a connection that speaks the SQL the code base writes.

The modules write SQLite's SQL (``?`` placeholders, ``INSERT OR IGNORE``,
``json_extract``, ``cursor.lastrowid``, rows indexed by number or by name).
:class:`PgConnection` runs it on PostgreSQL (psycopg 3, an optional dependency:
``pip install 'sntakeover[pg]'``) by rewriting each statement once (cached):

- ``?`` -> ``%s``, ``:name`` -> ``%(name)s`` (a literal ``%`` is doubled);
- ``INSERT OR IGNORE`` -> ``ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE`` ->
  ``ON CONFLICT (key) DO UPDATE`` of every other inserted column;
- ``json_extract(x, '$.a.b')`` -> ``(x::jsonb #>> '{a,b}')``; ``json_each(x) AS j``
  -> ``jsonb_array_elements_text(x::jsonb) AS j(value)``; two-argument
  ``MAX(a, b)`` -> ``GREATEST(a, b)``; a bare column on the right of
  ``DO UPDATE SET`` is qualified with the table (PostgreSQL finds it ambiguous);
- ``CREATE TABLE``: SQLite's column types as PostgreSQL's (64-bit integers and floats);
- an ``INSERT`` into a table with a generated key gets ``RETURNING key``, which
  becomes the cursor's ``lastrowid``.

Database errors become :class:`~sntakeover.errors.StoreError`, as the callers
already handle for SQLite; a broken connection is opened again on next use.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Iterator

from .errors import StoreError
from .storeschema import SERIAL_KEYS, pg_decl

log = logging.getLogger(__name__)

#: the key of the transaction-level advisory lock every write transaction takes: writers
#: follow one another as on SQLite (BEGIN IMMEDIATE), across all daemons sharing the database.
#: So keys are assigned in commit order too: a reader of ``seq > cursor`` (the engine's
#: pending events, the notifier's outbox) never finds a lower key committed later.
WRITE_LOCK_KEY = 0x736E7401
#: primary keys of the tables written with ``INSERT OR REPLACE``
REPLACE_KEYS = {"outbox_failures": ("seq", "plugin")}
CONNECT_TIMEOUT = 10


def is_url(location: Any) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password (for logs and ``status``)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def psycopg_module():
    try:
        import psycopg
    except ImportError as exc:  # the optional extra is not installed
        raise StoreError("a postgresql:// store needs psycopg 3: pip install 'sntakeover[pg]'") from exc
    return psycopg


class Row(tuple):
    """A result row indexed by position or by column name, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def row_factory(cursor: Any):
    names = {d.name: i for i, d in enumerate(cursor.description or ())}

    def make(values: Any) -> Row:
        r = Row(values)
        r._names = names
        return r

    return make


@functools.lru_cache(maxsize=512)
def translate(sql: str, named: bool) -> tuple[str, str | None]:
    """SQLite's SQL -> PostgreSQL's; returns (statement, key column whose value is ``lastrowid``)."""
    s = sql.replace("%", "%%")
    s = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", s) if named else s.replace("?", "%s")
    s = re.sub(r"json_extract\(([^,()]+),\s*'\$\.([\w.]+)'\)",
               lambda m: f"({m.group(1).strip()}::jsonb #>> '{{{m.group(2).replace('.', ',')}}}')", s)
    s = re.sub(r"json_each\(([^()]+)\)\s+AS\s+(\w+)", r"jsonb_array_elements_text(\1::jsonb) AS \2(value)", s)
    s = re.sub(r"\bMAX\(([^(),]+),([^(),]+)\)", r"GREATEST(\1,\2)", s)
    if re.match(r"\s*CREATE\s+TABLE", s, re.I):  # a module's own table (tally)
        return pg_decl(s), None
    m = re.match(r"\s*INSERT\s+(OR\s+(IGNORE|REPLACE)\s+)?INTO\s+(\w+)\s*(\(([^)]*)\))?", s, re.I)
    if not m:
        return s, None
    table = m.group(3)
    s = re.sub(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO", "INSERT INTO", s, flags=re.I)
    if m.group(2) and m.group(2).upper() == "IGNORE":
        s += " ON CONFLICT DO NOTHING"
    elif m.group(2):
        keys = REPLACE_KEYS[table]
        cols = [c.strip() for c in (m.group(5) or "").split(",") if c.strip() not in keys]
        s += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in cols)
    if "DO UPDATE SET" in s:
        head, tail = s.split("DO UPDATE SET", 1)
        assigned = re.findall(r"(?:SET|,)\s*(\w+)\s*=", "SET " + tail)
        for col in assigned:
            tail = re.sub(rf"(?<![.\w]){col}\b(?!\s*=)", f"{table}.{col}", tail)
        s = head + "DO UPDATE SET" + tail
    key = SERIAL_KEYS.get(table)
    if key and "RETURNING" not in s.upper():
        s += f" RETURNING {key}"
        return s, key
    return s, None


class PgCursor:
    """What the callers use of a ``sqlite3.Cursor``."""

    def __init__(self, cur: Any, returning: str | None) -> None:
        self.cur = cur
        self.rowcount = cur.rowcount
        self.lastrowid = None
        if returning is not None:
            row = cur.fetchone()
            self.lastrowid = row[0] if row else None

    def fetchone(self) -> Any:
        if self.lastrowid is not None or self.cur.description is None:
            return None
        return self.cur.fetchone()

    def fetchall(self) -> list[Any]:
        if self.lastrowid is not None or self.cur.description is None:
            return []
        return self.cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """One PostgreSQL connection in autocommit mode; transactions are explicit (``BEGIN``/``COMMIT``)."""

    def __init__(self, url: str, *, readonly: bool = False, application: str = "sntakeover") -> None:
        self.url = url
        self.readonly = readonly
        self.application = application
        self.conn: Any = None
        self.connect()

    def connect(self) -> None:
        psycopg = psycopg_module()
        try:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                                        application_name=self.application, row_factory=row_factory)
            if self.readonly:
                self.conn.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact(self.url)}: {exc}") from exc

    def ensure(self) -> None:
        """Open the connection again if it broke (the server restarted, the backend was killed)."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            log.warning("store connection to %s lost; connecting again", redact(self.url))
            self.connect()

    @property
    def in_transaction(self) -> bool:
        psycopg = psycopg_module()
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, args: Any = ()) -> PgCursor:
        psycopg = psycopg_module()
        named = isinstance(args, dict)
        stmt, returning = translate(sql, named)
        try:
            cur = self.conn.execute(stmt, args if named else tuple(args))
            return PgCursor(cur, returning)
        except psycopg.Error as exc:
            raise StoreError(f"{exc}".strip()) from exc

    def begin(self) -> None:
        self.ensure()
        self.execute("BEGIN")
        self.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.closed or self.conn.broken:
            return
        try:
            self.execute("ROLLBACK")
        except StoreError:
            log.debug("rollback failed", exc_info=True)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
