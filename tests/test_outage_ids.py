"""Event ids name one outage: two distinct outages of one SN never share an id, repeats of one do.

Each tool is driven the way it really calls the hook (Nagios' macros, Icinga's
last_state_change, Zabbix event ids, monit's and cron's repeats, Alertmanager's
startsAt, xcatd's regnotif runs), through the hook's payload builder and the
daemon's own adapter. The last test is the failure that started it: the second
outage of a Nagios *service* check was acknowledged as a duplicate of the first.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from sntakeover import hookcli, hookpayloads

# outages: each a list of gaps (seconds) between the repeated handler runs of that outage;
# the outages follow each other with a gap (0 = within the same second)
OUTAGES = st.lists(st.tuples(st.lists(st.integers(0, 900), min_size=1, max_size=3), st.integers(0, 4000)),
                   min_size=2, max_size=4)


def nagios_args(**kw) -> argparse.Namespace:
    base = dict(host=None, state=None, state_type=None, attempt=None, max_attempts=None, downtime=None,
                host_downtime=None, service=None, time=None, output=None, address=None, problem_id=None,
                last_problem_id=None, last_state_change=None)
    base.update(kw)
    return argparse.Namespace(**base)


def ids_by_last_change(outages, start, one):
    """The ids of each outage's reports: every outage changes the state at its start, then repeats."""
    ids, t = [], start
    for repeats, gap in outages:
        t += gap + 1
        changed = t
        got = []
        for r in repeats:
            t += r
            got.append(one(changed, t))
        ids.append(got)
    return ids


def check(ids_per_outage: list[list[str]]) -> None:
    for k, ids in enumerate(ids_per_outage):
        assert len(set(ids)) == 1, f"repeats of outage {k} got different ids: {ids}"
    firsts = [ids[0] for ids in ids_per_outage]
    assert len(set(firsts)) == len(firsts), f"two outages share an id: {firsts}"


@settings(max_examples=60, deadline=None)
@given(OUTAGES, st.integers(1, 10**6))
def test_nagios_service_check_through_environment_macros(adapt, outages, first_problem):
    """enable_environment_macros=1, a service handler: the host stays UP/HARD with problem id 0."""
    ids, t, problem = [], 1772619342, first_problem
    for repeats, gap in outages:
        problem += 1 + gap % 7  # Nagios numbers problems from one global counter
        t += gap
        got = []
        for r in repeats:
            t += r
            env = {"NAGIOS_HOSTNAME": "sn1", "NAGIOS_SERVICEDESC": "xcatd", "NAGIOS_HOSTSTATE": "UP",
                   "NAGIOS_HOSTSTATETYPE": "HARD", "NAGIOS_HOSTATTEMPT": "1", "NAGIOS_HOSTPROBLEMID": "0",
                   "NAGIOS_SERVICESTATE": "CRITICAL", "NAGIOS_SERVICESTATETYPE": "HARD", "NAGIOS_SERVICEATTEMPT": "3",
                   "NAGIOS_MAXSERVICEATTEMPTS": "3", "NAGIOS_SERVICEPROBLEMID": str(problem), "NAGIOS_TIMET": str(t)}
            with mock.patch.dict(os.environ, env):
                payload = hookpayloads.nagios_payload(nagios_args())
            [ev] = adapt("nagios", payload)
            assert ev["state_type"] == "hard" and ev["kind"] == "sn.down"
            got.append(ev["id"])
        ids.append(got)
    check(ids)


@settings(max_examples=60, deadline=None)
@given(OUTAGES)
def test_nagios_without_problem_ids_uses_the_last_state_change(adapt, outages):
    def one(changed, t):
        payload = hookpayloads.nagios_payload(nagios_args(host="sn1", state="DOWN", state_type="HARD", attempt="3",
                                                     problem_id="0", last_state_change=str(changed), time=str(t)))
        return adapt("nagios", payload)[0]["id"]

    check(ids_by_last_change(outages, 1772619342, one))


@settings(max_examples=60, deadline=None)
@given(OUTAGES)
def test_icinga2(adapt, outages):
    def one(changed, t):
        p = {"host": "sn1", "state": "DOWN", "state_type": "HARD", "attempt": 3, "max_attempts": 3,
             "downtime": 0, "last_state_change": changed, "time": int(t)}
        return adapt("icinga2", p)[0]["id"]

    check(ids_by_last_change(outages, 1772619342.25, one))


@settings(max_examples=40, deadline=None)
@given(OUTAGES, st.integers(1, 10**6))
def test_zabbix(adapt, outages, first_event):
    ids, eid = [], first_event
    for repeats, gap in outages:
        eid += 1 + gap
        ids.append([adapt("zabbix", {"host": "sn1", "event_id": str(eid), "value": 1, "time": 1772619342 + r})[0]["id"]
                    for r in repeats])
    check(ids)


