"""Authenticated intake on real sockets: CURVE on tcp://, the ZAP handler, admin keys, ipc permissions."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq
from support import REPO, event

from sntakeover.auth import ClientKeys, KeyRing, server_setup
from sntakeover.cli_keys import create_pair
from sntakeover.client import NoDaemon, request
from sntakeover.config import build
from sntakeover.errors import ConfigError
from sntakeover.poll import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def keys(tmp_path: Path):
    """The daemon's pair; allowed clients nagios (events) and ops (admin); eve's key is not allowed."""
    create_pair(tmp_path / "etc", "server")
    create_pair(tmp_path / "keys", "nagios")
    create_pair(tmp_path / "keys", "ops")
    create_pair(tmp_path / "elsewhere", "eve")
    return tmp_path


def client(base: Path, name: str, server: str = "server") -> ClientKeys:
    where = "elsewhere" if name == "eve" else "keys"
    server_file = base / ("etc" if server == "server" else "elsewhere") / f"{server}.key"
    return ClientKeys.from_files(str(base / where / f"{name}.key_secret"), str(server_file))


def tcp_daemon(daemon, base: Path, sim=None, *, auth: str | None = None, start: bool = True, who: str = "nagios"):
    d = daemon(sim=sim, start=False,
               extra=auth if auth is not None else
               f'[auth]\nkeys_dir = "{base}/keys"\nserver_secret = "{base}/etc/server.key_secret"\nadmins = ["ops"]\n')
    d.endpoint = f"tcp://127.0.0.1:{free_port()}"
    d.config.write_text(d.config.read_text().replace("[daemon]\n", f'[daemon]\nendpoint = "{d.endpoint}"\n', 1))
    d.keys = client(base, who) if who else None
    return d.start() if start else d


def log_has(d, text: str) -> str:
    return wait_until(lambda: text in d.logfile.read_text() and d.logfile.read_text(), timeout=30, what=text)


def stored(d) -> list[dict]:
    s = d.store()
    try:
        return [dict(r) for r in s.query("SELECT id, kind, sender FROM events ORDER BY seq")]
    finally:
        s.close()


def raw_count(d) -> int:
    s = d.store()
    try:
        return s.query("SELECT COUNT(*) FROM raw")[0][0]
    finally:
        s.close()


def cli(d, *args, keys_of: tuple[Path, str] | None = None):
    extra = []
    if keys_of:
        base, name = keys_of
        extra = ["--endpoint", d.endpoint, "--client-key", str(base / "keys" / f"{name}.key_secret"),
                 "--server-key", str(base / "etc" / "server.key")]
    return subprocess.run([sys.executable, "-m", "sntakeover", *args, "--config", str(d.config), *extra],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def test_keys_create_writes_secret_0600_and_public_0644(keys):
    for name in ("server.key_secret", "server.key"):
        assert (keys / "etc" / name).exists()
    assert stat.S_IMODE((keys / "keys" / "nagios.key_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "keys" / "nagios.key").stat().st_mode) == 0o644
    assert "secret-key" not in (keys / "keys" / "nagios.key").read_text()
    with pytest.raises(FileExistsError):
        create_pair(keys / "keys", "nagios")
    assert set(KeyRing(keys / "keys").load().values()) == {"nagios", "ops"}


def test_keys_cli_create_and_list(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[auth]\nkeys_dir = "{tmp_path}/k"\nserver_secret = "{tmp_path}/s/server.key_secret"\n'
                   'admins = ["ops"]\n')
    run = lambda *a: subprocess.run([sys.executable, "-m", "sntakeover", "keys", *a, "--config", str(cfg)],  # noqa: E731
                                    capture_output=True, text=True, timeout=60, cwd=REPO)
    old = os.umask(0)  # the secret is 0600 whatever the umask
    try:
        assert run("create", "--server").returncode == 0
        assert run("create", "ops").returncode == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "s" / "server.key_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k" / "ops.key_secret").stat().st_mode) == 0o600
    bad = run("create", "../x")
    assert bad.returncode == 2 and "NAME" in bad.stderr
    again = run("create", "ops")
    assert again.returncode == 1 and "--force" in again.stderr
    listed = json.loads(run("list", "--json").stdout)
    assert [(k["name"], k["admin"]) for k in listed["keys"]] == [("ops", True)]


def test_start_up_checks(tmp_path, keys):
    tcp = {"daemon": {"endpoint": "tcp://127.0.0.1:1"}}
    ok = {"keys_dir": str(keys / "keys"), "server_secret": str(keys / "etc" / "server.key_secret")}
    assert server_setup(build({**tcp, "auth": ok})) is not None
    assert server_setup(build({"daemon": {"endpoint": "ipc:///tmp/x.sock"}})) is None
    (tmp_path / "empty").mkdir()
    afile = tmp_path / "afile"
    afile.write_text("")
    for auth, says in ((dict(ok, keys_dir=str(tmp_path / "empty")), "no client key"),
                       (dict(ok, keys_dir=str(tmp_path / "missing")), "cannot read"),
                       (dict(ok, keys_dir=str(afile)), "cannot read"),
                       (dict(ok, server_secret=str(keys / "etc" / "server.key")), "holds no secret key"),
                       (dict(ok, server_secret=str(tmp_path / "nope")), "cannot read the CURVE key file"),
                       (dict(ok, keys_dir=""), "needs auth.keys_dir")):
        with pytest.raises(ConfigError, match=says):
            server_setup(build({**tcp, "auth": auth}))
    assert server_setup(build({**tcp, "auth": {"insecure_tcp": True, "keys_dir": ""}})) is None


def test_daemon_refuses_to_start_without_keys_and_warns_when_insecure(daemon, keys, tmp_path):
    (tmp_path / "nokeys").mkdir()
    d = tcp_daemon(daemon, keys, start=False, who="",
                   auth=f'[auth]\nkeys_dir = "{tmp_path}/nokeys"\nserver_secret = "{keys}/etc/server.key_secret"\n')
    d.start(wait=False)
    assert d.proc.wait(60) != 0
    assert "no client key" in d.logfile.read_text()

    d2 = tcp_daemon(daemon, keys, who="", auth="[auth]\ninsecure_tcp = true\n")
    assert d2.request({"v": 1, "op": "ping"})["ok"]
    assert "WITHOUT authentication" in d2.logfile.read_text()


def test_authorised_key_is_recorded_on_every_event_and_shown(daemon, keys):
    d = tcp_daemon(daemon, keys)
    assert d.send(event("sn1", id="e1", detail="hello"))["ok"]
    reply = d.send_raw("xcatmon", {"statuses": [{"node": "sn2", "status": "noping"}], "time": 1764486000,
                                   "reporter": "mn"})
    assert reply["ok"], reply
    assert {e["id"]: e["sender"] for e in stored(d)}["e1"] == "nagios"
    assert all(e["sender"] == "nagios" for e in stored(d))
    d.wait_outcome("e1")
    inc = d.incident_for("sn1")
    shown = cli(d, "show", str(inc["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "key nagios" in shown.stdout
    doc = json.loads(cli(d, "show", str(inc["id"]), "--json").stdout)
    assert [e["sender"] for e in doc["events"]] == ["nagios"]
    assert "from key nagios" in d.logfile.read_text()


def _refused(d, keys_: ClientKeys | None) -> None:
    with pytest.raises(NoDaemon):
        request({"v": 1, "op": "event", "event": event("sn1", kind="takeover.request", id="forged")},
                endpoint=d.endpoint, timeout=1.0, retries=1, keys=keys_)


def test_unknown_key_no_key_and_wrong_server_key_are_refused_and_logged(daemon, keys):
    d = tcp_daemon(daemon, keys)
    _refused(d, None)
    # "offered no CURVE key", or a failed handshake when the client hung up first (which side sees the
    # mismatch first is up to the network)
    log_has(d, "sntakeover.intakeloop: refused a connection on")
    _refused(d, client(keys, "eve"))
    log_has(d, "unknown client key")
    _refused(d, client(keys, "nagios", server="eve"))
    log_has(d, "do not match")
    # the positive signal: an allowed key's event after them is acknowledged; it is the only one stored
    assert d.send(event("sn2", id="after"))["ok"]
    assert [e["id"] for e in stored(d)] == ["after"]
    assert raw_count(d) == 0


def test_key_removed_while_running_is_refused_at_once(daemon, keys):
    d = tcp_daemon(daemon, keys)
    assert d.send(event("sn1", id="before"))["ok"]
    ctx = zmq.Context()
    open_sock = ctx.socket(zmq.REQ)  # a connection made while the key was allowed
    open_sock.setsockopt(zmq.LINGER, 0)
    d.keys.apply(open_sock)
    open_sock.connect(d.endpoint)
    open_sock.send_json({"v": 1, "op": "ping"})
    assert open_sock.poll(5000) and open_sock.recv_json()["ok"]
    (keys / "keys" / "nagios.key").unlink()
    try:
        _refused(d, d.keys)  # a new connection: the ZAP handler read the directory again
        log_has(d, "unknown client key")
        open_sock.send_json({"v": 1, "op": "event", "event": event("sn1", id="late")})
        assert open_sock.poll(5000)
        reply = open_sock.recv_json()
        assert reply["ok"] is False and "no longer" in reply["error"]
    finally:
        open_sock.close()
        ctx.term()
    d.keys = client(keys, "ops")
    assert d.send(event("sn2", id="other"))["ok"]
    assert [e["id"] for e in stored(d)] == ["before", "other"]


def test_status_and_control_verbs_need_an_admin_key(daemon, keys):
    d = tcp_daemon(daemon, keys)
    reply = d.request({"v": 1, "op": "status"}, retries=1)
    assert reply["ok"] is False and "auth.admins" in reply["error"]
    paused = cli(d, "pause", "-m", "x", keys_of=(keys, "nagios"))
    assert paused.returncode == 1 and "auth.admins" in paused.stderr
    assert cli(d, "status", keys_of=(keys, "nagios")).returncode == 1
    for action, extra in (("approve", {"incident": 1}), ("reject", {"incident": 1}), ("pause", {}), ("resume", {}),
                          ("breaker-reset", {}), ("maintenance", {"servicenode": "sn1", "until": "2h"}),
                          ("maintenance-end", {"servicenode": "sn1"})):
        forged = d.request({"v": 1, "op": "control", "action": action, "by": "root@mn", **extra}, retries=1)
        assert forged["ok"] is False and "not in auth.admins" in forged["error"], (action, forged)
    # the admin key: its name is who did it, whatever the request says
    done = cli(d, "pause", "-m", "maintenance window", keys_of=(keys, "ops"))
    assert done.returncode == 0, done.stderr
    assert "paused by ops" in done.stdout
    st = json.loads(cli(d, "status", "--json", keys_of=(keys, "ops")).stdout)
    assert st["status"]["paused"]["by"] == "ops"
    d.keys = client(keys, "ops")
    assert d.request({"v": 1, "op": "control", "action": "resume", "by": "root@mn"})["message"] == "resumed by ops"


def test_hook_takes_client_and_server_keys(daemon, keys):
    d = tcp_daemon(daemon, keys)
    base = [sys.executable, "-m", "sntakeover", "hook", "xcatmon", "--endpoint", d.endpoint, "--node", "sn3",
            "--status", "noping", "--state-dir", "-", "--timeout", "1", "--retries", "1"]
    env = {**os.environ, "SNTAKEOVER_CLIENT_KEY": str(keys / "keys" / "nagios.key_secret"),
           "SNTAKEOVER_SERVER_KEY": str(keys / "etc" / "server.key")}
    ok = subprocess.run(base, capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert ok.returncode == 0, ok.stderr
    plain = subprocess.run(base, capture_output=True, text=True, timeout=60, cwd=REPO,
                           env={k: v for k, v in env.items() if not k.startswith("SNTAKEOVER_")})
    assert plain.returncode == 3 and "--client-key" in plain.stderr
    half = subprocess.run([*base, "--client-key", str(keys / "keys" / "nagios.key_secret")], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env={k: v for k, v in env.items() if k != "SNTAKEOVER_SERVER_KEY"})
    assert half.returncode == 2 and "--server-key" in half.stderr
    assert {e["sender"] for e in stored(d)} == {"nagios"}


# -- the reproduction: user nobody cannot move a healthy SN ---------------------------------


def as_user(uid: int, gid: int, groups: list[int], req: dict, endpoint: str, keys_: ClientKeys | None = None) -> dict:
    """Send ``req`` from a child process running as ``uid`` (the tests run as root)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the user, then try
        os.close(r)
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            try:
                out = {"reply": request(req, endpoint=endpoint, timeout=0.5, retries=1, keys=keys_)}
            except NoDaemon as exc:
                out = {"nodaemon": str(exc)}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


