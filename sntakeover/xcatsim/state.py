"""Persistent state of one simulated xCAT cluster.

A cluster lives in a directory ``D``:

* ``D/cluster.json`` -- the whole state (format below);
* ``D/cluster.lock`` -- ``fcntl.flock`` target. Commands that change anything
  hold an exclusive lock for their whole read-modify-write; readers hold a
  shared lock;
* ``D/commands.log`` -- one JSON object per line for every command run
  (``{"argv": [...], "rc": N, "t": <epoch>, "via": <parent or null>}``);
* ``D/bin/`` -- the generated xCAT command executables.

``cluster.json``::

    {
      "version": 1,
      "latency": 0.0,                # seconds slept per simulated round trip
      "fanout": 64,                  # parallel targets per xdsh round trip
      "tables": {
        "site":      {"master": "192.168.0.1", "sharedinstall": "no", ...},
        "nodelist":  {"cn1": {"groups": "compute,all", "status": "", "appstatus": "", ...}},
        "hosts":     {"cn1": {"ip": "10.1.1.1"}},          # name resolution
        "noderes":   {"cn1": {"servicenode": "sn1,sn2", "xcatmaster": "10.1.0.1",
                              "tftpserver": ..., "nfsserver": ..., "monserver": ...},
                      "compute": {...}},                    # group rows allowed
        "nodehm":    {"cn1": {"conserver": "sn1", "mgt": "hmc"}},
        "nodetype":  {"cn1": {"os": "AIX", "provmethod": "71Bdskls", "arch": "ppc64"}},
        "postscripts": {"xcatdefaults": {"postscripts": "syslog,remoteshell,syncfiles",
                                         "postbootscripts": ""}, "cn1": {...}},
        "nimimage":  {"71Bdskls": {"nimtype": "diskless"}},
        "networks":  [{"netname": "net1", "net": "10.1.0.0", "mask": "255.255.0.0",
                       "gateway": "<xcatmaster>", "mgtifname": "en1"}],
        "statelite": [{"node": "compute", "image": "", "statemnt": "extnfs01:/nodedata"}],
        "notification": [{"filename": "/path/cmd", "tables": "noderes",
                          "tableops": "a,d,u", "comments": "", "disable": ""}]
      },
      "machines": {                  # what is true on the (simulated) hosts
        "sn1": {"up": true, "power": "on", "bmc": true,
                "interfaces": [{"name": "en0", "ip": "192.168.0.11",
                                "mask": "255.255.255.0"}, ...],
                "files": {"/etc/xcatinfo": "..."}, "routes": ["192.168.0.1"],
                "bootlist": "", "postscripts_run": [], "nodeset": ""},
        "cn1": {...same keys...}
      }
    }

Rows in the per-node tables (noderes, nodehm, nodetype, postscripts, nodelist)
are keyed by node *or group* name. A node's value for an attribute is its own
row's non-empty value, else the first group (in ``nodelist.groups`` order)
whose row has a non-empty value -- like xCAT. Writes from chdef/snmove always
go to the node's own row. ``routes`` is the list of default-route gateways.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

STATE_FILE = "cluster.json"
LOCK_FILE = "cluster.lock"
LOG_FILE = "commands.log"

# table -> columns, for lsdef/nodels/notification (key column first)
NODE_TABLES: dict[str, list[str]] = {
    "nodelist": ["node", "groups", "status", "statustime", "appstatus", "appstatustime", "primarysn", "hidden",
                 "updatestatus", "updatestatustime", "zonename", "comments", "disable"],
    "noderes": ["node", "servicenode", "netboot", "tftpserver", "tftpdir", "nfsserver", "monserver", "nfsdir",
                "installnic", "primarynic", "discoverynics", "cmdinterface", "xcatmaster", "current_osimage",
                "next_osimage", "nimserver", "routenames", "nameservers", "proxydhcp", "syslog", "comments",
                "disable"],
    "nodehm": ["node", "power", "mgt", "cons", "termserver", "termport", "conserver", "serialport", "serialspeed",
               "serialflow", "getmac", "cmdmapping", "consoleondemand", "consoleenabled", "comments", "disable"],
    "nodetype": ["node", "os", "arch", "profile", "provmethod", "supportedarchs", "nodetype", "comments", "disable"],
    "postscripts": ["node", "postscripts", "postbootscripts", "comments", "disable"],
    "hosts": ["node", "ip", "hostnames", "otherinterfaces", "comments", "disable"],
}

# lsdef attribute name -> (table, column)
NODE_ATTRS: dict[str, tuple[str, str]] = {}
for _t, _cols in NODE_TABLES.items():
    for _c in _cols[1:]:
        if _c in ("comments", "disable", "node"):
            continue
        NODE_ATTRS.setdefault(_c, (_t, _c))
NODE_ATTRS["os"] = ("nodetype", "os")
NODE_ATTRS["ip"] = ("hosts", "ip")
NODE_ATTRS["groups"] = ("nodelist", "groups")


class StateError(Exception):
    pass


def state_path(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / STATE_FILE


@contextmanager
def locked(directory: str | os.PathLike[str], *, write: bool) -> Iterator[dict[str, Any]]:
    """Yield the state under a flock; write it back on success if ``write``."""
    d = Path(directory)
    if not state_path(d).exists():
        raise StateError(f"no simulated cluster in {d}")
    with open(d / LOCK_FILE, "a+") as lf:
        fcntl.flock(lf.fileno(), fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            state = json.loads(state_path(d).read_text())
            yield state
            if write:
                save_state(d, state)
        finally:
            fcntl.flock(lf.fileno(), fcntl.LOCK_UN)


def save_state(directory: str | os.PathLike[str], state: dict[str, Any]) -> None:
    d = Path(directory)
    tmp = d / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, state_path(d))


def load_state(directory: str | os.PathLike[str]) -> dict[str, Any]:
    with locked(directory, write=False) as st:
        return st


def append_log(directory: str | os.PathLike[str], argv: list[str], rc: int, via: str | None = None) -> None:
    rec = {"argv": list(argv), "rc": rc, "t": time.time(), "via": via}
    with open(Path(directory) / LOG_FILE, "a") as f:
        f.write(json.dumps(rec) + "\n")


def commands_log(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    p = Path(directory) / LOG_FILE
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- attributes

def all_nodes(state: dict[str, Any]) -> list[str]:
    return sorted(state["tables"]["nodelist"])


def node_groups(state: dict[str, Any], node: str) -> list[str]:
    g = state["tables"]["nodelist"].get(node, {}).get("groups", "")
    return [x for x in g.split(",") if x]


def all_groups(state: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for n in state["tables"]["nodelist"]:
        out.update(node_groups(state, n))
    return out


def get_attr(state: dict[str, Any], node: str, table: str, col: str, *, with_origin: bool = False) -> Any:
    """The node's value: own row first, else the first group row that has one."""
    rows = state["tables"].get(table, {})
    v = rows.get(node, {}).get(col, "")
    if v:
        return (v, None) if with_origin else v
    if table != "nodelist":
        for g in node_groups(state, node):
            gv = rows.get(g, {}).get(col, "")
            if gv:
                return (gv, g) if with_origin else gv
    return ("", None) if with_origin else ""


