"""Events applied in the intake's own transaction: acked means stored *and* applied, in order.

The engine's separate apply transaction held the write lock and the GIL while
acks waited behind it. On SQLite the intake now applies what it stores in the
same commit; whatever cannot be applied there (an older event still pending, an
event whose apply fails, a stopping engine) is left to the engine's apply, which
keeps each service node's order and quarantines a bad event.
"""

from __future__ import annotations

import json

from test_outbox import Recorder, wait
from test_poison import poison_trigger

from sntakeover.config import build
from sntakeover.intake import Intake
from sntakeover.model import Event
from sntakeover.outbox import Notifier
from sntakeover.runner import LocalRunner
from sntakeover.store import Store
from sntakeover.validation import load_validators

from support import bare_engine, event


def setup(tmp_path, *plugins, **config):
    cfg = build({"confirm": {"enabled": False}, **config})
    path = tmp_path / "s.db"
    engine = bare_engine(path, cfg, *plugins)
    intake = Intake(cfg, Store(path), load_validators(), engine.hooks, apply=engine.apply_stored)
    return engine, intake, Store(path)


def send(intake, ev):
    return intake.handle(json.dumps({"v": 1, "op": "event", "event": ev}).encode())


def row(store, event_id):
    return store.query("SELECT processed, outcome, incident_id, attempts FROM events WHERE id = ?", (event_id,))[0]


def test_an_acked_event_is_already_applied(tmp_path):
    engine, intake, store = setup(tmp_path)
    reply = send(intake, event("sn1", id="a:1", state_type="hard"))
    assert reply == {"ok": True, "id": "a:1", "duplicate": False}
    r = row(store, "a:1")
    assert (r["processed"], r["outcome"]) == (1, "opened incident")
    [inc] = store.query("SELECT id, servicenode, state FROM incidents")
    assert (inc["id"], inc["servicenode"]) == (r["incident_id"], "sn1")
    assert engine.apply_pending() == 0  # nothing left for the engine
    # a later event of the same SN joins the incident, in the same way
    send(intake, event("sn1", id="a:2", state_type="hard", source={"tool": "zabbix", "host": "z1", "ref": "9"}))
    assert row(store, "a:2")["processed"] == 1 and row(store, "a:2")["incident_id"] == inc["id"]


def test_an_older_pending_event_goes_first_and_the_order_is_kept(tmp_path):
    engine, intake, store = setup(tmp_path)
    store.add_event(Event.from_dict(event("sn1", id="old:1", state_type="hard")))  # stored, not applied
    assert send(intake, event("sn1", kind="sn.up", id="new:2"))["ok"]
    assert row(store, "new:2")["processed"] == 0  # not applied before the older event
    assert engine.apply_pending() == 2
    assert row(store, "old:1")["outcome"] == "opened incident"
    assert row(store, "new:2")["incident_id"] == row(store, "old:1")["incident_id"]  # the sn.up saw the incident
    # caught up: the next event is applied with its commit again
    assert send(intake, event("sn2", id="new:3", state_type="hard"))["ok"]
    assert row(store, "new:3")["processed"] == 1


def test_an_event_whose_apply_fails_is_acked_and_left_to_the_engine(tmp_path, caplog):
    engine, intake, store = setup(tmp_path, engine={"apply_attempts": 2})
    poison_trigger(tmp_path / "s.db", "bad:1")
    reply = send(intake, event("sn1", id="bad:1", state_type="hard"))
    assert reply == {"ok": True, "id": "bad:1", "duplicate": False}  # stored: the ack stands
    r = row(store, "bad:1")
    assert (r["processed"], r["attempts"], r["incident_id"]) == (0, 0, None)  # rolled back alone, not counted
    assert store.query("SELECT COUNT(*) AS n FROM incidents")[0]["n"] == 0
    assert any("1 event(s) not applied with their commit (event bad:1: " in m and "injected fault for bad:1" in m
               for m in caplog.messages)
    # a later event of its SN waits behind it; the engine counts, then quarantines, and goes on
    assert send(intake, event("sn1", id="after:2", state_type="hard"))["ok"]
    assert row(store, "after:2")["processed"] == 0
    engine.apply_pending()
    engine.apply_pending()
    assert row(store, "bad:1")["outcome"].startswith("quarantined: applying it failed 2 time(s)")
    assert row(store, "after:2")["outcome"] == "opened incident"


def test_what_an_event_applied_with_its_commit_closes_is_notified_after_the_commit(tmp_path):
    rec = Recorder()
    engine, intake, store = setup(tmp_path, ("rec", rec), notify={"timeout": 2.0})
    notifier = Notifier(engine.config, Store(tmp_path / "s.db"), engine.hooks, LocalRunner()).start()
    engine.start()
    try:
        assert send(intake, event("sn1", id="dt:1", state_type="hard", in_downtime=True))["ok"]
        assert row(store, "dt:1")["outcome"].startswith("suppressed")
        assert wait(lambda: rec.notes)
        assert rec.notes == [(row(store, "dt:1")["incident_id"], "suppressed")]
        # event_recorded too, with the incident's id, from the notifier's thread
        assert wait(lambda: rec.events)
        assert rec.events[0][:2] == ("dt:1", row(store, "dt:1")["incident_id"])
    finally:
        engine.stop(timeout=5)
        notifier.stop()


def test_a_stopping_engine_applies_nothing_with_the_commit(tmp_path):
    engine, intake, store = setup(tmp_path)
    engine.stop(timeout=1)
    assert send(intake, event("sn1", id="s:1", state_type="hard"))["ok"]
    assert row(store, "s:1")["processed"] == 0  # the next start applies it