NOBODY = 65534


def test_nobody_cannot_move_a_healthy_sn_over_ipc_but_a_group_member_reaches_the_daemon(sim, daemon):
    s = sim()
    d = daemon(s)
    os.chmod(d.rundir, 0o755)  # a temporary directory is 0700: only the runtime directory decides
    before = {n: s.servicenode(n) for n in s.nodes_first("sn1")}
    run = Path(d.endpoint[len("ipc://"):]).parent
    st = run.stat()
    assert stat.S_IMODE(st.st_mode) == 0o750  # the daemon's user and group only
    req = {"v": 1, "op": "event", "event": event("sn1", kind="takeover.request", id="nobody")}
    out = as_user(NOBODY, NOBODY, [], req, d.endpoint)
    assert "nodaemon" in out
    out = as_user(NOBODY, NOBODY, [], {"v": 1, "op": "status"}, d.endpoint)
    assert "nodaemon" in out
    # a member of the daemon's group (the README: add the monitoring user to it) reaches it
    member = as_user(NOBODY, NOBODY, [st.st_gid], {"v": 1, "op": "ping"}, d.endpoint)
    assert member["reply"]["ok"]
    assert stored(d) == []
    assert d.incident_for("sn1") is None
    assert {n: s.servicenode(n) for n in before} == before


