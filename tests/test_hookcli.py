"""``sntakeover hook ...`` against the daemon's real intake on a real ZeroMQ ROUTER."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from intake_only import FaultyDaemon, IntakeOnlyDaemon  # noqa: E402

from sntakeover import hookcli  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def daemon():
    d = IntakeOnlyDaemon()
    yield d
    d.close()


def run(argv, monkeypatch=None, stdin=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    return hookcli.main(argv)


def test_nagios_hard_down(daemon, capsys):
    rc = run(["hook", "nagios", "--endpoint", daemon.endpoint, "--host", "sn1", "--state", "DOWN",
              "--state-type", "HARD", "--attempt", "3/3", "--downtime", "0", "--problem-id", "42",
              "--last-problem-id", "0", "--time", "1772619342", "--output", "CRITICAL - timeout"])
    assert rc == 0
    [ev] = daemon.events
    assert (ev["kind"], ev["state_type"], ev["id"]) == ("sn.down", "hard", "nagios:sn1:42:DOWN:HARD:3")
    assert "accepted nagios:sn1:42:DOWN:HARD:3" in capsys.readouterr().out
    # the same call again: acknowledged as a duplicate
    assert run(["hook", "nagios", "--endpoint", daemon.endpoint, "--host", "sn1", "--state", "DOWN",
                "--state-type", "HARD", "--attempt", "3/3", "--problem-id", "42", "--time", "1772619342"]) == 0
    assert daemon.events[1]["duplicate"] is True
    assert "(duplicate)" in capsys.readouterr().out


def test_nagios_env_macros(daemon, monkeypatch):
    for k, v in {"NAGIOS_HOSTNAME": "sn2", "NAGIOS_HOSTSTATE": "UNREACHABLE", "NAGIOS_HOSTSTATETYPE": "HARD",
                 "NAGIOS_HOSTATTEMPT": "3", "NAGIOS_HOSTPROBLEMID": "7"}.items():
        monkeypatch.setenv(k, v)
    assert run(["hook", "nagios", "--endpoint", daemon.endpoint]) == 0
    assert daemon.requests[0]["payload"]["host"] == "sn2"
    assert daemon.events == []  # UNREACHABLE: recorded, no event


def test_icinga2_env_dictionary(daemon, monkeypatch):
    for k, v in {"SN_HOST": "sn1", "SN_STATE": "DOWN", "SN_STATE_TYPE": "SOFT", "SN_ATTEMPT": "1",
                 "SN_MAX_ATTEMPTS": "3", "SN_DOWNTIME": "0", "SN_LAST_STATE_CHANGE": "1772619300.5"}.items():
        monkeypatch.setenv(k, v)
    assert run(["hook", "icinga2", "--endpoint", daemon.endpoint]) == 0
    assert daemon.events[0]["state_type"] == "soft"
    # arguments win over env
    assert run(["hook", "icinga2", "--endpoint", daemon.endpoint, "--state-type", "1", "--attempt", "3"]) == 0
    assert daemon.events[1]["state_type"] == "hard"


def test_zabbix(daemon):
    assert run(["hook", "zabbix", "--endpoint", daemon.endpoint, "--host", "sn1", "--event", "104528",
                "--value", "1", "--severity", "4", "--trigger", "xcatd down"]) == 0
    assert daemon.events[0]["id"] == "zabbix:104528:1" and daemon.events[0]["severity"] == "high"
    assert run(["hook", "zabbix", "--endpoint", daemon.endpoint, "--host", "sn1", "--event", "1", "--value", "x"]) == 2


def test_monit_repeat_shares_since(daemon, monkeypatch, tmp_path):
    monkeypatch.setenv("MONIT_SERVICE", "sn1")
    monkeypatch.setenv("MONIT_EVENT", "Connection failed")
    args = ["--endpoint", daemon.endpoint, "--state-dir", str(tmp_path)]
    assert run(["hook", "monit", "down", *args]) == 0
    time.sleep(1.1)
    assert run(["hook", "monit", "down", *args]) == 0  # 'repeat every N cycles'
    assert daemon.events[0]["id"] == daemon.events[1]["id"] and daemon.events[1]["duplicate"]
    assert run(["hook", "monit", "up", *args]) == 0
    time.sleep(1.1)
    assert run(["hook", "monit", "down", *args]) == 0
    assert daemon.events[3]["id"] != daemon.events[0]["id"]


def test_regnotif_stdin(daemon, monkeypatch):
    text = "u\nnodelist\n[old data]\nnode,groups,status\nsn1,service,all,sshd\n[new data]\nstatus\nnoping\n"
    assert run(["hook", "regnotif", "--endpoint", daemon.endpoint], monkeypatch, stdin=text) == 0
    assert daemon.requests[0]["payload"]["text"] == text
    assert daemon.events[0]["kind"] == "sn.down"


def test_xcatmon_lines(daemon, monkeypatch):
    out = "sn1: noping\nsn2: sshd\ngarbage line\nsn3: nodelist.status: unreachable\n"
    assert run(["hook", "xcatmon", "--endpoint", daemon.endpoint], monkeypatch, stdin=out) == 4  # the garbage line
    assert [(e["servicenode"], e["kind"]) for e in daemon.events] == [("sn1", "sn.down"), ("sn2", "sn.up"), ("sn3", "sn.down")]


def test_rejected_payload_exit_4(daemon, capsys):
    rc = run(["hook", "nagios", "--endpoint", daemon.endpoint, "--host", "sn1", "--state", "EXPLODED", "--state-type", "HARD"])
    assert rc == 4
    assert "rejected by the daemon: $.payload.state: 'EXPLODED' is not one of" in capsys.readouterr().err


def test_missing_args_exit_2(capsys):
    assert run(["hook", "nagios", "--endpoint", "tcp://127.0.0.1:9"]) == 2
    assert "--host and --state are required" in capsys.readouterr().err


def test_no_daemon_exit_3_with_message(capsys, tmp_path):
    rc = run(["hook", "zabbix", "--endpoint", f"ipc://{tmp_path}/nobody.sock", "--timeout", "0.2", "--retries", "2",
              "--host", "sn1", "--event", "1", "--value", "1"])
    assert rc == 3
    err = capsys.readouterr().err
    assert "no sntakeover daemon answered" in err and "NOT delivered" in err


def test_garbage_reply_exit_5():
    d = FaultyDaemon("garbage")
    try:
        assert run(["hook", "zabbix", "--endpoint", d.endpoint, "--host", "sn1", "--event", "1", "--value", "1"]) == 5
    finally:
        d.close()


def test_monit_bounded_when_daemon_away_and_says_so(tmp_path):
    """A separate process, as monit runs it: bounded time, stderr message, syslog call."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MONIT_SERVICE="sn1", SNTAKEOVER_ENDPOINT=f"ipc://{tmp_path}/away.sock",
               SNTAKEOVER_HOOK_STATE=str(tmp_path / "state"))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "sntakeover.hookcli", "hook", "monit", "down"], env=env,
                       capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 3
    assert "NOT delivered" in p.stderr
    assert took < hookcli.MONIT_TIMEOUT * hookcli.MONIT_RETRIES + 3