@settings(max_examples=40, deadline=None)
@given(OUTAGES)
def test_alertmanager(adapt, outages):
    from datetime import datetime, timedelta, timezone

    ids, t = [], datetime(2026, 3, 4, 10, 0, tzinfo=timezone.utc)
    for repeats, gap in outages:
        t += timedelta(seconds=gap, milliseconds=1)
        starts = t.isoformat().replace("+00:00", "Z")
        got = []
        for _ in repeats:  # reminders and HA copies carry the same startsAt
            alert = {"status": "firing", "labels": {"alertname": "XcatSnDown", "sn": "sn1"}, "startsAt": starts,
                     "fingerprint": "9f1c2b7e4d3a5c60"}
            got.append(adapt("alertmanager", {"version": "4", "status": "firing", "alerts": [alert]})[0]["id"])
        ids.append(got)
    check(ids)


def _stateful(adapt, outages, source, build) -> None:
    """monit and xcatmon: the hook's state directory makes repeats of one outage one id."""
    with tempfile.TemporaryDirectory() as d:
        ids, t = [], 1772619342
        for repeats, gap in outages:
            t += gap
            hookpayloads.direction_since(Path(d), "sn1", "up", t)  # the recovery in between
            got = []
            for r in repeats:
                t += r
                got.append(adapt(source, build(hookpayloads.direction_since(Path(d), "sn1", "down", t), t))[0]["id"])
            ids.append(got)
        check(ids)


@settings(max_examples=40, deadline=None)
@given(OUTAGES)
def test_monit(adapt, outages):
    _stateful(adapt, outages, "monit", lambda since, t: {"service": "sn1", "direction": "down", "since": since, "time": t})


@settings(max_examples=40, deadline=None)
@given(OUTAGES)
def test_xcatmon(adapt, outages):
    _stateful(adapt, outages, "xcatmon",
              lambda since, t: {"statuses": [{"node": "sn1", "status": "noping", "since": since}], "time": t})


def test_a_down_reported_after_a_long_silence_is_a_new_outage(tmp_path):
    first = hookpayloads.direction_since(tmp_path, "sn1", "down", 1000)
    assert hookpayloads.direction_since(tmp_path, "sn1", "down", 1000 + 600) == first  # monit's repeat
    # the 'up' was never seen (monit was stopped during the recovery): a day later is a new outage
    assert hookpayloads.direction_since(tmp_path, "sn1", "down", 1000 + 600 + 86400) != first


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4))
def test_regnotif_same_change_twice_in_one_second(adapt, n):
    text = "u\nnodelist\n[old data]\nnode,groups,status\nsn1,service,sshd\n[new data]\nstatus\nnoping\n"
    payloads = []
    for _ in range(n):  # xcatd runs the hook once per change; every run has its own nonce
        with mock.patch.object(hookpayloads, "_read_stdin", lambda: text):
            payloads.append(dict(hookpayloads.regnotif_payload(argparse.Namespace()), time=1772619342))
    ids = [[adapt("regnotif", p)[0]["id"], adapt("regnotif", dict(p))[0]["id"]] for p in payloads]
    check(ids)


def test_second_nagios_service_outage_is_taken_over_again(sim, daemon, tmp_path):
    """The reported failure: the second outage got the first one's id and was acked as a duplicate."""
    s = sim(nodes=8)
    d = daemon(s)
    problem = 40

    def handler(state, state_type, attempt, problem_id, last_problem_id=0):
        env = {"NAGIOS_HOSTNAME": "sn1", "NAGIOS_SERVICEDESC": "xcatd", "NAGIOS_HOSTSTATE": "UP",
               "NAGIOS_HOSTSTATETYPE": "HARD", "NAGIOS_HOSTATTEMPT": "1", "NAGIOS_HOSTPROBLEMID": "0",
               "NAGIOS_SERVICESTATE": state, "NAGIOS_SERVICESTATETYPE": state_type,
               "NAGIOS_SERVICEATTEMPT": str(attempt), "NAGIOS_MAXSERVICEATTEMPTS": "2",
               "NAGIOS_SERVICEPROBLEMID": str(problem_id), "NAGIOS_LASTSERVICEPROBLEMID": str(last_problem_id)}
        with mock.patch.dict(os.environ, env):
            assert hookcli.main(["hook", "nagios", "--endpoint", d.endpoint, "--service", "xcatd"]) == 0

    s.fail("sn1")
    handler("CRITICAL", "SOFT", 1, problem)
    handler("CRITICAL", "HARD", 2, problem)
    first = d.wait_closed("sn1", timeout=90)
    assert first["state"] == "done"
    s.heal("sn1")
    handler("OK", "HARD", 1, 0, last_problem_id=problem)
    # the daemon probes sn1 and sees the outage is over
    d.wait_note(first["id"], "answers again")
    # sn1 fails again later: Nagios opens a new problem
    s.fail("sn1")
    handler("CRITICAL", "SOFT", 1, problem + 3)
    handler("CRITICAL", "HARD", 2, problem + 3)
    second = d.wait_closed("sn1", timeout=90, after=first["id"])
    assert second["id"] != first["id"]
    st_ = d.store()
    try:
        hard = st_.query("SELECT id, incident_id FROM events WHERE id LIKE 'nagios:sn1:xcatd:%:CRITICAL:HARD:2' ORDER BY seq")
    finally:
        st_.close()
    assert [r["incident_id"] for r in hard] == [first["id"], second["id"]]
