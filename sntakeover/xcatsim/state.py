"""Table layout of a simulated xCAT cluster, and helpers on its dict form.

A cluster lives in a directory ``D`` (see :mod:`db` for the store itself):

* ``D/cluster.db`` -- the tables and the simulated hosts, in SQLite;
* ``D/commands.log`` -- one JSON object per line for every command run
  (``{"argv": [...], "rc": N, "t": <epoch>, "via": <parent or null>}``);
* ``D/bin/`` -- the generated xCAT command executables;
* ``D/agent.sock``, ``D/agent.pid``, ``D/agent.log`` -- the listener agent
  (see :mod:`agent`), while it runs.

:func:`cluster.load_state` returns the whole cluster as one dict, the form
the helpers below work on::

    {
      "version": 1,
      "latency": 0.0,                # seconds per simulated round trip
      "fanout": 64,                  # parallel targets per xdsh round trip
      "tables": {
        "site":      {"master": "127.A.B.1", "sharedinstall": "no", ...},
        "nodelist":  {"cn1": {"groups": "compute,pair1", "status": "", ...}},
        "hosts":     {"cn1": {"ip": "10.1.1.1"}},          # name resolution
        "noderes":   {"cn1": {"servicenode": "sn1,sn2", "xcatmaster": "10.1.0.1", ...},
                      "compute": {...}},                    # group rows allowed
        "nodehm", "nodetype", "postscripts": keyed like noderes,
        "nimimage":  {"71Bdskls": {"nimtype": "diskless"}},
        "networks":  [{"netname": "net1", "net": "10.1.0.0", "mask": "255.255.0.0",
                       "gateway": "<xcatmaster>", "mgtifname": "en1"}],
        "statelite": [{"node": "compute", "image": "", "statemnt": "extnfs01:/nodedata"}],
        "notification": [{"filename": "/path/cmd", "tables": "noderes", "tableops": "a,d,u"}]
      },
      "machines": {                  # what is true on the (simulated) hosts
        "sn1": {"up": true, "power": "on", "bmc": true,
                "interfaces": [{"name": "en0", "ip": "127.A.B.11", "mask": "255.255.255.0"}, ...],
                "files": {"/etc/xcatinfo": "..."}, "routes": ["127.A.B.1"],
                "bootlist": "", "postscripts_run": [], "nodeset": ""},
        "cn1": {...same keys...}
      }
    }

Rows hold only the columns that were set (a column set to "" is kept as "").
Rows in the per-node tables are keyed by node *or group* name. A node's value
for an attribute is its own row's non-empty value, else the first group (in
``nodelist.groups`` order) whose row has a non-empty value -- like xCAT.
Writes from chdef/snmove always go to the node's own row. ``routes`` is the
list of default-route gateways.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

# xCAT's column order (perl-xCAT/xCAT/Schema.pm); the first column is the key
TABLES: dict[str, list[str]] = {
    "site": ["key", "value", "comments", "disable"],
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
    "networks": ["netname", "net", "mask", "mgtifname", "gateway", "dhcpserver", "tftpserver", "nameservers",
                 "ntpservers", "logservers", "dynamicrange", "staticrange", "staticrangeincrement", "nodehostname",
                 "ddnsdomain", "vlanid", "domain", "mtu", "comments", "disable"],
    "statelite": ["node", "image", "statemnt", "mntopts", "comments", "disable"],
    "nimimage": ["imagename", "nimtype", "lpp_source", "spot", "root", "dump", "paging", "resolv_conf", "tmp", "home",
                 "shared_home", "res_group", "nimmethod", "script", "bosinst_data", "installp_bundle", "mksysb",
                 "fb_script", "shared_root", "otherpkgs", "image_data", "configdump", "comments", "disable"],
    "notification": ["filename", "tables", "tableops", "comments", "disable"],
}
# tables whose rows are keyed by node or group name
NODE_TABLES: dict[str, list[str]] = {t: TABLES[t] for t in
                                     ("nodelist", "noderes", "nodehm", "nodetype", "postscripts", "hosts")}
# tables kept as lists of rows in the dict form (rowid order)
LIST_TABLES = ("networks", "statelite", "notification")

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

XCAT_VERSION = "Version 2.9.2 (git commit 0000000, built Thu Nov  5 00:00:00 EST 2015)"
MACHINE_KEYS = ("up", "power", "bmc", "interfaces", "files", "routes", "bootlist", "postscripts_run", "nodeset")


class StateError(Exception):
    pass


def split_groups(groups: str | None) -> list[str]:
    return [x for x in (groups or "").split(",") if x]


def inherited(table: str, col: str, own: dict[str, Any] | None, groups: list[str],
              rows: dict[str, dict[str, Any]]) -> tuple[str, str | None]:
    """xCAT's getNodeAttribs: (value, group it came from or None)."""
    v = (own or {}).get(col) or ""
    if v or table == "nodelist":
        return v, None
    for g in groups:
        gv = (rows.get(g) or {}).get(col) or ""
        if gv:
            return gv, g
    return "", None


# ------------------------------------------------------- the dict form

def all_nodes(state: dict[str, Any]) -> list[str]:
    return sorted(state["tables"]["nodelist"])


def node_groups(state: dict[str, Any], node: str) -> list[str]:
    return split_groups(state["tables"]["nodelist"].get(node, {}).get("groups", ""))


def all_groups(state: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for n in state["tables"]["nodelist"]:
        out.update(node_groups(state, n))
    return out


def get_attr(state: dict[str, Any], node: str, table: str, col: str, *, with_origin: bool = False) -> Any:
    """The node's value: own row first, else the first group row that has one."""
    rows = state["tables"].get(table, {})
    v, origin = inherited(table, col, rows.get(node), node_groups(state, node), rows)
    return (v, origin) if with_origin else v


def node_attr(state: dict[str, Any], node: str, attr: str) -> str:
    t, c = NODE_ATTRS[attr]
    return get_attr(state, node, t, c)


def is_up(state: dict[str, Any], name: str) -> bool:
    return machine_up(state["machines"].get(name))


def machine_up(m: dict[str, Any] | None) -> bool:
    return bool(m and m.get("up") and m.get("power") == "on")


def mn_reaches(m: dict[str, Any] | None) -> bool:
    """Up, and not cut off from the MN (``partitioned``: an SN that runs, and serves its nodes,
    but that the MN's network cannot reach; its BMC still answers)."""
    return machine_up(m) and not (m or {}).get("partitioned")


def new_machine(up: bool = True) -> dict[str, Any]:
    return {"up": up, "power": "on" if up else "off", "bmc": True, "interfaces": [], "files": {},
            "routes": [], "bootlist": "", "postscripts_run": [], "nodeset": ""}


# ------------------------------------------------------- addresses

@lru_cache(maxsize=65536)
def is_ip(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(p.isdigit() and 0 <= int(p) < 256 for p in parts)


@lru_cache(maxsize=65536)
def ip_int(ip: str) -> int:
    a, b, c, d = (int(x) for x in ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def int_ip(v: int) -> str:
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


def in_subnet(ip: str, mask: str, net: str) -> bool:
    if not (is_ip(ip) and is_ip(mask) and is_ip(net)):
        return False
    return (ip_int(ip) & ip_int(mask)) == (ip_int(net) & ip_int(mask))


def is_loopback(ip: str) -> bool:
    return is_ip(ip) and ip.split(".")[0] == "127"
