"""nagios4 with the shipped command and host template: SOFT recorded, HARD DOWN takes over.

Nagios runs its event handlers as ``nagios_user``. The hook must run the same
Python as the tests, which the ``nagios`` user often cannot reach (it lives
under /root here), so when the tests run as root Nagios runs as root too;
otherwise as the current user. Nagios needs the directory owned by that user.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess

import pytest
from realtools_support import HOOKS, events, need, rows

pytestmark = [pytest.mark.realtool, pytest.mark.slow]

MAIN_CFG = """\
log_file={d}/nagios.log
cfg_file={d}/sntakeover.cfg
cfg_file={d}/objects.cfg
resource_file={d}/resource.cfg
object_cache_file={d}/objects.cache
precached_object_file={d}/objects.precache
status_file={d}/status.dat
temp_file={d}/nagios.tmp
temp_path={d}
lock_file={d}/nagios.lock
state_retention_file={d}/retention.dat
retain_state_information=0
check_result_path={d}/checkresults
command_file={d}/nagios.cmd
query_socket={d}/nagios.qh
check_external_commands=0
nagios_user={user}
nagios_group={group}
enable_event_handlers=1
enable_notifications=0
enable_flap_detection=0
interval_length=1
sleep_time=0.1
cached_host_check_horizon=0
use_retained_scheduling_info=0
check_result_reaper_frequency=1
max_host_check_spread=1
max_service_check_spread=1
host_inter_check_delay_method=n
service_inter_check_delay_method=n
illegal_macro_output_chars=`~$&|'"<>
"""

OBJECTS = """\
define command {{
    command_name    sntakeover_test_fail
    command_line    {d}/check_down.sh
}}
define command {{
    command_name    sntakeover_test_ok
    command_line    /bin/true
}}
define timeperiod {{
    timeperiod_name always
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}}
define contact {{
    contact_name                    nobody
    host_notifications_enabled      0
    service_notifications_enabled   0
    host_notification_period        always
    service_notification_period     always
    host_notification_options       n
    service_notification_options    n
    host_notification_commands      sntakeover_test_ok
    service_notification_commands   sntakeover_test_ok
}}
define host {{
    use                     sntakeover-sn
    host_name               sn1
    address                 127.0.0.1
    check_command           sntakeover_test_fail
    max_check_attempts      2
    check_period            always
    contacts                nobody
    notifications_enabled   0
}}
define service {{
    host_name               sn1
    service_description     placeholder
    check_command           sntakeover_test_ok
    max_check_attempts      1
    check_interval          3600
    retry_interval          3600
    check_period            always
    notification_period     always
    contacts                nobody
    notifications_enabled   0
}}
"""


def test_nagios_soft_is_recorded_and_hard_down_takes_over(tmp_path, stack, hookbin, start):
    nagios = need("nagios4")
    d = d_dir = tmp_path / "nagios"
    d.mkdir()
    (d / "checkresults").mkdir()
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    (d / "nagios.cfg").write_text(MAIN_CFG.format(d=d, user=user, group=group))
    (d / "sntakeover.cfg").write_text((HOOKS / "nagios" / "sntakeover.cfg").read_text())  # shipped, as is
    (d / "resource.cfg").write_text(f"$USER1$=/usr/lib/nagios/plugins\n$USER2$={hookbin}\n")
    (d / "objects.cfg").write_text(OBJECTS.format(d=d))
    chk = d / "check_down.sh"
    chk.write_text("#!/bin/sh\necho 'CRITICAL - connection refused on 3001'\nexit 2\n")
    chk.chmod(0o755)
    v = subprocess.run([nagios, "-v", str(d / "nagios.cfg")], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0, v.stdout + v.stderr
    proc = start([nagios, str(d / "nagios.cfg")], d, tmp_path / "nagios.out")

    # SOFT 1, then HARD 2 (max_check_attempts 2): both delivered; only HARD acts
    d, sim = stack.daemon, stack.sim
    inc = d.wait_closed("sn1", timeout=90)
    nagios_log = d_dir / "nagios.log"
    assert inc["state"] == "done", proc.output() + (nagios_log.read_text(errors="replace") if nagios_log.exists() else "")
    evs = events(d)
    # the two handler runs can overlap (Nagios workers): match by state type, not arrival
    soft = next(e for e in evs if e.get("state_type") == "soft")
    hard = next(e for e in evs if e.get("state_type") == "hard")
    assert soft["kind"] == hard["kind"] == "sn.down"
    assert soft["servicenode"] == hard["servicenode"] == "sn1"
    assert soft["in_downtime"] is False
    assert "soft" in soft["outcome"] and hard["incident_id"] == inc["id"]
    # $HOSTPROBLEMID$ is the reference, the same through SOFT and HARD
    assert soft["source"]["ref"] == hard["source"]["ref"] != ""
    assert len(sim.calls("snmove")) == 1 and sim.nodes_first("sn1") == []
    log = nagios_log.read_text(errors="replace")
    assert "HOST EVENT HANDLER: sn1;DOWN;HARD;2;sntakeover-event" in log
    payloads = [json.loads(r["payload"]) for r in rows(d, "SELECT payload FROM raw ORDER BY seq")]
    raw = next(p for p in payloads if p["state_type"] == "HARD")
    assert raw["attempt"] == 2 and raw["max_attempts"] == 2 and raw["output"].startswith("CRITICAL")
