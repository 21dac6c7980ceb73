"""Simulated time passes in order: each round trip spends its latency where it happens, and its changes
are committed when it ends -- so a killed snmove leaves exactly what a killed real snmove leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from sntakeover.xcatsim import commands_log, edit_state, init_cluster, load_state, set_latency
from sntakeover.xcatsim.state import node_attr

MINE = [f"cn{i}" for i in range(1, 7)]  # sn1,sn2 first in a 12-node cluster on sn1/sn2
NEW = "10.1.0.2"


def _env(c) -> dict[str, str]:
    return dict(os.environ, PATH=f"{c / 'bin'}{os.pathsep}{os.environ['PATH']}")


def _snapshot(c) -> dict:
    s = load_state(c)
    m = s["machines"]
    return {
        "db": [n for n in MINE if node_attr(s, n, "servicenode") == "sn2,sn1" and node_attr(s, n, "xcatmaster") == NEW
               and node_attr(s, n, "conserver") == "sn2"],
        "statelite": sorted(r["node"] for r in s["tables"]["statelite"] if r["node"] in MINE),
        "xcatinfo": [n for n in MINE if m[n]["files"]["/etc/xcatinfo"] == f"XCATSERVER={NEW}\n"],
        "routes": [n for n in MINE if m[n]["routes"] == [NEW]],
        "bootlist": [n for n in MINE if f"bserver={NEW} " in m[n]["bootlist"] + " "],
        "postscripts": [n for n in MINE if m[n]["postscripts_run"]],
    }


def _is_prefix(nodes: list[str]) -> bool:
    return nodes == MINE[:len(nodes)]


def _check_order(snap: dict) -> None:
    """What any moment of a real snmove looks like: the database completely written before any node
    changes, then each node-side step node after node, each step finished before the next starts."""
    node_side = snap["xcatinfo"] or snap["routes"] or snap["bootlist"] or snap["postscripts"]
    if node_side:
        assert snap["db"] == MINE and snap["statelite"] == sorted(MINE), snap
    assert _is_prefix(snap["xcatinfo"]) and _is_prefix(snap["bootlist"]), snap
    if snap["routes"]:
        assert snap["xcatinfo"] == MINE, snap
    if snap["bootlist"]:
        assert snap["routes"] == MINE, snap   # one 'route change' over the whole group (xcat.md 2.3 step 17)
    if snap["postscripts"]:
        assert snap["bootlist"] == MINE, snap


def _kill_snmove_when(c, step: str) -> tuple[list[dict], dict]:
    """Run `snmove -s sn1`, SIGKILL it once ``step`` is done for some nodes but not all; return
    every state observed while it ran and the state after it died."""
    p = subprocess.Popen(["snmove", "-s", "sn1"], env=_env(c), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[dict] = []
    killed = False
    try:
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline:
            snap = _snapshot(c)
            seen.append(snap)
            if 0 < len(snap[step]) < len(MINE):
                p.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.01)
    finally:
        if p.poll() is None and not killed:
            p.kill()
        p.wait()
    assert killed and p.returncode == -signal.SIGKILL, f"snmove was not caught mid-way ({p.returncode}, {seen[-1:]})"
    return seen, _snapshot(c)


def _cluster(tmp_path, latency: float):
    c = init_cluster(tmp_path / "c", nodes=12, sns=("sn1", "sn2"), listeners=False)
    set_latency(c, latency)
    return c


def test_kill_while_updating_xcatinfo_leaves_db_written_and_some_nodes_done(tmp_path):
    c = _cluster(tmp_path, 0.15)
    seen, after = _kill_snmove_when(c, "xcatinfo")
    for snap in seen:
        _check_order(snap)
    _check_order(after)
    assert after["db"] == MINE and after["statelite"] == sorted(MINE)  # the database step is complete
    assert 0 < len(after["xcatinfo"]) < len(MINE)                      # some nodes updated, the rest not
    assert after["routes"] == after["bootlist"] == after["postscripts"] == []
    untouched = MINE[len(after["xcatinfo"]):]
    s = load_state(c)
    assert all(s["machines"][n]["files"]["/etc/xcatinfo"] == "XCATSERVER=10.1.0.1\n" for n in untouched)


def test_kill_during_the_bootlist_step(tmp_path):
    c = _cluster(tmp_path, 0.1)
    seen, after = _kill_snmove_when(c, "bootlist")
    for snap in seen:
        _check_order(snap)
    _check_order(after)
    assert after["xcatinfo"] == after["routes"] == MINE
    assert 0 < len(after["bootlist"]) < len(MINE)
    assert after["postscripts"] == []


def test_observed_sequence_of_a_whole_move(tmp_path):
    c = _cluster(tmp_path, 0.05)
    p = subprocess.Popen(["snmove", "-s", "sn1"], env=_env(c), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = []
    while p.poll() is None:
        seen.append(_snapshot(c))
        time.sleep(0.01)
    assert p.wait() == 0
    seen.append(_snapshot(c))
    for snap in seen:
        _check_order(snap)
    # time passed between the steps: some moment had the database written and no node changed yet
    assert any(s["db"] == MINE and not s["xcatinfo"] for s in seen)
    assert any(0 < len(s["xcatinfo"]) < len(MINE) for s in seen)
    assert seen[-1]["postscripts"] == MINE


def test_xdsh_commits_each_fanout_wave_when_its_round_trip_ends(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=20, sns=("sn1", "sn2"), listeners=False)
    with edit_state(c) as s:
        s["fanout"] = 4
        s["latency"] = 0.3
    targets = [f"cn{i}" for i in range(1, 11)]  # one dispatch group (sn1,sn2): waves of 4, 4, 2
    p = subprocess.Popen(["xdsh", "cn1-cn10", 'echo "XCATSERVER=x" > /etc/xcatinfo'], env=_env(c),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts = []
    while p.poll() is None:
        m = load_state(c)["machines"]
        counts.append(sum(m[n]["files"]["/etc/xcatinfo"] == "XCATSERVER=x\n" for n in targets))
        time.sleep(0.01)
    assert p.wait() == 0
    assert set(counts) <= {0, 4, 8, 10}, counts      # a wave's nodes change together
    assert {4, 8} & set(counts), counts              # and one wave after the other
    assert counts == sorted(counts)


def test_xdsh_f_sets_the_fanout(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=20, sns=("sn1", "sn2"), listeners=False)
    set_latency(c, 0.3)
    targets = [f"cn{i}" for i in range(1, 11)]
    p = subprocess.Popen(["xdsh", "cn1-cn10", "-f", "5", "route change default 10.1.0.9"], env=_env(c),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts = []
    while p.poll() is None:
        m = load_state(c)["machines"]
        counts.append(sum(m[n]["routes"] == ["10.1.0.9"] for n in targets))
        time.sleep(0.01)
    assert p.wait() == 0
    assert set(counts) <= {0, 5, 10} and 5 in counts, counts


def test_concurrent_snmoves_overlap(tmp_path):
    c = _cluster(tmp_path, 0.1)
    procs = [subprocess.Popen(["snmove", n, "-d", "sn2", "-D", NEW], env=_env(c), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for n in ("cn1", "cn2")]
    assert [p.wait() for p in procs] == [0, 0]
    order = [e["argv"][1] for e in commands_log(c) if e.get("via") == "snmove" and e["argv"][0] == "xdsh"]
    assert order.count("cn1") >= 4 and order.count("cn2") >= 4
    # neither ran start to finish while the other waited: their round trips interleave
    first_done = min(len(order) - 1 - order[::-1].index(n) for n in ("cn1", "cn2"))
    other = "cn2" if order[first_done] == "cn1" else "cn1"
    assert order.index(other) < first_done, order


def test_updatenode_fanout_sets_the_wave_size(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=20, sns=("sn1", "sn2"), listeners=False)
    set_latency(c, 0.3)
    targets = [f"cn{i}" for i in range(1, 11)]
    for spelling in (["--fanout=5"], ["--fanout", "5"]):
        with edit_state(c) as s:
            for n in targets:
                s["machines"][n]["postscripts_run"] = []
        p = subprocess.Popen(["updatenode", "cn1-cn10", *spelling, "-P", "syslog"], env=_env(c),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        counts = []
        while p.poll() is None:
            m = load_state(c)["machines"]
            counts.append(sum(bool(m[n]["postscripts_run"]) for n in targets))
            time.sleep(0.01)
        assert p.wait() == 0
        assert set(counts) <= {0, 5, 10} and 5 in counts, (spelling, counts)
        assert sum(bool(m["postscripts_run"]) for n, m in load_state(c)["machines"].items() if n in targets) == 10
