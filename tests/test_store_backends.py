"""The store behaves the same on SQLite and on a real PostgreSQL (``store_location`` runs each test on both)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from sntakeover import controls
from sntakeover.clock import after, now
from sntakeover.config import build
from sntakeover.errors import StaleLeader, StoreError
from sntakeover.gates import Gates
from sntakeover.model import Event, NodeVerdict, State
from sntakeover.outbox import enqueue
from sntakeover.retention import prune
from sntakeover.store import SCHEMA_VERSION, Store
from sntakeover.tally import Tally


def ev(i: int, sn: str = "sn1", kind: str = "sn.down") -> Event:
    return Event(id=f"e{i}", kind=kind, servicenode=sn, source={"tool": "nagios", "host": "mon1"}, time=now())


def test_events_are_stored_once_and_applied_in_order(store_location):
    s = Store(store_location)
    assert s.add_event(ev(1)) == (False, 1)
    assert s.add_event(ev(1)) == (True, None)  # a duplicate id is acknowledged, not stored twice
    out = s.add_events([ev(2), ev(1), ev(3)], raw=("nagios", {"x": 1}))
    assert [d for d, _ in out] == [False, True, False]
    assert s.pending_events(limit=2)[0][1].id == "e1" and len(s.pending_events(limit=2)) == 2
    assert [e.id for _, e in s.pending_events()] == ["e1", "e2", "e3"]
    with s.tx() as db:
        s.mark_processed(db, 1, None, "ignored")
    assert s.counts() == {"events": 3, "events_pending": 2}
    assert json.loads(s.query("SELECT event_ids FROM raw")[0]["event_ids"]) == ["e2", "e1", "e3"]


def test_incidents_timeline_plan_and_verdicts(store_location):
    s = Store(store_location)
    with s.tx() as db:
        iid = s.create_incident(db, "sn1", State.DETECTED, "sn1 down", requested=False, nodes=["n2", "n1"])
        assert s.open_incident(db, "sn1")["id"] == iid
    with pytest.raises(Exception):  # at most one open incident per SN, whatever the database
        with s.tx() as db:
            s.create_incident(db, "sn1", State.DETECTED, "again", requested=False, nodes=[])
    assert [r["id"] for r in s.unfinished()] == [iid]
    assert s.transition(iid, State.CONFIRMING, "probing", waiting="probes") == "detected"
    s.update_json(iid, "evidence", lambda e: {**e, "rounds": [1]})
    s.set_columns(iid, committed=now())
    s.note(iid, "a note")
    s.save_plan(iid, {"moves": []}, [("n1", "sn1", "sn2", "ready", ""), ("n2", "sn1", "sn2", "ready", "")])
    s.save_plan(iid, {"moves": []}, [("n1", "sn1", "sn2", "moving", "again")])  # upsert
    s.set_node_status(iid, {"n1": ("moved", "ok")}, moved=True)
    s.save_verdicts(iid, [NodeVerdict("n1", None, verifier="ssh", detail="?"), NodeVerdict("n1", False, verifier="ping", detail="no")])
    s.save_verdicts(iid, [NodeVerdict("n1", True, verifier="ping", detail="yes")])
    inc = s.incident_view(s.incident(iid))
    assert inc.state == State.CONFIRMING and inc.committed and inc.nodes == ("n1", "n2")
    assert [(r["node"], r["status"]) for r in s.node_rows(iid)] == [("n1", "moved"), ("n2", "ready")]
    assert [(r["verifier"], r["ok"]) for r in s.verdicts_of(iid)] == [("ping", 1), ("ssh", None)]
    assert [r["to_state"] for r in s.timeline(iid)] == ["detected", "confirming", None]
    assert json.loads(s.incident(iid)["evidence"]) == {"rounds": [1]}
    assert s.moved_since(["n1", "n2"], after(-60), other_than=0) == {"n1": (iid, s.node_rows(iid)[0]["moved"])}
    s.transition(iid, State.CANCELLED, "over")
    with s.tx() as db:
        assert s.last_closed(db, "sn1")["id"] == iid
        s.reopen(db, iid, "again")
    assert s.incident(iid)["state"] == "detected" and s.incident(iid)["closed"] is None


def test_controls_maintenance_outbox_tallies_and_pruning(store_location):
    s = Store(store_location)
    assert controls.switch_on(s, controls.PAUSE, "alice", reason="upgrade")
    assert not controls.switch_on(s, controls.PAUSE, "bob")  # the first setting is kept
    assert controls.get(s, controls.PAUSE).by == "alice"
    controls.set_maintenance(s, "sn2", after(3600), "alice", "disk")
    controls.set_maintenance(s, "sn2", after(7200), "bob", "disk 2")
    assert controls.maintenance_of(s, "sn2").by == "bob"
    assert controls.end_maintenance(s, "sn2") and not controls.end_maintenance(s, "sn2")
    with s.tx() as db:
        seqs = [enqueue(db, "notify", {"n": i}) for i in range(3)]
        db.execute("INSERT OR REPLACE INTO outbox_failures (seq, plugin, time, attempts, error) VALUES (?,?,?,?,?)",
                   (seqs[0], "mail", now(), 1, "first"))
        db.execute("INSERT OR REPLACE INTO outbox_failures (seq, plugin, time, attempts, error) VALUES (?,?,?,?,?)",
                   (seqs[0], "mail", now(), 3, "second"))
        db.execute("INSERT INTO outbox_cursor (plugin, seq) VALUES (?, ?)", ("mail", seqs[1]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert [tuple(r) for r in s.query("SELECT attempts, error FROM outbox_failures")] == [(3, "second")]
    t = Tally(s)
    t.count("events_accepted", "nagios", 2)
    t.flush()
    t.count("events_accepted", "nagios", 3)
    t.flush()
    assert t.totals("events_accepted") == {"nagios": 5.0}
    assert Tally(s)._sources == {"nagios"}  # LIKE 'events_%' reads it back
    assert prune(s, raw_days=0, events_days=0) == {"raw": 0, "events": 0, "outbox": 2}


def test_json_in_queries_gates_and_metrics(store_location):
    s = Store(store_location)
    s.add_event(ev(1))
    with s.tx() as db:
        a = s.create_incident(db, "sn1", State.DETECTED, "x", requested=False, nodes=[])
        b = s.create_incident(db, "sn2", State.DETECTED, "y", requested=False, nodes=[])
    s.transition(a, State.FAILED, "failed")
    s.transition(b, State.FAILED, "failed")
    s.update_json(b, "evidence", lambda e: {**e, "ended": now()})  # sn2 answered again
    assert Gates(build({}), s, None).looking_down(600) == ["sn1"]
    rows = s.query("SELECT json_extract(body, '$.source.tool'), COUNT(*) FROM events GROUP BY 1")
    assert [tuple(r) for r in rows] == [("nagios", 1)]


def test_writers_on_separate_connections_lose_nothing(store_location):
    stores = [Store(store_location) for _ in range(3)]

    def write(k: int) -> None:
        for i in range(40):
            stores[k].add_events([ev(1000 * k + i), ev(i)])  # e0..e39 race between the writers

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ids = [r[0] for r in stores[0].query("SELECT id FROM events")]
    assert len(ids) == len(set(ids)) == 120  # e0..e39 (written by all three), e1000.., e2000..: each once


def test_a_command_from_a_stale_leader_is_refused_and_not_recorded(store_location):
    s = Store(store_location)
    other = Store(store_location)
    gen = s.take_lead("daemon A")
    held = {"token": gen}
    s.fencing = lambda: held["token"]
    seq, tag = s.command_started(None, ["snmove", "n1"])
    assert s.query("SELECT generation FROM commands WHERE seq = ?", (seq,))[0][0] == gen
    assert other.take_lead("daemon B") == gen + 1  # B takes over; A does not know yet
    with pytest.raises(StaleLeader, match=f"generation {gen}"):
        s.command_started(None, ["snmove", "n2"])
    held["token"] = None  # A knows it lost the lead
    with pytest.raises(StaleLeader):
        s.command_started(None, ["snmove", "n2"])
    assert [json.loads(r[0]) for r in s.query("SELECT argv FROM commands ORDER BY seq")] == [["snmove", "n1"]]
    other.fencing = lambda: gen + 1
    assert other.command_started(None, ["snmove", "n2"])[0] > seq


def _age(s: Store, version: int) -> None:
    """Make the store look written by an older sntakeover: its version, without a later column."""
    with s.tx() as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        db.execute("ALTER TABLE commands DROP COLUMN generation")


def test_schema_versions_older_and_newer(store_location, tmp_path):
    s = Store(store_location)
    assert s.schema_version() == SCHEMA_VERSION
    _age(s, 1)
    s.close()
    if isinstance(store_location, str):  # shared PostgreSQL: refused until migrated
        with pytest.raises(StoreError, match="older than this sntakeover's .* run `sntakeover store migrate`"):
            Store(store_location)
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[daemon]\nstore = "{store_location}"\n')
        out = subprocess.run([sys.executable, "-m", "sntakeover", "store", "version", "-c", str(cfg)],
                             capture_output=True, text=True)
        assert out.returncode == 1 and "schema version 1" in out.stdout
        out = subprocess.run([sys.executable, "-m", "sntakeover", "store", "migrate", "-c", str(cfg)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert f"schema version {SCHEMA_VERSION}" in out.stdout
    s = Store(store_location)  # SQLite (one daemon's file) is migrated on open
    assert s.schema_version() == SCHEMA_VERSION
    s.fencing = lambda: 0
    seq, _ = s.command_started(None, ["true"])
    assert s.query("SELECT generation FROM commands WHERE seq = ?", (seq,))[0][0] == 0
    with s.tx() as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer .*: upgrade sntakeover"):
        Store(store_location)