def test_monit_logs_to_syslog(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(hookcli.syslog, "syslog", lambda prio, msg: calls.append((prio, msg)))
    monkeypatch.setenv("MONIT_SERVICE", "sn1")
    rc = run(["hook", "monit", "down", "--endpoint", f"ipc://{tmp_path}/x.sock", "--timeout", "0.1", "--retries", "1",
              "--state-dir", "-"])
    assert rc == 3
    assert calls and "NOT delivered" in calls[0][1]


def test_endpoint_from_environment(daemon, monkeypatch):
    monkeypatch.setenv("SNTAKEOVER_ENDPOINT", daemon.endpoint)
    assert run(["hook", "zabbix", "--host", "sn1", "--event", "5", "--value", "0"]) == 0
    assert daemon.events[0]["kind"] == "sn.up"


def test_register_sets_func_on_each_subcommand():
    import argparse

    parser = argparse.ArgumentParser()
    hookcli.register(parser.add_subparsers(dest="command"))
    for argv in (["hook", "regnotif"], ["hook", "monit", "up"]):
        assert callable(parser.parse_args(argv).func)


def test_text_that_is_not_utf8_in_arguments_or_environment_is_delivered_with_a_replacement_character(
        daemon, monkeypatch, tmp_path):
    """Plugin output in a Latin-1 locale: the byte arrives as a lone surrogate (surrogateescape)."""
    latin1 = os.fsdecode(b"CRITICAL - Verbindung abgelehnt f\xfcr sn1")
    assert run(["hook", "nagios", "--endpoint", daemon.endpoint, "--host", "sn1", "--state", "DOWN",
                "--state-type", "HARD", "--attempt", "3", "--problem-id", "301", "--output", latin1]) == 0
    assert daemon.events[0]["kind"] == "sn.down" and not daemon.events[0]["duplicate"]
    assert daemon.requests[0]["payload"]["output"] == "CRITICAL - Verbindung abgelehnt f\ufffdr sn1"
    monkeypatch.setenv("MONIT_SERVICE", "sn2")
    monkeypatch.setenv("MONIT_EVENT", os.fsdecode(b"Verbindung fehlgeschlagen \xe0 sn2"))
    assert run(["hook", "monit", "down", "--endpoint", daemon.endpoint, "--state-dir", str(tmp_path)]) == 0
    assert daemon.events[1]["servicenode"] == "sn2" and daemon.events[1]["kind"] == "sn.down"


def test_a_service_handler_sees_the_hosts_downtime(daemon, monkeypatch):
    """Host downtime is how admins declare an SN's maintenance; the xcatd service check must honour it."""
    for k, v in {"NAGIOS_HOSTNAME": "sn2", "NAGIOS_SERVICEDESC": "xcatd", "NAGIOS_SERVICESTATE": "CRITICAL",
                 "NAGIOS_SERVICESTATETYPE": "HARD", "NAGIOS_SERVICEATTEMPT": "3", "NAGIOS_SERVICEDOWNTIME": "0",
                 "NAGIOS_HOSTDOWNTIME": "1", "NAGIOS_SERVICEPROBLEMID": "4242"}.items():
        monkeypatch.setenv(k, v)
    assert run(["hook", "nagios", "--endpoint", daemon.endpoint]) == 0
    assert daemon.requests[0]["payload"]["downtime"] == 1
    for k in list(os.environ):
        if k.startswith("NAGIOS_"):
            monkeypatch.delenv(k)
    assert run(["hook", "nagios", "--endpoint", daemon.endpoint, "--host", "sn2", "--service", "xcatd",
                "--state", "CRITICAL", "--state-type", "HARD", "--attempt", "3", "--problem-id", "4243",
                "--downtime", "0", "--host-downtime", "2"]) == 0
    assert daemon.requests[1]["payload"]["downtime"] == 2
    assert all(e["kind"] == "sn.down" for e in daemon.events)


def test_the_shipped_nagios_service_command_passes_the_hosts_downtime():
    cfg = (ROOT / "hooks" / "nagios" / "sntakeover.cfg").read_text()
    service_line = next(line for line in cfg.splitlines() if "--service" in line and "command_line" in line)
    assert '--host-downtime "$HOSTDOWNTIME$"' in service_line


def test_xcatmon_lines_it_cannot_read_are_reported_and_the_others_stored(daemon, monkeypatch, capsys):
    out = "sn1: noping\nbad;node: noping\n\nsn_bad!: noping\nsn2: sshd\nsn3:\n"
    assert run(["hook", "xcatmon", "--endpoint", daemon.endpoint, "--state-dir", "-"], monkeypatch, stdin=out) == 4
    assert [(e["servicenode"], e["kind"]) for e in daemon.events] == [("sn1", "sn.down"), ("sn2", "sn.up")]
    err = capsys.readouterr().err
    for n, line in ((2, "bad;node: noping"), (4, "sn_bad!: noping"), (6, "sn3:")):
        assert f"line {n} not read (not 'node: status'): {line!r}" in err, err
    assert "3 line(s) not read, 2 stored" in err


def test_tool_text_longer_than_the_schema_takes_is_cut_not_the_event_lost(daemon, monkeypatch, tmp_path):
    long = "CRITICAL - " + "x" * 20000
    assert run(["hook", "nagios", "--endpoint", daemon.endpoint, "--host", "sn1", "--state", "DOWN",
                "--state-type", "HARD", "--attempt", "3", "--problem-id", "77", "--output", long]) == 0
    out = daemon.requests[0]["payload"]["output"]
    assert len(out) == 8192 and out.startswith("CRITICAL - xxx") and out.endswith("\u2026")
    monkeypatch.setenv("MONIT_SERVICE", "sn2")
    monkeypatch.setenv("MONIT_EVENT", "Connection failed " * 100)
    assert run(["hook", "monit", "down", "--endpoint", daemon.endpoint, "--state-dir", str(tmp_path)]) == 0
    assert [e["kind"] for e in daemon.events] == ["sn.down", "sn.down"]


@pytest.mark.parametrize("argv", [
    ["nagios", "--host", "sn1", "--state", "DOWN", "--attempt", "inf"],
    ["nagios", "--host", "sn1", "--state", "DOWN", "--time", "1e400"],
    ["nagios", "--host", "sn1", "--state", "DOWN", "--downtime", "nan"],
    ["icinga2", "--host", "sn1", "--state", "DOWN", "--last-state-change", "inf"],
    ["icinga2", "--host", "sn1", "--state", "DOWN", "--last-state-change", "nan"],
])
def test_numbers_that_are_no_number_are_bad_arguments(daemon, capsys, argv):
    assert run(["hook", argv[0], "--endpoint", daemon.endpoint, *argv[1:]]) == 2
    assert "must be a finite number" in capsys.readouterr().err
    assert daemon.requests == []
