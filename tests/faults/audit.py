"""The audit after every fault run: what sntakeover promises, checked from the store and the cluster.

Each check returns a list of failures (text); :func:`audit` runs them all and
returns ``{check: [failures]}`` for the checks that failed.

* ``acked-stored``: every event the daemon acknowledged is in the store.
* ``applied``: no stored event is left unapplied, none was quarantined.
* ``permutation``: each node's servicenode list is a permutation of its original.
* ``dead-sn-explained``: no node has a dead, fenced or partitioned SN first unless an incident
  of that SN says why: it is open (waiting, with a reason), or it ended partial/failed with a
  reason for that node (or failed before it planned, for the whole SN).
* ``final-or-waiting``: every incident is closed in a final state, or open in a waiting state
  with what it waits for.
* ``moved-once``: no node was moved twice by one incident (counted from the
  simulator's record of every database write snmove made, each attributed to its incident by the
  tag in its environment), and every snmove that ran was one the daemon recorded.
* ``commands-accounted``: every command the daemon recorded has a result.
* ``no-internal-error``: no incident failed on an internal error, no traceback in the log, no
  (simulated) xCAT command crashed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from sntakeover.model import State
from sntakeover.xcatsim import load_state, moved_log, started_log
from sntakeover.xcatsim.state import all_nodes, mn_reaches, node_attr, node_groups

CHECKS = ("acked-stored", "applied", "permutation", "dead-sn-explained", "final-or-waiting", "moved-once",
          "commands-accounted", "no-internal-error")


def compute_nodes(state: dict[str, Any]) -> list[str]:
    return [n for n in all_nodes(state) if "service" not in node_groups(state, n)]


def servicenodes(state: dict[str, Any]) -> dict[str, str]:
    return {n: node_attr(state, n, "servicenode") for n in compute_nodes(state)}


def audit(store_path: Path, cluster: Path, *, acked: set[str], original: dict[str, str],
          log_text: str = "") -> dict[str, list[str]]:
    state = load_state(cluster)
    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        found: dict[str, list[str]] = {}
        for name, check in (("acked-stored", lambda: _acked(db, acked)),
                            ("applied", lambda: _applied(db)),
                            ("permutation", lambda: _permutation(state, original)),
                            ("dead-sn-explained", lambda: _dead_explained(db, state)),
                            ("final-or-waiting", lambda: _final_or_waiting(db)),
                            ("moved-once", lambda: _moved_once(db, state, cluster)),
                            ("commands-accounted", lambda: _commands(db)),
                            ("no-internal-error", lambda: _internal(db, log_text))):
            bad = check()
            if bad:
                found[name] = bad
        return found
    finally:
        db.close()


def _acked(db: sqlite3.Connection, acked: set[str]) -> list[str]:
    have = {r[0] for r in db.execute("SELECT id FROM events")}
    return [f"acknowledged event {e} is not in the store" for e in sorted(acked - have)]


def _applied(db: sqlite3.Connection) -> list[str]:
    return [f"event {r['id']} {'quarantined: ' + r['outcome'] if r['processed'] else 'never applied'}"
            for r in db.execute("SELECT id, processed, outcome FROM events WHERE processed = 0"
                                " OR outcome LIKE 'quarantined: %'")]


def _permutation(state: dict[str, Any], original: dict[str, str]) -> list[str]:
    now = servicenodes(state)
    return [f"{n}: servicenode {now.get(n)!r} is not a permutation of {was!r}" for n, was in original.items()
            if sorted(now.get(n, "").split(",")) != sorted(was.split(","))]


def dead_sns(state: dict[str, Any]) -> set[str]:
    sns = {n for n in all_nodes(state) if "service" in node_groups(state, n)}
    return {s for s in sns if not mn_reaches(state["machines"].get(s))}


def _dead_explained(db: sqlite3.Connection, state: dict[str, Any]) -> list[str]:
    dead = dead_sns(state)
    bad = []
    for node, sl in servicenodes(state).items():
        first = sl.split(",")[0]
        if first not in dead:
            continue
        why = _explains(db, first, node)
        if not why:
            m = state["machines"][first]
            how = "partitioned from the MN" if m.get("partitioned") else f"up={m.get('up')} power={m.get('power')}"
            incs = [dict(r) for r in db.execute("SELECT id, state, waiting, reason FROM incidents WHERE servicenode = ?",
                                                (first,))]
            bad.append(f"{node} has {first} first ({how}) and no incident says why; incidents of {first}: {incs}")
    return bad


def _explains(db: sqlite3.Connection, sn: str, node: str) -> str:
    for inc in db.execute("SELECT * FROM incidents WHERE servicenode = ? ORDER BY id DESC", (sn,)):
        state = State(inc["state"])
        if inc["closed"] is None:
            if state.waiting and inc["waiting"]:
                return f"incident {inc['id']} waits: {inc['waiting']}"
            continue
        row = db.execute("SELECT status, detail FROM nodes WHERE incident_id = ? AND node = ?",
                         (inc["id"], node)).fetchone()
        if state in (State.PARTIAL, State.FAILED):
            if row is not None and row["status"] != "verified" and row["detail"]:
                return f"incident {inc['id']} {state.value}: {node} {row['status']}: {row['detail']}"
            has_rows = db.execute("SELECT COUNT(*) FROM nodes WHERE incident_id = ?", (inc["id"],)).fetchone()[0]
            if not has_rows and inc["reason"]:
                return f"incident {inc['id']} failed before planning: {inc['reason']}"
    return ""


def _final_or_waiting(db: sqlite3.Connection) -> list[str]:
    bad = []
    for inc in db.execute("SELECT * FROM incidents"):
        state = State(inc["state"])
        if inc["closed"] is not None:
            if not state.terminal:
                bad.append(f"incident {inc['id']} closed in {state.value}")
        elif not (state.waiting and inc["waiting"]):
            bad.append(f"incident {inc['id']} ({inc['servicenode']}) open in {state.value} without a reason to wait "
                       f"(waiting={inc['waiting']!r})")
    return bad


def _moved_once(db: sqlite3.Connection, state: dict[str, Any], cluster: Path) -> list[str]:
    """Each snmove database write, attributed to its incident by the tag of the snmove that made it."""
    tags = {r["tag"]: r["incident_id"] for r in db.execute("SELECT tag, incident_id FROM commands WHERE tag IS NOT NULL")}
    bad = [f"snmove {' '.join(rec['argv'][1:])} ran without a tag the daemon recorded ({rec.get('tag')})"
           for rec in started_log(cluster) if Path(rec["argv"][0]).name == "snmove" and rec.get("tag") not in tags]
    per: dict[tuple[int, str], list[str]] = {}
    for rec in moved_log(cluster):
        iid = tags.get(rec.get("tag"))
        for n, sl in rec["nodes"].items():
            per.setdefault((iid, n), []).append(sl)
    bad += [f"incident {iid} moved {n} {len(v)} times ({' then '.join(v)})" for (iid, n), v in sorted(
        per.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])) if len(v) > 1]
    return bad


def _commands(db: sqlite3.Connection) -> list[str]:
    return [f"command {json.loads(r['argv'])} of incident {r['incident_id']} has no result"
            for r in db.execute("SELECT * FROM commands WHERE rc IS NULL")]


def _internal(db: sqlite3.Connection, log_text: str) -> list[str]:
    bad = [f"incident {r['id']}: {r['reason']}" for r in db.execute(
        "SELECT id, reason FROM incidents WHERE reason LIKE 'internal error%'")]
    bad += [f"command {json.loads(r['argv'])} crashed: {r['stderr'][-800:]}" for r in db.execute(
        "SELECT argv, stderr FROM commands WHERE stderr LIKE '%Traceback (most recent call last)%'")]
    if "Traceback" in log_text:
        i = log_text.index("Traceback")
        bad.append("traceback in the daemon log: " + log_text[max(0, i - 300):i + 1500])
    return bad
