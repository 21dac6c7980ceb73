"""Intake over real ZeroMQ sockets: validation, durable ack, duplicates, one daemon per endpoint."""

import os
import stat
import subprocess
import sys

import pytest
import zmq

from sntakeover.cli import main
from sntakeover.client import request

from support import event


def test_invalid_event_is_rejected_with_path_and_counted(daemon):
    d = daemon()
    reply = d.send(event(servicenode="sn1;reboot"))
    assert reply["ok"] is False
    assert reply["error"].startswith("$.servicenode: 'sn1;reboot' is not a valid xCAT name")
    reply = d.send(event(time="not-a-time"))
    assert reply == {"ok": False, "error": "$.time: 'not-a-time' is not a 'date-time'"}
    st = d.request({"v": 1, "op": "status"})
    assert st["counters"]["rejected"] == 2
    assert st["status"]["events"] == 0  # nothing stored
    assert "rejected request: $.servicenode" in d.logfile.read_text()


def test_garbage_never_crashes_the_daemon(daemon):
    d = daemon()
    ctx = zmq.Context()
    try:
        for body in (b"", b"\xff\xfe", b"[1,2", b"null", b'{"op":"nope"}', b'{"op":"event"}', b'{"op":"event","event":[]}',
                     b'{"op":"raw","source":"../etc","payload":1}', b"x" * 100000):
            s = ctx.socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(d.endpoint)
            s.send(body)
            assert s.poll(5000), body[:20]
            import json
            reply = json.loads(s.recv())
            assert reply["ok"] is False and reply["error"].startswith("$"), (body[:20], reply)
            s.close()
        # a DEALER without the empty delimiter frame also gets an answer
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(d.endpoint)
        s.send(b'{"op":"ping"}')
        assert s.poll(5000)
        assert b'"pong":true' in s.recv()
        s.close()
    finally:
        ctx.term()
    assert d.request({"v": 1, "op": "ping"})["pong"] is True
    assert d.proc.poll() is None


def test_ack_comes_after_the_event_is_in_the_store(daemon):
    d = daemon()
    ev = event(kind="sn.up")
    reply = d.send(ev)
    assert reply == {"ok": True, "id": ev["id"], "duplicate": False}
    s = d.store()
    rows = s.query("SELECT id, kind FROM events WHERE id = ?", (ev["id"],))
    s.close()
    assert [tuple(r) for r in rows] == [(ev["id"], "sn.up")]


def test_repeated_id_is_a_duplicate_and_processed_once(daemon):
    d = daemon()
    ev = event(kind="sn.up", id="nagios:sn1:4711")
    assert d.send(ev)["duplicate"] is False
    assert d.send(ev)["duplicate"] is True
    assert d.send(dict(ev, detail="changed text, same id"))["duplicate"] is True
    s = d.store()
    assert s.query("SELECT COUNT(*) FROM events")[0][0] == 1
    s.close()
    assert d.request({"v": 1, "op": "status"})["counters"]["duplicates"] == 2


def test_second_daemon_on_the_same_endpoint_refuses_to_start(daemon, tmp_path):
    first = daemon()
    other = tmp_path / "other.toml"
    # a different state directory, the same ipc endpoint
    other.write_text(first.config.read_text().replace(f'state_dir = "{first.tmp}/state"', f'state_dir = "{tmp_path}/s2"'))
    r = subprocess.run([sys.executable, "-m", "sntakeover", "serve", "--config", str(other)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "another sntakeover daemon" in r.stderr and "the endpoint" in r.stderr
    # the first one still owns the socket
    assert first.request({"v": 1, "op": "ping"})["pong"] is True


def test_runtime_dir_is_closed_to_others(daemon):
    d = daemon()
    mode = stat.S_IMODE(os.stat(d.rundir / "run").st_mode)
    assert mode & 0o007 == 0 and mode & 0o020 == 0


def test_send_cli_exit_codes(daemon, capsys):
    d = daemon()
    assert main(["send", "--endpoint", d.endpoint, "--kind", "sn.up", "-s", "sn1", "--tool", "cli", "--ref", "r1"]) == 0
    assert '"duplicate": false' in capsys.readouterr().out
    assert main(["send", "--endpoint", d.endpoint, "--kind", "sn.up", "-s=-x"]) == 4
    err = capsys.readouterr().err
    assert "rejected by the daemon: $.servicenode: '-x' is not a valid xCAT name" in err
    assert "(?!" not in err


def test_send_json_that_cannot_be_read_is_a_usage_error_with_its_reason(tmp_path, capsys):
    missing = tmp_path / "nonexistent.json"
    assert main(["send", "--endpoint", f"ipc://{tmp_path}/x.sock", "--json", str(missing)]) == 2
    assert f"sntakeover send: {missing}: cannot be read: No such file or directory" in capsys.readouterr().err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    assert main(["send", "--endpoint", f"ipc://{tmp_path}/x.sock", "--json", str(deep)]) == 2
    assert "nested too deeply" in capsys.readouterr().err
    for bad in ("-1", "nan", "0"):
        with pytest.raises(SystemExit) as exit_:
            main(["send", "--endpoint", f"ipc://{tmp_path}/x.sock", f"--timeout={bad}", "--kind", "sn.up", "-s", "sn1"])
        assert exit_.value.code == 2 and "give a number of seconds above 0" in capsys.readouterr().err


def test_send_without_daemon_fails_clearly_and_in_bounded_time(tmp_path, capsys):
    ep = f"ipc://{tmp_path}/nobody.sock"
    assert main(["send", "--endpoint", ep, "--timeout", "0.2", "--retries", "2", "--kind", "sn.down", "-s", "sn1"]) == 3
    err = capsys.readouterr().err
    assert "no sntakeover daemon answered" in err and "2 attempt(s)" in err


def test_lazy_pirate_resend_reaches_a_daemon_started_late(daemon):
    d = daemon(start=False)
    import threading
    import time

    t = threading.Timer(0.8, d.start, kwargs={"wait": False})
    t.start()
    try:
        start = time.monotonic()
        reply = request({"v": 1, "op": "ping"}, endpoint=d.endpoint, timeout=1.0, retries=10)
        assert reply["pong"] is True and time.monotonic() - start < 10
    finally:
        t.join()


def test_store_failure_is_not_acknowledged_and_asks_for_a_retry(tmp_path):
    from sntakeover.config import build
    from sntakeover.intake import Intake
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.store import Store
    from sntakeover.validation import load_validators

    store = Store(tmp_path / "s.db")
    intake = Intake(build({}), store, load_validators(), Hooks(get_plugin_manager(load_entrypoints=False)))
    store.db.execute("DROP TABLE events")  # the disk went bad under us
    import json

    reply = intake.handle(json.dumps({"v": 1, "op": "event", "event": event()}).encode())
    assert reply["ok"] is False and reply["retry"] is True and reply["error"].startswith("store error")
    assert intake.counters["store_errors"] == 1
