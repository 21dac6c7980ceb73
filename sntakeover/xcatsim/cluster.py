"""Build and poke simulated clusters (the Python API used by tests and the demo).

Layout made by :func:`init_cluster` (``P`` = SN pair index from 1):

* MN ``192.168.0.1`` (``site.master``); SN ``snK`` at ``192.168.0.(10+K)``
  on ``en0`` (network ``mgmt``), defined as a node in group ``service`` with
  an empty servicenode.
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
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterable

from . import state as st

log = logging.getLogger(__name__)

BIN_COMMANDS = ("snmove", "lsdef", "chdef", "nodels", "nodestat", "xdsh", "rpower", "updatenode",
                "makeconservercf", "regnotif", "unregnotif", "nodeset")
MN_IP = "192.168.0.1"

_SCRIPT = """#!{python}
import sys
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
                gateway: str, statelite: bool) -> dict[str, Any]:
    sns = list(sns)
    aix = os_name == "AIX"
    provmethod = "71Bdskls" if aix else "rhels7.9-ppc64le-netboot-compute"
    tables: dict[str, Any] = {
        "site": {"master": MN_IP, "mnname": "mn", "sharedinstall": "no", "domain": "cluster.com",
                 "sharedtftp": "1", "xcatdport": "3001", "xcatiport": "3002"},
        "nodelist": {}, "hosts": {}, "noderes": {}, "nodehm": {}, "nodetype": {}, "postscripts": {},
        "nimimage": {provmethod: {"nimtype": "diskless"}, "71Bsn": {"nimtype": "standalone"}},
        "networks": [{"netname": "mgmt", "net": "192.168.0.0", "mask": "255.255.255.0", "gateway": "",
                      "mgtifname": "en0" if aix else "eth0"}],
        "statelite": [], "notification": [],
    }
    tables["nodetype"]["compute"] = {"os": os_name, "provmethod": provmethod, "arch": "ppc64"}
    tables["postscripts"]["xcatdefaults"] = {"postscripts": "syslog,remoteshell,syncfiles", "postbootscripts": ""}
    machines: dict[str, Any] = {}
    ifname = "en" if aix else "eth"
    for k, sn in enumerate(sns, start=1):
        tables["nodelist"][sn] = {"groups": "service", "status": "", "appstatus": ""}
        tables["hosts"][sn] = {"ip": f"192.168.0.{10 + k}"}
        tables["nodetype"][sn] = {"os": os_name, "provmethod": "71Bsn" if aix else "rhels7.9-ppc64le-install-service"}
        m = st.new_machine()
        m["interfaces"].append({"name": f"{ifname}0", "ip": f"192.168.0.{10 + k}", "mask": "255.255.255.0"})
        m["routes"] = [MN_IP]
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
                 extnfs: str = "extnfs01", gateway: str = "<xcatmaster>", statelite: bool = True) -> Path:
    """Create (or overwrite) a simulated cluster in ``directory``; return the directory."""
    d = Path(directory).resolve()
    d.mkdir(parents=True, exist_ok=True)
    state = build_state(nodes=nodes, sns=sns, os_name=os, latency=latency, extnfs=extnfs, gateway=gateway,
                        statelite=statelite)
    (d / st.LOCK_FILE).touch()
    st.save_state(d, state)
    (d / st.LOG_FILE).write_text("")
    b = bin_dir(d)
    b.mkdir(exist_ok=True)
    parent = str(Path(__file__).resolve().parents[2])
    for name in BIN_COMMANDS:
        p = b / name
        p.write_text(_SCRIPT.format(python=sys.executable, parent=parent, name=name, state_dir=str(d)))
        p.chmod(0o755)
    log.info("simulated cluster with %d nodes and %d SNs in %s", nodes, len(list(sns)), d)
    return d


def _machine_update(directory: str | os.PathLike[str], name: str, **values: Any) -> None:
    with st.locked(directory, write=True) as state:
        if name not in state["machines"]:
            raise KeyError(f"no such node: {name}")
        state["machines"][name].update(values)


def fail_sn(directory: str | os.PathLike[str], sn: str) -> None:
    """The SN's OS (ssh, xcatd) goes down; its BMC still answers."""
    _machine_update(directory, sn, up=False)


def heal_sn(directory: str | os.PathLike[str], sn: str) -> None:
    _machine_update(directory, sn, up=True, power="on")


def set_node_up(directory: str | os.PathLike[str], node: str, up: bool) -> None:
    _machine_update(directory, node, up=bool(up), **({"power": "on"} if up else {}))


def set_latency(directory: str | os.PathLike[str], latency: float) -> None:
    with st.locked(directory, write=True) as state:
        state["latency"] = float(latency)


def load_state(directory: str | os.PathLike[str]) -> dict[str, Any]:
    return st.load_state(directory)


def commands_log(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return st.commands_log(directory)


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
