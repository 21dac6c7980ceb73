"""Counters that survive restarts, kept in the store (table ``tallies``).

What the store already records is counted from its own tables (accepted
events, incidents, nodes). The rest is counted here: duplicate events and
rejected requests by source, probe results by probe and verdict, notifier
failures, the last time a probe got an answer from each service node. Counts
are gathered in memory and written to the store every ``FLUSH_EVERY`` seconds
and when the daemon stops (a crash loses at most that much of these counts,
never an event). ``sntakeover status`` and ``/metrics`` read the totals.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from typing import Any

from . import poison
from .intake import Intake, Work
from .store import Store

log = logging.getLogger(__name__)

DDL = """CREATE TABLE IF NOT EXISTS tallies (
    name TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    value REAL NOT NULL,
    PRIMARY KEY (name, label)
)"""

FLUSH_EVERY = 1.0
#: most distinct source labels kept; more (garbage sent by a broken client) count as "other"
MAX_SOURCES = 64
_SOURCE = re.compile(r"[a-z][a-z0-9_.-]{0,31}")

#: counts kept as a maximum (a time), not a sum
MARKS = {"probe_last_answer"}


def source_of(body: bytes) -> str:
    """The monitoring source of a request: ``source`` of a raw payload, ``source.tool`` of an event."""
    try:
        req = json.loads(body)
        name = req.get("source") if req.get("op") == "raw" else req["event"]["source"]["tool"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "unknown"
    return name if isinstance(name, str) and _SOURCE.fullmatch(name) else "unknown"


class Tally:
    def __init__(self, store: Store) -> None:
        self.store = store
        with store.tx() as db:
            db.execute(DDL)
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._marks: dict[tuple[str, str], float] = {}
        self._sources = {r[0] for r in store.query("SELECT DISTINCT label FROM tallies WHERE name LIKE 'events_%'"
                                                   " OR name LIKE 'requests_%'")}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- counting -----------------------------------------------------------------------

    def count(self, name: str, label: str = "", n: float = 1) -> None:
        with self._lock:
            self._counts[(name, label)] += n

    def mark(self, name: str, label: str, value: float) -> None:
        with self._lock:
            key = (name, label)
            self._marks[key] = max(value, self._marks.get(key, value))

    def _known(self, src: str) -> str:
        with self._lock:
            if src not in self._sources:
                if len(self._sources) >= MAX_SOURCES:
                    return "other"
                self._sources.add(src)
        return src

    def observe_request(self, body: bytes, reply: dict[str, Any]) -> None:
        """Count one request by its reply (accepted events are in the store already)."""
        self.observe_reply(lambda: source_of(body), reply)

    def observe_reply(self, source: Any, reply: dict[str, Any]) -> None:
        """Count one reply under its source (``source()`` is only asked when something is counted)."""
        if reply.get("ok"):
            results = reply.get("events") or ([reply] if "duplicate" in reply else [])
            dups = sum(1 for e in results if e.get("duplicate"))
            if dups:
                self.count("events_duplicate", self._known(source()), dups)
        elif reply.get("retry"):
            self.count("requests_store_error", self._known(source()))
        else:
            self.count("requests_rejected", self._known(source()))

    def observe_hook(self, kind: str, **labels: Any) -> None:
        """What :class:`sntakeover.plugins.Hooks` reports: probe results, notifier failures."""
        if kind == "probe":
            verdict = {True: "down", False: "up", None: "cannot-tell"}[labels["down"]]
            self.count("probe_results", f"{labels['probe']}|{verdict}")
            if labels["down"] is not None:
                self.mark("probe_last_answer", labels["servicenode"], time.time())
        elif kind == "notifier_failure":
            self.count("notifier_failures", labels["notifier"])

    # -- the store ------------------------------------------------------------------------

    def flush(self) -> None:
        with self._lock:
            counts, marks = self._counts, self._marks
            self._counts, self._marks = Counter(), {}
        if not counts and not marks:
            return
        with self.store.tx() as db:
            for (name, label), n in counts.items():
                db.execute("INSERT INTO tallies (name, label, value) VALUES (?,?,?) ON CONFLICT(name, label)"
                           " DO UPDATE SET value = value + excluded.value", (name, label, n))
            for (name, label), v in marks.items():
                db.execute("INSERT INTO tallies (name, label, value) VALUES (?,?,?) ON CONFLICT(name, label)"
                           " DO UPDATE SET value = MAX(value, excluded.value)", (name, label, v))

    def totals(self, name: str) -> dict[str, float]:
        """label -> value of one counter, as stored plus what is not written yet."""
        out = {r["label"]: r["value"] for r in self.store.query("SELECT label, value FROM tallies WHERE name = ?",
                                                                 (name,))}
        with self._lock:
            for (n, label), v in self._counts.items():
                if n == name:
                    out[label] = out.get(label, 0) + v
            for (n, label), v in self._marks.items():
                if n == name:
                    out[label] = max(v, out.get(label, v))
        return out

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tally", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_EVERY):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - counting must never stop the daemon
                log.exception("cannot write the counters to the store")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()


class CountingIntake(Intake):
    """The daemon's intake, counting each request's outcome by source in a :class:`Tally`."""

    tally: Tally | None = None

    def prepare(self, body: bytes, peer: str | None = None) -> Work:
        work = super().prepare(body, peer=peer)
        if work.reply is not None and not work.events and work.raw is None and len(body) <= 65536:
            work.source = source_of(body)  # type: ignore[attr-defined] # refused before it was read
        return work

    def finish(self, work: Work) -> dict[str, Any]:
        reply = super().finish(work)
        if self.tally is not None and work.op not in ("control", "status", "ping"):
            # an admin's verb the daemon will not apply ("no incident 999") is no refused event
            try:
                if work.op == "batch" and reply.get("replies"):
                    for child, sub in zip(work.children, reply["replies"]):
                        self.tally.observe_reply(lambda c=child: work_source(c), sub)
                else:
                    self.tally.observe_reply(lambda: work_source(work), reply)
            except Exception:  # noqa: BLE001 - counting must never cost a reply
                log.exception("cannot count a request")
        return reply


def work_source(work: Work) -> str:
    """The monitoring source of a prepared request: the raw payload's source, or the event's tool."""
    if work.raw is not None:
        name = work.raw[0]
    elif work.events:
        name = work.events[0].source.get("tool", "unknown")
    else:
        name = getattr(work, "source", "unknown")
    return name if isinstance(name, str) and _SOURCE.fullmatch(name) else "unknown"


def status_counters(store: Store, tally: Tally) -> dict[str, int]:
    """The counters ``sntakeover status`` prints; they come from the store, so they survive restarts."""
    accepted = store.query("SELECT COUNT(*) FROM events")[0][0]
    return {
        "events_accepted": int(accepted),
        "events_quarantined": poison.count(store),
        "events_duplicate": int(sum(tally.totals("events_duplicate").values())),
        "requests_rejected": int(sum(tally.totals("requests_rejected").values())),
        "requests_store_error": int(sum(tally.totals("requests_store_error").values())),
        "notifier_failures": int(sum(tally.totals("notifier_failures").values())),
    }
