"""monit with the shipped check: a closed loopback port execs the hook -> daemon -> takeover."""

from __future__ import annotations

import json
import os

import pytest
from realtools_support import HOOKS, closed_port, events, need, rows, wait_for

pytestmark = [pytest.mark.realtool, pytest.mark.slow]


def test_monit_check_host_execs_the_hook_and_the_takeover_runs(tmp_path, stack, hookbin, start):
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
    d = stack.daemon
    inc = d.wait_closed("sn1", timeout=60)
    assert inc["state"] == "done", proc.output() + (tmp_path / "monit.log").read_text(errors="replace")
    [ev] = events(d)
    assert (ev["kind"], ev["servicenode"], ev["state_type"]) == ("sn.down", "sn1", "hard")
    assert ev["source"]["tool"] == "monit"
    raw = json.loads(rows(d, "SELECT payload FROM raw ORDER BY seq")[0]["payload"])
    assert raw["service"] == "sn1" and raw["direction"] == "down" and raw["event"]
    # 'repeat every 2 cycles' runs the hook again: the same failure, the same id, nothing new
    assert wait_for(lambda: len(rows(d, "SELECT seq FROM raw")) >= 2, 20), (tmp_path / "monit.log").read_text(errors="replace")
    again = rows(d, "SELECT event_ids FROM raw ORDER BY seq")
    assert json.loads(again[1]["event_ids"]) == [ev["id"]]
    assert len(events(d)) == 1 and len(stack.sim.calls("snmove")) == 1