def test_nobody_cannot_move_a_healthy_sn_over_tcp(sim, daemon, keys):
    s = sim()
    d = tcp_daemon(daemon, keys, s)
    before = {n: s.servicenode(n) for n in s.nodes_first("sn1")}
    req = {"v": 1, "op": "event", "event": event("sn1", kind="takeover.request", id="nobody")}
    assert "nodaemon" in as_user(NOBODY, NOBODY, [], req, d.endpoint)
    assert "nodaemon" in as_user(NOBODY, NOBODY, [], {"v": 1, "op": "status"}, d.endpoint)
    assert "nodaemon" in as_user(NOBODY, NOBODY, [], req, d.endpoint, client(keys, "eve"))
    log_has(d, "unknown client key")
    assert d.send(event("sn2", kind="sn.up", id="positive"))["ok"]  # an allowed key gets through meanwhile
    assert [e["id"] for e in stored(d)] == ["positive"]
    assert d.incident_for("sn1") is None
    assert {n: s.servicenode(n) for n in before} == before


def test_systemd_unit_gives_the_runtime_directory_a_real_group():
    unit = (REPO / "packaging" / "systemd" / "sntakeover.service").read_text()
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert lines["Group"] == "sntakeover"
    assert lines["RuntimeDirectory"] == "sntakeover"
    assert lines["RuntimeDirectoryMode"] == "0750"
    assert lines["User"]


