"""xCAT regnotif standard input and xcatmon status reports -> events.

The regnotif texts are built exactly as NotifHandler.pm::notify prints them:
the action, the table, '[old data]', the column names and the old rows joined
with ',' (unquoted, undefined = empty), '[new data]', the keys of the
new-values hash and their values.
"""

from __future__ import annotations

import pytest

from sntakeover.adapters import regnotif
from sntakeover.errors import EventRejected


NODERES = regnotif.COLUMNS["noderes"]
NODELIST = regnotif.COLUMNS["nodelist"]


def row(columns, **values):
    return ",".join(values.get(c, "") for c in columns)


def text(action, table, columns, old_rows, new):
    out = [action, table, "[old data]"]
    if old_rows:
        out.append(",".join(columns))
        out += [row(columns, **r) for r in old_rows]
    elif action == "a":
        out.append("")  # NotifHandler prints one empty line for the [0] placeholder
    out.append("[new data]")
    if new:
        out += [",".join(new), ",".join(new.values())]
    return "\n".join(out) + "\n"


CN1 = dict(node="cn1", servicenode="sn1,sn2", tftpserver="10.1.0.1", nfsserver="nfs1", monserver="sn1,10.1.0.1",
           xcatmaster="10.1.0.1", installnic="en0", primarynic="en0", current_osimage="aix71-diskless",
           comments="moved by hand, see ticket 12, 13")


def test_noderes_snmove_is_xcat_change_for_old_sn(adapt):
    # what snmove's setNodesAttribs writes per node; the new hash order is Perl's, random
    t = text("u", "noderes", NODERES, [CN1], {"xcatmaster": "10.2.0.1", "servicenode": "sn2,sn1",
                                              "node": "cn1", "tftpserver": "10.2.0.1"})
    [ev] = adapt("regnotif", {"text": t, "time": 1772619342, "reporter": "mn1"})
    assert ev["kind"] == "xcat.change"
    assert ev["servicenode"] == "sn1" and ev["nodes"] == ["cn1"]
    assert "servicenode 'sn1,sn2' -> 'sn2,sn1'" in ev["detail"]
    assert "xcatmaster '10.1.0.1' -> '10.2.0.1'" in ev["detail"]
    assert "nfsserver" not in ev["detail"]  # unchanged external NFS server
    assert ev["id"].startswith("regnotif:noderes:u:cn1:")


def test_commas_in_several_columns_split_by_column_count():
    line = row(NODERES, **CN1)
    assert len(line.split(",")) == len(NODERES) + 4  # servicenode, monserver, 2 in comments
    split = regnotif.split_row("noderes", list(NODERES), line)
    assert split.values["servicenode"] == "sn1,sn2"
    assert split.values["monserver"] == "sn1,10.1.0.1"
    assert split.values["comments"] == "moved by hand, see ticket 12, 13"
    assert split.values["xcatmaster"] == "10.1.0.1"
    assert not split.ambiguous


def test_three_sns_and_empty_values():
    values = dict(node="cn5", servicenode="sn1,sn2,sn3")
    split = regnotif.split_row("noderes", list(NODERES), row(NODERES, **values))
    assert split.values["servicenode"] == "sn1,sn2,sn3"
    assert split.values["netboot"] == "" and split.values["disable"] == ""


def test_truly_ambiguous_line_is_flagged_and_prefers_servicenode():
    # only the two list columns side by side and nothing else to tell them apart
    split = regnotif.split_row("noderes", ["node", "servicenode", "monserver"], "cn1,sn1,sn2,sn3")
    assert split.values["servicenode"] == "sn1,sn2" and split.values["monserver"] == "sn3"
    assert split.ambiguous


def test_too_few_values_rejected():
    with pytest.raises(EventRejected):
        regnotif.split_row("noderes", list(NODERES), "cn1,sn1")


def test_noderes_update_without_relevant_change_gives_nothing(adapt):
    t = text("u", "noderes", NODERES, [CN1], {"node": "cn1", "comments": "x"})
    assert adapt("regnotif", {"text": t, "time": 1772619342}) == []


def test_noderes_of_node_served_by_mn_gives_nothing(adapt):
    t = text("u", "noderes", NODERES, [dict(node="sn1", xcatmaster="10.0.0.1")], {"xcatmaster": "10.0.0.2"})
    assert adapt("regnotif", {"text": t, "time": 1772619342}) == []


def test_noderes_add_and_delete(adapt):
    t = text("a", "noderes", NODERES, [], {"node": "cn9", "servicenode": "sn3,sn4"})
    [ev] = adapt("regnotif", {"text": t, "time": 1772619342})
    assert ev["servicenode"] == "sn3" and ev["nodes"] == ["cn9"]
    t = text("d", "noderes", NODERES, [CN1], {})
    [ev] = adapt("regnotif", {"text": t, "time": 1772619342})
    assert ev["servicenode"] == "sn1" and "servicenode 'sn1,sn2' -> ''" in ev["detail"]