def node_attr(state: dict[str, Any], node: str, attr: str) -> str:
    t, c = NODE_ATTRS[attr]
    return get_attr(state, node, t, c)


def set_node_attrs(state: dict[str, Any], node: str, table: str, values: dict[str, str],
                   changes: list[tuple[str, str, str, dict, dict]] | None = None) -> None:
    """Write a node-level row; record ('u'|'a', table, key, old_row, new_values) in ``changes``."""
    rows = state["tables"].setdefault(table, {})
    existed = node in rows
    old = dict(rows.get(node, {}))
    row = rows.setdefault(node, {})
    changed = {k: v for k, v in values.items() if row.get(k, "") != v or not existed}
    row.update(values)
    if changes is not None and (changed or not existed):
        changes.append(("u" if existed else "a", table, node, old, dict(values)))


def resolve(state: dict[str, Any], name: str) -> str:
    """getipaddr: an IP stays as is; a name is looked up in hosts / SN interfaces."""
    if is_ip(name):
        return name
    h = state["tables"]["hosts"].get(name, {}).get("ip", "")
    if h:
        return h
    if name == state["tables"]["site"].get("master"):
        return name
    return ""


def is_ip(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(p.isdigit() and 0 <= int(p) < 256 for p in parts)


def ip_int(ip: str) -> int:
    a, b, c, d = (int(x) for x in ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def in_subnet(ip: str, mask: str, net: str) -> bool:
    if not (is_ip(ip) and is_ip(mask) and is_ip(net)):
        return False
    return (ip_int(ip) & ip_int(mask)) == (ip_int(net) & ip_int(mask))


def node_network(state: dict[str, Any], node: str) -> dict[str, str] | None:
    """The LAST networks row containing the node's IP (xCAT's getNetwkInfo)."""
    ip = resolve(state, node)
    found = None
    for row in state["tables"]["networks"]:
        if in_subnet(ip, row.get("mask", ""), row.get("net", "")):
            found = row
    return found


def machine(state: dict[str, Any], name: str) -> dict[str, Any]:
    return state["machines"].setdefault(name, new_machine())


def new_machine(up: bool = True) -> dict[str, Any]:
    return {"up": up, "power": "on" if up else "off", "bmc": True, "interfaces": [], "files": {},
            "routes": [], "bootlist": "", "postscripts_run": [], "nodeset": ""}


def is_up(state: dict[str, Any], name: str) -> bool:
    m = state["machines"].get(name)
    return bool(m and m.get("up") and m.get("power") == "on")
