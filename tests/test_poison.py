"""Poison events: an event that cannot be applied is quarantined after engine.apply_attempts, the rest go on."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from support import REPO, EngineRun, event

from sntakeover.config import build
from sntakeover.errors import ConfigError
from sntakeover.store import Store


def poison_trigger(db_path, event_id: str) -> None:
    """A store state that makes applying one specific event fail (its mark-processed write aborts)."""
    Store(db_path).close()  # the schema exists
    con = sqlite3.connect(db_path)
    con.execute(f"""CREATE TRIGGER poison BEFORE UPDATE OF processed ON events
        WHEN NEW.id = '{event_id}' AND NEW.processed = 1 AND NEW.outcome NOT LIKE 'quarantined: %'
        BEGIN SELECT RAISE(ABORT, 'injected fault for {event_id}'); END""")
    con.commit()
    con.close()


def row(d, event_id):
    return d.query_one("SELECT processed, outcome, attempts, incident_id FROM events WHERE id = ?", (event_id,))


def test_a_poison_event_is_quarantined_and_the_daemon_goes_on_with_the_others(sim, daemon, tmp_path):
    s = sim()
    s.fail("sn1")
    s.fail("sn3")
    d = daemon(s, extra="[engine]\napply_attempts = 3\n[breaker]\nmax_fraction = 1.0\n", start=False)
    poison_trigger(tmp_path / "state" / "sntakeover.db", "poison-1")
    d.start()
    # the poison event first; a later event of the same SN, and one of another SN
    assert d.send(event("sn1", id="poison-1"))["ok"]
    assert d.send(event("sn1", id="after-1"))["ok"]
    assert d.send(event("sn3", id="other-3"))["ok"]
    outcome = d.wait_outcome("poison-1")
    assert outcome.startswith("quarantined: applying it failed 3 time(s) (engine.apply_attempts = 3)"), outcome
    assert "injected fault for poison-1" in outcome
    r = row(d, "poison-1")
    assert r["attempts"] == 3 and r["incident_id"] is None
    # the later event of its SN was held behind it, then applied: it opened the incident, which completes
    assert d.wait_outcome("after-1") == "opened incident"
    assert d.wait_closed("sn1")["state"] == "done"
    assert d.wait_closed("sn3")["state"] == "done"
    st = subprocess.run([sys.executable, "-m", "sntakeover", "status", "--config", str(d.config)],
                        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert "QUARANTINED event poison-1 (sn.down sn1" in st.stdout, st.stdout
    assert "events_quarantined=1" in st.stdout
    js = json.loads(subprocess.run([sys.executable, "-m", "sntakeover", "status", "--json", "--config", str(d.config)],
                                   capture_output=True, text=True, timeout=60, cwd=REPO).stdout)
    assert [q["id"] for q in js["status"]["quarantined"]] == ["poison-1"]
    assert "quarantined" in d.logfile.read_text()


def test_a_stored_body_that_is_not_an_event_is_quarantined_at_once(tmp_path, sim):
    s = sim()
    run = EngineRun(tmp_path, s)
    try:
        with run.store.tx() as db:
            db.execute("INSERT INTO events (id, kind, servicenode, received, body) VALUES (?,?,?,?,?)",
                       ("broken-1", "sn.down", "sn1", "2026-01-01T00:00:00Z", json.dumps({"id": "broken-1"})))
        run.send(event("sn3", id="fine-3"))
        rows = {r["id"]: dict(r) for r in run.store.query("SELECT id, processed, outcome, attempts FROM events")}
        assert rows["broken-1"]["processed"] == 1
        assert rows["broken-1"]["outcome"].startswith("quarantined: stored body is not an event: KeyError")
        assert rows["fine-3"]["outcome"] == "opened incident"
    finally:
        run.close()


def test_a_store_error_is_not_counted_against_the_event(tmp_path):
    from sntakeover import poison

    s = Store(tmp_path / "s.db")
    try:
        with s.tx() as db:
            db.execute("INSERT INTO events (id, kind, servicenode, received, body) VALUES ('e','sn.down','sn1','t','{}')")
            seq = db.execute("SELECT seq FROM events").fetchone()[0]
            assert not poison.failed(db, seq, "e", sqlite3.OperationalError("database or disk is full"), 1)
            assert tuple(db.execute("SELECT attempts, processed FROM events").fetchone()) == (0, 0)
            assert poison.failed(db, seq, "e", KeyError("x"), 1)
            assert tuple(db.execute("SELECT attempts, processed FROM events").fetchone()) == (1, 1)
    finally:
        s.close()


def test_apply_attempts_must_be_positive():
    with pytest.raises(ConfigError, match="engine.apply_attempts: must be at least 1, got 0"):
        build({"engine": {"apply_attempts": 0}})
