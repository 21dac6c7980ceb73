"""Build and poke simulated clusters (the Python API used by tests and the demo).

Layout made by :func:`init_cluster` (``P`` = SN pair index from 1; ``127.A.B``
= the cluster's own loopback /24, see :mod:`loopback`):

* MN ``127.A.B.1`` (``site.master``); SN ``snK`` at ``127.A.B.(10+K)`` on
  ``en0`` (network ``mgmt`` = ``127.A.B.0/255.255.255.0``), defined as a node
  in group ``service`` with an empty servicenode. While an SN is up, a real TCP
  listener answers on ``127.A.B.(10+K):3001`` (``site.xcatdport``), so a probe
  that resolves the SN's name through the ``hosts`` table and connects tests
  something real -- and never leaves the machine.
* SNs are paired in order: (sn1,sn2), (sn3,sn4), ...; an odd last SN is paired
  with sn1. Pair P owns network ``netP`` = ``10.P.0.0/255.255.0.0`` with
  gateway ``<xcatmaster>`` (configurable); its first SN has ``10.P.0.1`` and
  its second ``10.P.0.2`` there.
* Compute nodes ``cn1..cnN`` are spread in contiguous blocks over the pairs;
  in each block the first half has ``servicenode=a,b`` and the second half
  ``b,a``. xcatmaster/tftpserver = the primary SN's IP in the pair network,
  nfsserver = ``extnfs`` (or the primary's IP if ``extnfs`` is empty),
  monserver ``<primary>,<ip>``, conserver = primary. Node IPs are
  ``10.P.<1+j//250>.<1+j%250>``. ``nodetype.os``/``provmethod`` come from the
  group row ``compute``. AIX images are diskless (``nimimage.nimtype``).

A cluster with listeners has an agent process (:mod:`agent`); stop it with
:func:`stop_cluster` (processes that started agents stop them when they end).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from . import agent, loopback
from . import db as dbm
from . import state as st

log = logging.getLogger(__name__)

BIN_COMMANDS = ("snmove", "lsdef", "chdef", "nodels", "tabdump", "nodestat", "xdsh", "rpower", "updatenode",
                "makeconservercf", "regnotif", "unregnotif", "nodeset")

# The simulator needs the standard library and this package only: ``-S`` skips site-packages
# (and their start-up hooks); its compiled modules are kept in the cluster directory, so
# a command does not compile them again at every start (even with PYTHONDONTWRITEBYTECODE).
_SCRIPT = """#!{python} -S
import sys
sys.dont_write_bytecode = False
sys.pycache_prefix = {pycache!r}
sys.path.insert(0, {parent!r})
from sntakeover.xcatsim.commands import main
sys.exit(main({name!r}, sys.argv[1:], state_dir={state_dir!r}))
"""


def bin_dir(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / "bin"


def _pairs(sns: list[str]) -> list[tuple[str, str]]:
    pairs = [(sns[i], sns[i + 1]) for i in range(0, len(sns) - 1, 2)]
    if len(sns) % 2:
        pairs.append((sns[-1], sns[0]) if len(sns) > 1 else (sns[0], ""))
    return pairs


def build_state(*, nodes: int, sns: Iterable[str], os_name: str, latency: float, extnfs: str,
                gateway: str, statelite: bool, prefix: str) -> dict[str, Any]:
    """The dict form of a new cluster whose MN-facing network is ``<prefix>.0/24``."""
    sns = list(sns)
    if len(sns) > 240:
        raise ValueError("at most 240 service nodes")
    aix = os_name == "AIX"
    mn_ip = f"{prefix}.1"
    provmethod = "71Bdskls" if aix else "rhels7.9-ppc64le-netboot-compute"
    tables: dict[str, Any] = {
        "site": {"master": mn_ip, "mnname": "mn", "sharedinstall": "no", "domain": "cluster.com",
                 "sharedtftp": "1", "xcatdport": "3001", "xcatiport": "3002"},
        "nodelist": {}, "hosts": {}, "noderes": {}, "nodehm": {}, "nodetype": {}, "postscripts": {},
        "nimimage": {provmethod: {"nimtype": "diskless"}, "71Bsn": {"nimtype": "standalone"}},
        "networks": [{"netname": "mgmt", "net": f"{prefix}.0", "mask": "255.255.255.0", "gateway": "",
                      "mgtifname": "en0" if aix else "eth0"}],
        "statelite": [], "notification": [],
    }
    tables["nodetype"]["compute"] = {"os": os_name, "provmethod": provmethod, "arch": "ppc64"}
    tables["postscripts"]["xcatdefaults"] = {"postscripts": "syslog,remoteshell,syncfiles", "postbootscripts": ""}
    machines: dict[str, Any] = {}
    ifname = "en" if aix else "eth"
    for k, sn in enumerate(sns, start=1):
        tables["nodelist"][sn] = {"groups": "service", "status": "", "appstatus": ""}
        tables["hosts"][sn] = {"ip": f"{prefix}.{10 + k}"}
        tables["nodetype"][sn] = {"os": os_name, "provmethod": "71Bsn" if aix else "rhels7.9-ppc64le-install-service"}
        m = st.new_machine()
        m["interfaces"].append({"name": f"{ifname}0", "ip": f"{prefix}.{10 + k}", "mask": "255.255.255.0"})
        m["routes"] = [mn_ip]
        machines[sn] = m
    pairs = _pairs(sns)
    for p, (a, b) in enumerate(pairs, start=1):
        tables["networks"].append({"netname": f"net{p}", "net": f"10.{p}.0.0", "mask": "255.255.0.0",
                                   "gateway": gateway, "mgtifname": f"{ifname}1"})
        for idx, sn in enumerate((a, b), start=1):
            if sn:
                ifs = machines[sn]["interfaces"]
                ifs.append({"name": f"{ifname}{len(ifs)}", "ip": f"10.{p}.0.{idx}", "mask": "255.255.0.0"})
    names = [f"cn{i}" for i in range(1, nodes + 1)]
    npairs = max(len(pairs), 1)
    blocks: list[list[str]] = [[] for _ in range(npairs)]
    for i, n in enumerate(names):
        blocks[i * npairs // max(nodes, 1)].append(n)
    for p, block in enumerate(blocks, start=1):
        a, b = pairs[p - 1] if pairs else ("", "")
        for j, n in enumerate(block):
            first, second = (a, b) if j < (len(block) + 1) // 2 else (b, a)
            if not first:
                first, second = second, first
            own_idx = 1 if first == a else 2
            xm = f"10.{p}.0.{own_idx}"
            ip = f"10.{p}.{1 + j // 250}.{1 + j % 250}"
            tables["nodelist"][n] = {"groups": f"compute,pair{p}", "status": "", "appstatus": ""}
            tables["hosts"][n] = {"ip": ip}
            tables["noderes"][n] = {"servicenode": ",".join(x for x in (first, second) if x), "xcatmaster": xm,
                                    "tftpserver": xm, "nfsserver": extnfs or xm, "monserver": f"{first},{xm}"}
            tables["nodehm"][n] = {"conserver": first, "mgt": "hmc" if aix else "ipmi"}
            m = st.new_machine()
            m["interfaces"].append({"name": f"{ifname}0", "ip": ip, "mask": "255.255.0.0"})
            m["files"]["/etc/xcatinfo"] = f"XCATSERVER={xm}\n"
            m["routes"] = [xm]
            m["bootlist"] = f"ent0 gateway={xm} bserver={xm} client={ip}" if aix else ""
            machines[n] = m
    if statelite:
        server = extnfs or "$noderes.xcatmaster"
        tables["statelite"].append({"node": "compute", "image": "", "statemnt": f"{server}:/nodedata",
                                    "mntopts": "", "comments": "", "disable": ""})
    return {"version": 1, "latency": float(latency), "fanout": 64, "tables": tables, "machines": machines}


def init_cluster(directory: str | os.PathLike[str], *, nodes: int = 64,
                 sns: Iterable[str] = ("sn1", "sn2", "sn3", "sn4"), os: str = "AIX", latency: float = 0.0,
                 extnfs: str = "extnfs01", gateway: str = "<xcatmaster>", statelite: bool = True,
                 listeners: bool = True, detach: bool = False) -> Path:
    """Create (or overwrite) a simulated cluster in ``directory``; return the directory.

    With ``listeners`` (the default) an agent process keeps a real TCP listener for each SN that is
    up; it lives until :func:`stop_cluster`, or until this process ends unless ``detach``."""
    d = Path(directory).resolve()
    d.mkdir(parents=True, exist_ok=True)
    loopback.stop(d)
    mn_sock = None
    if listeners:
        prefix, mn_sock = loopback.reserve(d)
    else:
        prefix = loopback.default_prefix(d)
    try:
        state = build_state(nodes=nodes, sns=sns, os_name=os, latency=latency, extnfs=extnfs, gateway=gateway,
                            statelite=statelite, prefix=prefix)
        dbm.create(d, state)
        (d / dbm.LOG_FILE).write_text("")
        b = bin_dir(d)
        b.mkdir(exist_ok=True)
        parent = str(Path(__file__).resolve().parents[2])
        for name in BIN_COMMANDS:
            p = b / name
            p.write_text(_SCRIPT.format(python=sys.executable, pycache=str(d / "pycache"), parent=parent,
                                        name=name, state_dir=str(d)))
            p.chmod(0o755)
        if mn_sock is not None:
            loopback.start(d, mn_sock, detach=detach)
    finally:
        if mn_sock is not None:
            mn_sock.close()
    log.info("simulated cluster with %d nodes and %d SNs in %s (%s.0/24)", nodes, len(list(sns)), d, prefix)
    return d


def stop_cluster(directory: str | os.PathLike[str]) -> bool:
    """Close the cluster's listeners and stop its agent; True if one was running. The store stays."""
    return loopback.stop(directory)


