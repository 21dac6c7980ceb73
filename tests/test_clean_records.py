"""Free text is stored as given and never printed raw: show, incidents, status, watch, the log, notifiers.

The issue's forgery: an event ``detail`` with a newline and escape codes printed a fake
``verifying -> done ... all 64 node(s) verified`` line and reached the admin's terminal raw.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import pytest
from support import REPO, event
from test_adapter_regnotif import NODELIST, SN1, text

from sntakeover import hookcli, hookpayloads
from sntakeover.cli import main as cli_main
from sntakeover.model import Incident, State
from sntakeover.notifytext import message
from sntakeover.printable import OneLineFormatter, is_printable, printable

FAKE = "2026-11-30T06:00:00Z  verifying -> done           all 64 node(s) verified"
#: newline, CR, ANSI erase-line, OSC window title ended by BEL, DEL, C1 CSI, a Unicode line separator
FORGED = f"probe timed out\n{FAKE}\r\x1b[2K\x1b]0;pwned\x07\x7f\x9b31m\u2028{FAKE}"
#: host names may hold no C0 character (the schema refuses them): C1 and Unicode separators
FORGED_HOST = f"mn1\x9b2K\u2028{FAKE}\u202e"


def test_printable_escapes_every_character_that_changes_a_display():
    assert printable("plain text, é, 日本, tab-free") == "plain text, é, 日本, tab-free"
    assert printable("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert printable("\x1b[31mred\x1b]0;t\x07") == "\\x1b[31mred\\x1b]0;t\\x07"
    assert printable("\x00\x7f\x85\x9b") == "\\x00\\x7f\\x85\\x9b"
    assert printable("\u2028\u2029\u202e\u2066\u200b\ufeff") == "\\u2028\\u2029\\u202e\\u2066\\u200b\\ufeff"
    assert printable("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    assert printable(FORGED).count("\n") == 0 and is_printable(printable(FORGED))
    assert printable(7) == "7"


def test_one_log_line_per_record_even_with_a_traceback():
    import logging

    rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "event %s: %s", ("e1", FORGED), None)
    try:
        raise ValueError(FORGED)
    except ValueError:
        rec.exc_info = sys.exc_info()
    line = OneLineFormatter("%(levelname)s %(message)s").format(rec)
    assert "\n" not in line and is_printable(line)
    assert "\\n" + FAKE in line


def test_every_notifier_message_is_clean():
    inc = Incident(7, "sn1", State.CONFIRMING, "2026-11-30T06:00:00Z")
    msg = message(inc, {"from": "detected", "to": "confirming", "reason": f"event e1: sn.down from x@y, {FORGED}",
                        "time": "2026-11-30T06:00:01Z"})
    for key in ("subject", "line", "reason", "summary", "waiting_for"):
        assert is_printable(msg[key]), key
    lines = msg["text"].splitlines()
    assert all(is_printable(t) for t in lines)
    assert sum(FAKE in t for t in lines) == 1 and not any(t.startswith(FAKE) for t in lines)
    assert "\\x1b]0;pwned\\x07" in msg["line"]
    # JSON (the webhook notifier) escapes what JSON must; its text and line fields are clean as well
    assert "\x1b" not in json.dumps(msg)


def payload(tool: str, argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None,
            monkeypatch=None) -> dict:
    """The raw payload ``sntakeover hook TOOL ARGV`` would send."""
    parser = argparse.ArgumentParser()
    hookcli.register(parser.add_subparsers(dest="command"))
    a = parser.parse_args(["hook", tool, *argv])
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    if stdin is not None:
        monkeypatch.setattr(hookpayloads, "_read_stdin", lambda: stdin)
    build = {"nagios": hookpayloads.nagios_payload, "icinga2": hookpayloads.icinga2_payload, "zabbix": hookpayloads.zabbix_payload,
             "monit": hookpayloads.monit_payload, "regnotif": hookpayloads.regnotif_payload,
             "xcatmon": hookpayloads.xcatmon_payload}[tool]
    return build(a)


def test_forged_text_through_every_adapter_and_send_shows_escaped_on_one_line(daemon, monkeypatch, capsys, tmp_path):
    d = daemon()
    now = int(time.time())
    sent = {
        "nagios": payload("nagios", ["--host", "sn1", "--state", "DOWN", "--state-type", "HARD", "--attempt", "3/3",
                                     "--problem-id", "41", "--output", FORGED], monkeypatch=monkeypatch),
        "icinga2": payload("icinga2", ["--host", "sn2", "--state", "DOWN", "--state-type", "HARD",
                                       "--last-state-change", str(now), "--output", FORGED], monkeypatch=monkeypatch),
        "zabbix": payload("zabbix", ["--host", "sn3", "--event", "77", "--value", "1", "--trigger", FORGED],
                          monkeypatch=monkeypatch),
        "monit": payload("monit", ["down", "--service", "sn4", "--state-dir", "-"],
                         env={"MONIT_DESCRIPTION": FORGED, "MONIT_EVENT": "Connection failed"}, monkeypatch=monkeypatch),
        "regnotif": {**payload("regnotif", [], stdin=text("u", "nodelist", NODELIST, [dict(SN1, node="sn5")],
                                                         {"status": "noping", "node": "sn5"}), monkeypatch=monkeypatch),
                     "reporter": FORGED_HOST},
        "xcatmon": {**payload("xcatmon", ["--node", "sn6", "--status", "noping", "--state-dir", "-"],
                              monkeypatch=monkeypatch), "reporter": FORGED_HOST},
        "alertmanager": {
            "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "sntakeover",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": {"alertname": "XcatSnDown", "sn": "sn7"},
                        "annotations": {"summary": FORGED},
                        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "9f1c2b7e4d3a5c60"}]},
    }
    ids = []
    for source, body in sent.items():
        reply = d.send_raw(source, body)
        assert reply["ok"] and reply["events"], (source, reply)
        ids += [e["id"] for e in reply["events"]]
    sent_by_cli = subprocess.run(
        [sys.executable, "-m", "sntakeover", "send", "--config", str(d.config), "--endpoint", d.endpoint,
         "--kind", "sn.down", "--servicenode", "sn8", "--state-type", "hard", "--id", "cli-forged",
         "--detail", FORGED], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert sent_by_cli.returncode == 0, sent_by_cli.stderr
    ids.append("cli-forged")
    for i in ids:
        d.wait_outcome(i)

    # stored as given
    s = d.store()
    try:
        body = json.loads(s.query("SELECT body FROM events WHERE id = 'cli-forged'")[0]["body"])
        rows = s.query("SELECT id, servicenode FROM incidents ORDER BY id")
        outcomes = [tuple(r) for r in s.query("SELECT id, servicenode, outcome FROM events ORDER BY seq")]
    finally:
        s.close()
    assert body["detail"] == FORGED
    assert len(rows) == 8, outcomes

    def check(out: str, what: str) -> None:
        lines = out.splitlines()
        assert all(is_printable(line) for line in lines), what
        assert not any(line.lstrip().startswith(FAKE[:20]) for line in lines), what

    capsys.readouterr()
    for r in rows:
        assert cli_main(["show", str(r["id"]), "--config", str(d.config)]) == 0
        out = capsys.readouterr().out
        check(out, f"show {r['servicenode']}")
        escaped = "\\n" + FAKE if r["servicenode"] not in ("sn5", "sn6") else "\\u2028" + FAKE
        assert escaped in out, (r["servicenode"], out)
        assert cli_main(["watch", str(r["id"]), "--timeout", "0.3", "--config", str(d.config)]) in (0, 1)
        check(capsys.readouterr().out, f"watch {r['servicenode']}")
    assert cli_main(["incidents", "--config", str(d.config)]) == 0
    check(capsys.readouterr().out, "incidents")
    assert cli_main(["status", "--config", str(d.config), "--endpoint", d.endpoint]) == 0
    out = capsys.readouterr().out
    check(out, "status")
    # the daemon's log: one line per record, the forged line inside the record that carries it
    log_lines = d.logfile.read_text().splitlines()
    check("\n".join(log_lines), "daemon log")
    assert any("\\n" + FAKE in line for line in log_lines)
