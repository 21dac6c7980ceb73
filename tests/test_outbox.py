"""Side work off the hot path: the durable outbox and the notifier's per-plugin lanes."""

from __future__ import annotations

import threading
import time

from sntakeover import hookimpl
from sntakeover.config import build
from sntakeover.engine import Engine
from sntakeover.model import Event
from sntakeover.outbox import Notifier
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.runner import LocalRunner
from sntakeover.store import Store

from support import bare_engine, event


def wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, int | None, str]] = []
        self.notes: list[tuple[int, str]] = []

    @hookimpl
    def sntakeover_event_recorded(self, event, incident_id):
        self.events.append((event.id, incident_id, threading.current_thread().name))

    @hookimpl
    def sntakeover_notify(self, incident, transition):
        self.notes.append((incident.id, transition["to"]))


class Hangs:
    release = threading.Event()

    @hookimpl
    def sntakeover_notify(self, incident, transition):
        self.release.wait()  # a pager that never answers


class Flaky:
    def __init__(self, fail_times):
        self.left = fail_times
        self.calls = 0

    @hookimpl
    def sntakeover_event_recorded(self, event, incident_id):
        self.calls += 1
        if self.left:
            self.left -= 1
            raise ConnectionError("smtp down")


def setup(tmp_path, *plugins, **notify):
    cfg = build({"confirm": {"enabled": False}, "notify": {"timeout": 0.3, "retries": 3, "backoff": 0.01, **notify}})
    path = tmp_path / "s.db"
    engine = bare_engine(path, cfg, *plugins)
    notifier = Notifier(cfg, Store(path), engine.hooks, LocalRunner()).start()
    return engine, notifier, Store(path)


def add(store, ev):
    store.add_event(Event.from_dict(ev))


def test_hook_sntakeover_event_recorded_comes_after_the_apply_with_the_incident_id(tmp_path):
    rec = Recorder()
    engine, notifier, store = setup(tmp_path, ("rec", rec))
    try:
        add(store, event(sn="sn1", kind="sn.down", id="e:1", state_type="hard"))
        add(store, event(sn="sn2", kind="sn.up", id="e:2"))
        assert rec.events == []  # stored and acked, not yet applied: nothing delivered
        assert engine.apply_pending() == 2
        assert wait(lambda: len(rec.events) == 2)
        iid = store.query("SELECT id FROM incidents WHERE servicenode = 'sn1'")[0]["id"]
        assert [(e, i) for e, i, _ in rec.events] == [("e:1", iid), ("e:2", None)]
        assert all(name.startswith("notify-rec") for _, _, name in rec.events)  # the notifier's thread
    finally:
        notifier.stop()


def test_a_hanging_notifier_holds_up_no_other_plugin_nor_the_engine(tmp_path, caplog):
    rec = Recorder()
    Hangs.release.clear()
    engine, notifier, store = setup(tmp_path, ("rec", rec), ("hangs", Hangs()), retries=2)
    try:
        add(store, event(sn="sn1", kind="sn.down", id="h:1", state_type="hard", in_downtime=True))
        t0 = time.monotonic()
        assert engine.apply_pending() == 1  # a suppressed incident: a terminal transition to notify
        assert time.monotonic() - t0 < 5  # the engine only queued it
        assert wait(lambda: rec.notes)
        iid = rec.notes[0][0]
        assert rec.notes == [(iid, "suppressed")]
        # the hanging plugin: timed out, retried, given up, named in the log and on the timeline
        assert wait(lambda: store.query("SELECT * FROM outbox_failures"))
        [failure] = store.query("SELECT plugin, attempts, error FROM outbox_failures")
        assert (failure["plugin"], failure["attempts"]) == ("hangs", 2)
        assert "has not returned" in failure["error"]  # the first call still hangs
        assert any(r.getMessage().startswith("notifier hangs: notify #") and "timed out after 0.3s" in r.getMessage()
                   for r in caplog.records)
        notes = [r["reason"] for r in store.timeline(iid)]
        assert any(n.startswith("notifier hangs failed after 2 attempt(s)") for n in notes)
    finally:
        Hangs.release.set()
        notifier.stop()


def test_failures_are_retried_with_backoff_and_the_cursor_is_durable(tmp_path):
    flaky = Flaky(fail_times=2)
    engine, notifier, store = setup(tmp_path, ("flaky", flaky))
    try:
        add(store, event(kind="sn.up", id="f:1"))
        engine.apply_pending()
        assert wait(lambda: notifier.cursor("flaky") == store.query("SELECT MAX(seq) AS m FROM outbox")[0]["m"])
        assert flaky.calls == 3 and store.query("SELECT * FROM outbox_failures") == []
    finally:
        notifier.stop()
    # a restarted notifier does not deliver it again
    again = Flaky(fail_times=0)
    cfg = build({"notify": {"timeout": 0.3, "retries": 3, "backoff": 0.01}})
    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    pm.register(again, name="flaky")
    n2 = Notifier(cfg, Store(tmp_path / "s.db"), Hooks(pm)).start()
    try:
        add(store, event(kind="sn.up", id="f:2"))
        Engine(cfg, Store(tmp_path / "s.db"), Hooks(pm), LocalRunner()).apply_pending()
        assert wait(lambda: again.calls == 1)
        time.sleep(0.3)
        assert again.calls == 1
    finally:
        n2.stop()


def test_no_outbox_rows_when_no_plugin_listens_to_event_recorded(tmp_path):
    engine, notifier, store = setup(tmp_path)
    try:
        add(store, event(kind="sn.up", id="n:1"))
        engine.apply_pending()
        assert store.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"] == 0
    finally:
        notifier.stop()
