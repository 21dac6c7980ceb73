"""monit with the shipped check: a closed loopback port execs the hook -> ROUTER."""

from __future__ import annotations

import os

import pytest
from realtools_support import HOOKS, closed_port, need, wait_for

pytestmark = [pytest.mark.realtool, pytest.mark.slow]


def test_monit_check_host_execs_the_hook(tmp_path, fake_daemon, hookbin, start):
    monit = need("monit")
    check = (HOOKS / "monit" / "sntakeover.monitrc").read_text()
    assert "/usr/local/bin/sntakeover hook monit down" in check
    port = closed_port()
    # the shipped check, pointed at a closed port on 127.0.0.1 and at the test's program
    check = (check.replace("with address sn1", "with address 127.0.0.1")
                  .replace("port 3001", f"port {port}")
                  .replace("for 3 cycles", "for 2 cycles")
                  .replace("repeat every 10 cycles", "repeat every 2 cycles")
                  .replace("/usr/local/bin/sntakeover", str(hookbin / "sntakeover")))
    rc = tmp_path / "monitrc"
    rc.write_text(
        "set daemon 1\n"
        f"set logfile {tmp_path / 'monit.log'}\n"
        f"set pidfile {tmp_path / 'monit.pid'}\n"
        f"set idfile {tmp_path / 'monit.id'}\n"
        f"set statefile {tmp_path / 'monit.state'}\n" + check
    )
    os.chmod(rc, 0o600)
    proc = start([monit, "-c", str(rc), "-I"], tmp_path, tmp_path / "monit.out")
    events = fake_daemon.wait_events(1, 30)
    assert events, proc.output() + (tmp_path / "monit.log").read_text(errors="replace")
    ev = events[0]
    assert (ev["kind"], ev["servicenode"], ev["state_type"]) == ("sn.down", "sn1", "hard")
    assert ev["source"]["tool"] == "monit"
    raw = fake_daemon.requests[0]["payload"]
    assert raw["service"] == "sn1" and raw["direction"] == "down" and raw["event"]
    # 'repeat every 2 cycles' runs the hook again: the same failure, the same id
    events = fake_daemon.wait_events(2, 20)
    assert len(events) >= 2, (tmp_path / "monit.log").read_text(errors="replace")
    assert events[1]["id"] == ev["id"] and events[1]["duplicate"]
