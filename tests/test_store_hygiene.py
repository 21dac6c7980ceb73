"""Store hygiene: modes of the state directory and files, retention, ``sntakeover prune``."""

from __future__ import annotations

import json
import os
import stat

from sntakeover.cli import main
from sntakeover.model import Event
from sntakeover.store import Store

from support import event


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_state_dir_0750_and_store_files_0640_even_when_they_existed(daemon, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    os.chmod(state, 0o777)
    db = state / "sntakeover.db"
    Store(db).close()  # an earlier, careless install left it world-readable
    for p in (db, state / "sntakeover.db-wal", state / "sntakeover.db-shm"):
        if p.exists():
            os.chmod(p, 0o666)
    d = daemon()
    assert d.send(event(kind="sn.up"))["ok"]
    assert mode(state) == 0o750
    for name in ("sntakeover.db", "sntakeover.db-wal", "sntakeover.db-shm", "sntakeover.lock"):
        assert mode(state / name) & ~0o640 == 0, (name, oct(mode(state / name)))


def test_a_new_store_is_never_readable_by_others(tmp_path):
    old = os.umask(0o000)
    try:
        s = Store(tmp_path / "new.db")
        s.add_event(Event.from_dict(event()))
    finally:
        os.umask(old)
    for p in tmp_path.iterdir():
        assert mode(p) & 0o007 == 0, p


def _age(store: Store, table: str, days: int) -> None:
    with store.tx() as db:
        db.execute(f"UPDATE {table} SET received = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{days} days')")


def test_prune_keeps_incidents_and_the_events_they_reference(tmp_path, capsys):
    from sntakeover.config import build
    from sntakeover.engine import Engine
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.runner import LocalRunner

    path = tmp_path / "state" / "sntakeover.db"
    store = Store(path)
    down = Event.from_dict(event(sn="sn1", kind="sn.down", id="p:down", state_type="hard"))
    up = Event.from_dict(event(sn="sn2", kind="sn.up", id="p:up"))
    store.add_events([down], raw=("nagios", {"host": "sn1"}))
    store.add_events([up], raw=("nagios", {"host": "sn2"}))
    Engine(build({}), store, Hooks(get_plugin_manager(load_entrypoints=False)), LocalRunner()).apply_pending()
    _age(store, "events", 200)
    _age(store, "raw", 200)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[daemon]\nstate_dir = "{tmp_path}/state"\n[retention]\nraw_days = 30\nevents_days = 90\n')
    assert main(["prune", "--config", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove 1 raw payload(s)" in out and "would remove 1 processed event(s)" in out
    assert store.query("SELECT COUNT(*) AS n FROM events")[0]["n"] == 2  # dry run: nothing removed
    assert main(["prune", "--config", str(cfg)]) == 0
    assert "removed 1 raw payload(s)" in capsys.readouterr().out
    assert [r["id"] for r in store.query("SELECT id FROM events")] == ["p:down"]  # the incident's event stays
    [raw] = store.query("SELECT event_ids FROM raw")
    assert json.loads(raw["event_ids"]) == ["p:down"]
    assert len(store.query("SELECT id FROM incidents")) == 1
    # 0 days keeps everything
    assert main(["prune", "--config", str(cfg), "--raw-days", "0", "--events-days", "0"]) == 0
    assert "removed 0 raw" in capsys.readouterr().out


def test_opening_another_connection_keeps_the_locks_sqlite_holds_for_the_first(tmp_path):
    """POSIX locks belong to the process: closing any descriptor of the file drops them all.

    A store opened twice in one process (the daemon opens several) must not drop the
    locks of its first connection; else another process (``store version``, ``prune``)
    takes itself for the last user when it closes, checkpoints and deletes the WAL
    that the daemon still writes to, and what the daemon acknowledges next is lost.
    """
    import subprocess
    import sys

    db = tmp_path / "s.db"
    first = Store(db)
    first.add_event(Event.from_dict(event(id="before")))
    second = Store(db)  # the daemon's next connection to the same file
    other = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
             "c.execute('SELECT COUNT(*) FROM events').fetchone(); c.close()")
    subprocess.run([sys.executable, "-c", other, str(db)], check=True, timeout=60)
    assert (tmp_path / "s.db-wal").exists(), "the other process deleted the WAL the daemon writes to"
    first.add_event(Event.from_dict(event(id="after")))  # acknowledged from here on
    seen = subprocess.run([sys.executable, "-c", "import sqlite3, sys; print(sorted(r[0] for r in sqlite3.connect("
                           "sys.argv[1]).execute('SELECT id FROM events')))", str(db)],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert "'after'" in seen and "'before'" in seen, seen
    second.close()
    first.close()