def test_alertmanager_bridge_forwards_with_its_key(daemon, keys):
    import http.client

    from sntakeover import webhook

    d = tcp_daemon(daemon, keys)
    alert = {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "s",
             "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://x",
             "alerts": [{"status": "firing", "labels": {"alertname": "XcatSnDown", "sn": "sn1"}, "annotations": {},
                         "startsAt": "2026-03-04T10:15:42.123Z", "endsAt": "0001-01-01T00:00:00Z",
                         "generatorURL": "", "fingerprint": "9f1c2b7e4d3a5c60"}]}
    codes = []
    for keys_ in (None, client(keys, "nagios")):
        b = webhook.ThreadedBridge(webhook.Settings(endpoint=d.endpoint, timeout=1.0, retries=1, no_auth=True,
                                                    keys=keys_), "127.0.0.1:0", None)
        port = b.start()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("POST", "/alertmanager", json.dumps(alert).encode(), {"Content-Type": "application/json"})
            r = c.getresponse()
            codes.append(r.status)
            r.read()
        finally:
            b.stop()
    assert codes == [503, 200]  # without keys no daemon answers: Alertmanager retries
    assert {e["sender"] for e in stored(d)} == {"nagios"}


def test_check_config_checks_the_keys_of_a_tcp_endpoint(tmp_path, keys):
    (tmp_path / "nokeys").mkdir()
    cfg = tmp_path / "c.toml"
    for keys_dir, code in ((tmp_path / "nokeys", 1), (keys / "keys", None)):
        cfg.write_text(f'[daemon]\nendpoint = "tcp://127.0.0.1:5999"\n[auth]\nkeys_dir = "{keys_dir}"\n'
                       f'server_secret = "{keys}/etc/server.key_secret"\n')
        r = subprocess.run([sys.executable, "-m", "sntakeover", "check-config", "--config", str(cfg)],
                           capture_output=True, text=True, timeout=60, cwd=REPO)
        if code:
            assert r.returncode == code and "no client key" in r.stderr
        else:
            assert "no client key" not in r.stderr and "auth.keys_dir" not in r.stderr


def test_sighup_reloads_the_admin_keys(daemon, keys):
    import signal

    d = tcp_daemon(daemon, keys)
    assert d.request({"v": 1, "op": "status"}, retries=1)["ok"] is False
    d.config.write_text(d.config.read_text().replace('admins = ["ops"]', 'admins = ["ops", "nagios"]'))
    d.proc.send_signal(signal.SIGHUP)
    log_has(d, "auth.admins")
    assert d.request({"v": 1, "op": "status"}, retries=1)["ok"] is True
