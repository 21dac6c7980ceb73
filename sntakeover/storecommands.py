"""The store's record of xCAT commands and of HA leadership (a part of :class:`sntakeover.store.Store`).

Every command is recorded (its intent) before it starts, with the fencing token of the
leader that starts it; its pid and its result are written as they come. The leadership
rows (``meta``: ``leader_generation``, ``leader``) say which daemon leads.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable

from .clock import now
from .errors import StaleLeader


class CommandsAndLead:
    """Mixed into :class:`sntakeover.store.Store` (which provides ``tx``, ``query`` and ``fencing``)."""

    fencing: Callable[[], int | None] | None
    tx: Callable[[], Any]
    query: Callable[..., list[Any]]

    def command_started(self, iid: int | None, argv: list[str]) -> tuple[int, str]:
        """Record the intent to run ``argv`` before it starts; returns ``(seq, tag)``.

        The tag (unique to this store and command) goes into the command's
        environment, so a restarted daemon finds the process even when the
        daemon died before it could write the pid.
        """
        with self.tx() as db:
            generation = self.check_fencing(db)
            cur = db.execute(
                "INSERT INTO commands (incident_id, started, argv, generation) VALUES (?,?,?,?)",
                (iid, now(), json.dumps(argv), generation),
            )
            seq = int(cur.lastrowid)
            store_id = db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0]
            tag = f"{store_id}-{seq}"
            db.execute("UPDATE commands SET tag = ? WHERE seq = ?", (tag, seq))
            return seq, tag

    def check_fencing(self, db: Any) -> int | None:
        """The fencing token this process holds, refused (:class:`StaleLeader`) when it is not the store's.

        Runs in the transaction that records the command or outcome: a takeover commits its
        new generation before or after it, never in between (writers follow one another).
        """
        if self.fencing is None:
            return None
        token = self.fencing()
        current = int(db.execute("SELECT value FROM meta WHERE key = 'leader_generation'").fetchone()[0])
        if token is None or token != current:
            raise StaleLeader(f"refused: this daemon's leadership (generation {token}) is stale, generation "
                              f"{current} leads now")
        return token

    def leader_generation(self) -> int:
        return int(self.query("SELECT value FROM meta WHERE key = 'leader_generation'")[0][0])

    def take_lead(self, holder: str) -> int:
        """Start a new leadership: increment the fencing token; returns the new generation."""
        with self.tx() as db:
            gen = int(db.execute("SELECT value FROM meta WHERE key = 'leader_generation'").fetchone()[0]) + 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'leader_generation'", (str(gen),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('leader', '')")
            db.execute("UPDATE meta SET value = ? WHERE key = 'leader'", (json.dumps({"holder": holder,
                                                                                      "generation": gen,
                                                                                      "since": now()}),))
        return gen

    def leader(self) -> dict[str, Any] | None:
        """The last daemon that took the lead (holder, generation, since); None if none ever did."""
        rows = self.query("SELECT value FROM meta WHERE key = 'leader'")
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def command_pid(self, seq: int, pid: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE commands SET pid = ? WHERE seq = ?", (pid, seq))

    def command_finished(self, seq: int, rc: int, timed_out: bool, duration: float, stdout: str, stderr: str) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE commands SET rc = ?, timed_out = ?, duration = ?, stdout = ?, stderr = ? WHERE seq = ?",
                (rc, int(timed_out), duration, stdout[-65536:], stderr[-65536:], seq),
            )

    def unfinished_commands(self, iid: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM commands WHERE incident_id = ? AND rc IS NULL ORDER BY seq", (iid,))

    def commands_of(self, iid: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM commands WHERE incident_id = ? ORDER BY seq", (iid,))