def _open(directory: str | os.PathLike[str]) -> dbm.DB:
    return dbm.DB(directory)


def _machine_update(directory: str | os.PathLike[str], name: str, **values: Any) -> None:
    db = _open(directory)
    try:
        with db.write():
            found = db.machines([name])
            if name not in found:
                raise KeyError(f"no such node: {name}")
            db.save_machine(name, {**found[name], **values})
        service = db.in_group(name, "service")
    finally:
        db.close()
    if service:
        agent.sync(directory)


def fail_sn(directory: str | os.PathLike[str], sn: str) -> None:
    """The SN's OS (ssh, xcatd) goes down; its BMC still answers. Its xcatd port refuses at return."""
    _machine_update(directory, sn, up=False)


def heal_sn(directory: str | os.PathLike[str], sn: str) -> None:
    """The SN is powered on and up again; its xcatd port accepts at return."""
    _machine_update(directory, sn, up=True, power="on")


def partition_sn(directory: str | os.PathLike[str], sn: str, cut: bool = True) -> None:
    """Cut the SN off from the MN (``cut``) or join it again. A partitioned SN runs on and serves its
    nodes, but every MN-side access fails as for a dead one (dispatch error, ssh, nodestat ``noping``,
    xcatd port refused); its BMC still answers rpower. Its listener follows at return."""
    _machine_update(directory, sn, partitioned=bool(cut))