SN1 = dict(node="sn1", groups="service,aixsn,all", status="sshd", statustime="03-04-2026 10:12:00",
           appstatus="sshd=up,https=down,xcatd=up", appstatustime="03-04-2026 10:12:00")


def test_sn_status_noping_is_sn_down_candidate(adapt):
    # nodestat -u (xcatmon's cron) writes status and statustime
    t = text("u", "nodelist", NODELIST, [SN1], {"statustime": "03-04-2026 10:15:00", "status": "noping", "node": "sn1"})
    [ev] = adapt("regnotif", {"text": t, "time": 1772619342})
    assert ev["kind"] == "sn.down" and ev["servicenode"] == "sn1"
    assert ev["state_type"] == "hard"  # the daemon confirms with its own probes before acting
    assert "sshd -> noping" in ev["detail"]
    t2 = text("u", "nodelist", NODELIST, [SN1], {"status": "unreachable"})
    assert adapt("regnotif", {"text": t2, "time": 1772619342}, {"state_type": "soft"})[0]["state_type"] == "soft"


def test_sn_back_is_sn_up_and_noping_again_is_nothing(adapt):
    down = dict(SN1, status="noping")
    t = text("u", "nodelist", NODELIST, [down], {"status": "sshd"})
    assert adapt("regnotif", {"text": t, "time": 1772619342})[0]["kind"] == "sn.up"
    t = text("u", "nodelist", NODELIST, [down], {"status": "noping", "statustime": "03-04-2026 10:18:00"})
    assert adapt("regnotif", {"text": t, "time": 1772619342}) == []


def test_compute_node_status_is_recorded_only(adapt):
    cn = dict(SN1, node="cn1", groups="compute,all")
    t = text("u", "nodelist", NODELIST, [cn], {"status": "noping"})
    assert adapt("regnotif", {"text": t, "time": 1772619342}) == []
    # unless listed as a service node
    assert len(adapt("regnotif", {"text": t, "time": 1772619342}, {"servicenodes": ["cn1"]})) == 1


def test_same_text_same_time_is_same_id_later_is_new(adapt):
    t = text("u", "nodelist", NODELIST, [SN1], {"status": "noping"})
    a = adapt("regnotif", {"text": t, "time": 1772619342})[0]["id"]
    assert adapt("regnotif", {"text": t, "time": 1772619342})[0]["id"] == a
    assert adapt("regnotif", {"text": t, "time": 1772629342})[0]["id"] != a


def test_other_tables_recorded_only(adapt):
    t = "u\nsite\n[old data]\nkey,value,comments,disable\nmaster,10.0.0.1,a,b,c,\n[new data]\nvalue\n10.0.0.2\n"
    assert adapt("regnotif", {"text": t, "time": 1772619342}) == []


@pytest.mark.parametrize("bad", ["", "x\nnoderes\n[old data]\n[new data]\n", "u\nnoderes\n", "u\nno deres\n[old data]\n[new data]\n"])
def test_garbage_rejected(adapt, bad):
    with pytest.raises(EventRejected):
        adapt("regnotif", {"text": bad, "time": 1772619342})


def test_xcatmon_statuses(adapt):
    payload = {"statuses": [{"node": "sn1", "status": "noping"}, {"node": "sn2", "status": "sshd"},
                            {"node": "sn3", "status": "installing"}, {"node": "sn4", "status": "noping(off)"}],
               "time": 1772619342, "reporter": "mn1"}
    evs = adapt("xcatmon", payload)
    assert [(e["servicenode"], e["kind"]) for e in evs] == [("sn1", "sn.down"), ("sn2", "sn.up"), ("sn4", "sn.down")]
    assert evs[0]["state_type"] == "hard"
    # the hook remembers when the outage began: the next cron run carries the same 'since', the same id
    def report(t, since):
        return {"statuses": [{"node": "sn1", "status": "noping", "since": since}], "time": t}

    assert adapt("xcatmon", report(1772619342, 1772619342))[0]["id"] == adapt("xcatmon", report(1772619522, 1772619342))[0]["id"]
    assert adapt("xcatmon", report(1772619342, 1772619342))[0]["id"] != adapt("xcatmon", report(1772619522, 1772619500))[0]["id"]
    # without 'since' every report is its own event, unless the admin opts into a bucket
    again = adapt("xcatmon", dict(payload, time=1772619342 + 180))
    assert again[0]["id"] != evs[0]["id"]
    assert adapt("xcatmon", dict(payload, time=1772619000 + 180), {"bucket": 900})[0]["id"] == \
        adapt("xcatmon", dict(payload, time=1772619000 + 1), {"bucket": 900})[0]["id"]
    assert adapt("xcatmon", payload, {"servicenodes": ["sn2"]})[0]["servicenode"] == "sn2"
    with_time = {"statuses": [{"node": "sn1", "status": "noping", "statustime": "03-04-2026 10:15:00"}], "time": 1}
    assert adapt("xcatmon", with_time)[0]["id"] == "xcatmon:sn1:down:03-04-2026_10:15:00"
