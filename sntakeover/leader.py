"""Exactly one decision maker among daemons sharing a PostgreSQL store.

Every daemon takes intake (any of them acknowledges events durably), but only
the holder of a PostgreSQL advisory lock applies events and drives incidents.
The lock is held by a session of its own (:class:`PgLeadership`'s dedicated
connection): when the leader dies, or its connection is cut, the server drops
the session and the lock with it, and a standby's next attempt gets it.

Each new leadership increments ``meta.leader_generation`` (:meth:`Store.take_lead`);
the leader's engine store carries that generation as its fencing token, and the
store refuses an xCAT command, a transition or a node outcome whose token is
not the current one (:class:`~sntakeover.errors.StaleLeader`), checked in the
transaction that records it.

Timing follows ``ha.takeover_within`` (T): the lock connection is checked, and a
standby tries the lock, every T/4 seconds; the leader stops acting when it has
not confirmed its lock for T/2 (before a standby can have it: the server drops a
dead peer's session after at most T/2 of TCP keepalive and user timeout, set
on the session); a standby leads at most T/4 after the lock was free.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, Callable

from .errors import StoreError
from .pgstore import psycopg_module, redact
from .store import Store

log = logging.getLogger(__name__)

#: the advisory lock whose holder leads (a session lock; writers use another key per transaction)
LEADER_LOCK_KEY = 0x736E7402


def holder_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class SoleLeadership:
    """An SQLite store: the daemon holding the state directory's lock is the only one; no token."""

    generation: int | None = None

    def leading(self) -> bool:
        return True

    def token(self) -> int | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"role": "sole"}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class PgLeadership:
    """Hold, or wait for, the leader lock on a dedicated connection; see the module's text."""

    def __init__(self, url: str, store: Store, takeover_within: float, *,
                 on_change: Callable[[bool], None] = lambda leading: None, holder: str = "") -> None:
        self.url = url
        self.store = store  # where the new generation is written (the engine's store)
        self.within = max(takeover_within, 0.4)
        self.on_change = on_change
        self.holder = holder or holder_name()
        self.generation: int | None = None
        self._confirmed = 0.0
        self._conn: Any = None  # used by the leadership thread only
        self._drop = False
        self._state = threading.Lock()  # generation and _confirmed; never held across I/O
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        return self.within / 4

    # -- what the engine asks --------------------------------------------------------

    def token(self) -> int | None:
        """The fencing token while this daemon leads and confirmed it recently, else ``None``.

        Never waits for the network or the store (it is called inside store transactions).
        """
        with self._state:
            if self.generation is not None and time.monotonic() - self._confirmed > self.within / 2:
                self._lose("the lead could not be confirmed for %.1f s" % (time.monotonic() - self._confirmed))
            return self.generation

    def leading(self) -> bool:
        return self.token() is not None

    def describe(self) -> dict[str, Any]:
        gen = self.token()
        return {"role": "leader" if gen is not None else "standby", "generation": gen, "holder": self.holder}

    # -- the thread --------------------------------------------------------------------

    def start(self) -> None:
        self.attempt()
        self._thread = threading.Thread(target=self._loop, name="leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.within)
        with self._state:
            if self.generation is not None:
                self._lose("the daemon stops")
        self._close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.attempt()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("leadership check failed")

    def attempt(self) -> None:
        """One round (the leadership thread's): confirm the lock we hold, or try to get it.

        Holds no lock of its own across the network or the store: a transaction that
        checks :meth:`token` may be waiting meanwhile.
        """
        psycopg = psycopg_module()
        try:
            if self._drop or self._conn is None or self._conn.closed or self._conn.broken:
                self._close()  # a lost lead's session goes, and the lock with it
                self._drop = False
                self._connect()
            with self._state:
                held = self.generation
            if held is not None:
                self._conn.execute("SELECT 1")
                with self._state:
                    if self.generation == held:
                        self._confirmed = time.monotonic()
                return
            got = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()[0]
            if not got:
                return
            try:
                generation = self.store.take_lead(self.holder)
            except StoreError as exc:
                log.error("got the leader lock but cannot record the new generation: %s", exc)
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (LEADER_LOCK_KEY,))
                return
            with self._state:
                self.generation = generation
                self._confirmed = time.monotonic()
        except psycopg.Error as exc:
            with self._state:
                if self.generation is not None:
                    self._lose(f"the connection holding the lead failed: {str(exc).strip()}")
                else:
                    log.warning("standby: cannot reach %s: %s", redact(self.url), str(exc).strip())
            self._close()
            return
        log.warning("leading from now on (generation %d, %s)", generation, self.holder)
        self.on_change(True)

    def _connect(self) -> None:
        psycopg = psycopg_module()
        idle = max(1, int(self.within / 8))
        self._conn = psycopg.connect(
            self.url, autocommit=True, connect_timeout=max(2, int(self.interval)),
            application_name="sntakeover leader lock",
            keepalives=1, keepalives_idle=idle, keepalives_interval=idle, keepalives_count=2,
            tcp_user_timeout=int(self.within * 250))
        # the server drops this session (and the lock) as soon as it finds us gone
        for name, value in (("tcp_keepalives_idle", idle), ("tcp_keepalives_interval", idle),
                            ("tcp_keepalives_count", 2), ("tcp_user_timeout", int(self.within * 250)),
                            ("statement_timeout", int(self.interval * 1000))):
            self._conn.execute(f"SET {name} = {int(value)}")

    def _lose(self, why: str) -> None:
        """Called with ``_state`` held: from now on :meth:`token` is ``None``; the leadership thread
        closes the session (releasing the lock if the server still holds it) on its next round."""
        log.error("no longer leading (generation %s): %s; the engine stops before any further xCAT command",
                  self.generation, why)
        self.generation = None
        self._drop = True
        threading.Thread(target=self.on_change, args=(False,), daemon=True).start()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - it is gone either way
                pass
            self._conn = None


def make_leadership(location: Any, store: Store, takeover_within: float,
                    on_change: Callable[[bool], None]) -> SoleLeadership | PgLeadership:
    if store.dialect == "postgresql":
        return PgLeadership(str(location), store, takeover_within, on_change=on_change)
    return SoleLeadership()