def set_node_up(directory: str | os.PathLike[str], node: str, up: bool) -> None:
    _machine_update(directory, node, up=bool(up), **({"power": "on"} if up else {}))


def set_latency(directory: str | os.PathLike[str], latency: float) -> None:
    db = _open(directory)
    try:
        db.set_meta("latency", float(latency))
    finally:
        db.close()


def load_state(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The whole cluster as one dict (see :mod:`state`)."""
    db = _open(directory)
    try:
        return db.export()
    finally:
        db.close()


def save_state(directory: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Make the cluster hold exactly ``state`` (the dict form); listeners follow."""
    db = _open(directory)
    try:
        db.replace_all(state)
    finally:
        db.close()
    agent.sync(directory)


@contextmanager
def edit_state(directory: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """``with edit_state(d) as s: ...`` -- change the dict form; saved when the block ends."""
    state = load_state(directory)
    yield state
    save_state(directory, state)


def commands_log(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return dbm.commands_log(directory)


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """SN states and, per SN, how many compute nodes have it first."""
    sns = sorted((n for n in state["tables"]["nodelist"] if "service" in st.node_groups(state, n)),
                 key=lambda s: (len(s), s))
    first: dict[str, int] = {s: 0 for s in sns}
    for n in state["tables"]["nodelist"]:
        if n in first:
            continue
        sl = st.get_attr(state, n, "noderes", "servicenode")
        if sl:
            first[sl.split(",")[0]] = first.get(sl.split(",")[0], 0) + 1
    return {"sns": {s: {"up": st.is_up(state, s), "power": state["machines"][s].get("power"),
                        "first_for": first.get(s, 0)} for s in sns},
            "nodes": len(state["tables"]["nodelist"]) - len(sns),
            "nodes_down": sorted(n for n, m in state["machines"].items() if n not in first and not st.is_up(state, n)),
            "latency": state.get("latency", 0.0)}


def dumps_summary(state: dict[str, Any]) -> str:
    return json.dumps(summary(state), indent=2, sort_keys=True)
