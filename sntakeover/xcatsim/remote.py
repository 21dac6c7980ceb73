"""Hierarchical dispatch, xdsh, and the node-side shell.

* :func:`dispatch` groups compute nodes by their ``servicenode`` value and
  tries each listed SN in order (xcatd on port 3001 = the SN is up). One
  destination that fails -> ``Unable to dispatch hierarchical sub-command``;
  several that all fail -> ``Failed to dispatch command to any of ...``.
  Nodes with an empty servicenode are handled by the MN directly.
* :func:`run_on` interprets the handful of commands that snmove and the
  daemon run on nodes against the simulated machine state; anything else is
  "not found" (exit 127).
* :func:`xdsh` is the xdsh command. Exit code = failed targets, ORed per
  dispatch group.
"""

from __future__ import annotations

import logging
import math
import shlex
import time
from typing import Any

from . import noderange
from . import state as st

log = logging.getLogger(__name__)

DISPATCH_FAIL = ("Unable to dispatch hierarchical sub-command to {sn}:3001.  Error: Connection failure: "
                 "IO::Socket::INET: connect: No route to host at /opt/xcat/lib/perl/xCAT/Client.pm line 248.\n. ")
NOT_RESPONDING = ("{node} is not responding, make sure it is a node object and is defined in xCATdb. "
                  "No command will be issued to this host.")
SSH_FAIL = "{node}: ssh: connect to host {node} port 22: No route to host"


def is_mn(state: dict[str, Any], name: str) -> bool:
    return name in ("", state["tables"]["site"].get("master", ""), state["tables"]["site"].get("mnname", ""))


def dispatch(ctx: Any, nodes: list[str]) -> list[list[str]]:
    """Return the groups of nodes whose request reached an SN (or the MN)."""
    state = ctx.state
    groups: dict[str, list[str]] = {}
    for n in nodes:
        groups.setdefault(st.get_attr(state, n, "noderes", "servicenode"), []).append(n)
    reached: list[list[str]] = []
    for snlist, members in groups.items():
        dests = [d for d in snlist.split(",") if d]
        if not dests or any(is_mn(state, d) for d in dests[:1]):
            reached.append(members)
            continue
        ok = False
        for d in dests:
            ctx.round_trip()
            if st.is_up(state, d):
                ok = True
                break
        if ok:
            reached.append(members)
        elif len(dests) == 1:
            ctx.error(DISPATCH_FAIL.format(sn=dests[0]), 1)
        else:
            ctx.error("Failed to dispatch command to any of the following service nodes: " + ",".join(dests), 1)
    return reached


def node_os(state: dict[str, Any], node: str) -> str:
    return st.get_attr(state, node, "nodetype", "os") or "Linux"


def _mask_bits(mask: str) -> int:
    return bin(st.ip_int(mask)).count("1") if st.is_ip(mask) else 24


def _aix_net(ip: str, mask: str) -> str:
    net = st.ip_int(ip) & st.ip_int(mask)
    parts = [str((net >> s) & 255) for s in (24, 16, 8, 0)]
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)


def _ifconfig(m: dict[str, Any]) -> list[str]:
    out = []
    for itf in m["interfaces"]:
        bc = st.ip_int(itf["ip"]) | (~st.ip_int(itf["mask"]) & 0xFFFFFFFF)
        bcs = ".".join(str((bc >> s) & 255) for s in (24, 16, 8, 0))
        out.append(f"{itf['name']}: flags=1e080863,480<UP,BROADCAST,NOTRAILERS,RUNNING,SIMPLEX,MULTICAST,GROUPRT,64BIT>")
        out.append(f"\tinet {itf['ip']} netmask 0x{st.ip_int(itf['mask']):08x} broadcast {bcs}")
        out.append("\t tcp_sendspace 262144 tcp_recvspace 262144 rfc1323 1")
    out.append("lo0: flags=e08084b,c0<UP,BROADCAST,LOOPBACK,RUNNING,SIMPLEX,MULTICAST,GROUPRT,64BIT,LARGESEND,CHAIN>")
    out.append("\tinet 127.0.0.1 netmask 0xff000000 broadcast 127.255.255.255")
    out.append("\tinet6 ::1%1/0")
    return out


def _ipaddr(m: dict[str, Any]) -> list[str]:
    out = ["1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000",
           "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
           "    inet 127.0.0.1/8 scope host lo",
           "       valid_lft forever preferred_lft forever"]
    for i, itf in enumerate(m["interfaces"], start=2):
        out.append(f"{i}: {itf['name']}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 1000")
        out.append(f"    inet {itf['ip']}/{_mask_bits(itf['mask'])} scope global {itf['name']}")
        out.append("       valid_lft forever preferred_lft forever")
    return out


def _netstat_rn(m: dict[str, Any], aix: bool) -> list[str]:
    if aix:
        out = ["Routing tables", "Destination        Gateway           Flags   Refs     Use  If   Exp  Groups", "",
               "Route Tree for Protocol Family 2 (Internet):"]
        dev = m["interfaces"][0]["name"] if m["interfaces"] else "en0"
        for gw in m["routes"]:
            out.append(f"{'default':<18} {gw:<17} UG        2    123456 {dev:<8} -      -")
        for itf in m["interfaces"]:
            out.append(f"{_aix_net(itf['ip'], itf['mask']):<18} {itf['ip']:<17} UHSb      0         0 {itf['name']:<8} -      -")
        out.append(f"{'127/8':<18} {'127.0.0.1':<17} U         9      4711 lo0      -      -")
        return out
    out = ["Kernel IP routing table", "Destination     Gateway         Genmask         Flags   MSS Window  irtt Iface"]
    dev = m["interfaces"][0]["name"] if m["interfaces"] else "eth0"
    for gw in m["routes"]:
        out.append(f"{'0.0.0.0':<15} {gw:<15} {'0.0.0.0':<15} UG        0 0          0 {dev}")
    return out


def _netstat_in(m: dict[str, Any]) -> list[str]:
    out = ["Name  Mtu   Network     Address            Ipkts Ierrs    Opkts Oerrs  Coll"]
    for i, itf in enumerate(m["interfaces"], start=2):
        out.append(f"{itf['name']:<5} 1500  link#{i:<6} 0.21.5e.a3.c7.{i:<6}  123456     0   654321     0     0")
        out.append(f"{itf['name']:<5} 1500  {_aix_net(itf['ip'], itf['mask']):<11} {itf['ip']:<18} 123456     0   654321     0     0")
    out.append("lo0   16896 127         127.0.0.1            4711     0     4711     0     0")
    return out


def run_on(state: dict[str, Any], node: str, cmd: str) -> tuple[int, list[str], list[str]]:
    """Run ``cmd`` on an up node; return (rc, stdout lines, stderr lines)."""
    m = st.machine(state, node)
    aix = node_os(state, node) == "AIX"
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    redirect = None
    clean: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in (">", ">>") and i + 1 < len(words):
            redirect = (w, words[i + 1])
            i += 2
            continue
        if w in ("2>&1", ">/dev/null", "2>/dev/null") or w.startswith("2>"):
            i += 1
            continue
        clean.append(w)
        i += 1
    if not clean:
        return 0, [], []
    prog = clean[0].rsplit("/", 1)[-1]
    args = clean[1:]
    out: list[str] = []
    if prog == "echo":
        text = " ".join(args)
        if redirect:
            old = m["files"].get(redirect[1], "") if redirect[0] == ">>" else ""
            m["files"][redirect[1]] = old + text + "\n"
            return 0, [], []
        return 0, [text], []
    if prog == "cat":
        for f in args:
            if f not in m["files"]:
                return 2, out, [f"cat: {f}: No such file or directory" if not aix else
                                f"cat: 0652-050 Cannot open {f}."]
            out.extend(m["files"][f].splitlines())
        return 0, out, []
    if prog == "date":
        return 0, [time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime())], []
    if prog == "hostname":
        return 0, [node], []
    if prog == "ifconfig" and args[:1] == ["-a"]:
        return 0, _ifconfig(m), []
    if prog == "ip" and args[:1] in (["addr"], ["a"], ["address"]):
        return 0, _ipaddr(m), []
    if prog == "netstat" and args[:1] == ["-rn"]:
        return 0, _netstat_rn(m, aix), []
    if prog == "netstat" and args[:1] == ["-in"]:
        return 0, _netstat_in(m), []
    if prog == "bootlist":
        if len(args) < 3 or args[0] != "-m" or "=" in args[2]:
            return 1, [], ["0514-219 bootlist: Invalid device name " + (args[2] if len(args) > 2 else "")]
        m["bootlist"] = " ".join(args[2:])
        return 0, [], []
    if prog == "route" and len(args) >= 3 and args[1] == "default":
        gw = args[-1]
        if args[0] == "add":
            if gw in m["routes"]:
                return 7, [], ["SIOCADDRT: File exists"] if not aix else ["0821-279 route: add net default: gateway "
                                                                        f"{gw}: File exists"]
            m["routes"].append(gw)
            return 0, ([f"add net default: gateway {gw}"] if aix else []), []
        if args[0] == "change":
            m["routes"] = [gw]
            return 0, [f"change net default: gateway {gw}"], []
    if prog == "lsxcatd" and "service" in st.node_groups(state, node):
        return 0, ["Version 2.9.2 (git commit 0000000, built Thu Nov  5 00:00:00 EST 2015)",
                   "This is a Service Node",
                   "dbengine=mysql", f"dbhost={state['tables']['site'].get('master', '')}"], []
    if prog == "rsync":
        dest = args[-1] if args else ""
        target = dest.split(":", 1)[0]
        if target and not st.is_up(state, target):
            return 12, [], [f"ssh: connect to host {target} port 22: No route to host",
                            "rsync: connection unexpectedly closed (0 bytes received so far) [sender]"]
        return 0, [], []
    if prog == "niminit":
        return 0, [], []
    if prog in ("true", ":"):
        return 0, [], []
    if prog == "false":
        return 1, [], []
    if aix:
        return 127, [], [f"ksh: {clean[0]}:  not found."]
    return 127, [], [f"bash: {clean[0]}: command not found"]


XDSH_USAGE = ["Usage:",
              "   xdsh [-h | --help | -v | --version | -q | --query]",
              "   xdsh <noderange> [-B bypass] [--devicetype type_of_device] [-c] [-e] [-E environment_file]",
              "        [-f fanout] [-l userid] [-m] [-o options] [-Q] [-r node_remote_shell] [-s] [-S ksh | csh]",
              "        [-t timeout] [-T] [-v] [-X env_list] [-z] [--sudo] <command_list>"]


def xdsh(ctx: Any, args: list[str]) -> None:
    verify = stream = False
    nr = None
    cmd_words: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if cmd_words:
            cmd_words.append(a)
        elif a in ("-v", "--verify"):
            verify = True
        elif a in ("-s", "--stream"):
            stream = True
        elif a in ("-z", "--exit-status", "-e", "-Q", "-T", "-c", "-m"):
            pass
        elif a in ("-t", "--timeout", "-l", "--user", "-f", "--fanout", "-o", "-S"):
            i += 1
        elif a.startswith("-") and nr is None and len(a) > 1:
            ctx.data(f"Unknown option: {a.lstrip('-')}")
            for line in XDSH_USAGE:
                ctx.data(line)
            ctx.rc |= 1
            return
        elif nr is None:
            nr = a
        else:
            cmd_words.append(a)
        i += 1
    if nr is None or not cmd_words:
        for line in XDSH_USAGE:
            ctx.data(line)
        ctx.rc |= 1
        return
    command = " ".join(cmd_words)
    nodes, missing = noderange.expand(ctx.state, nr)
    if missing:
        ctx.error("Invalid nodes and/or groups in noderange: " + ",".join(missing), 1)
        return
    fanout = int(ctx.state.get("fanout", 64) or 64)
    for group in dispatch(ctx, nodes):
        ctx.round_trip(math.ceil(len(group) / fanout))
        failed = 0
        for n in sorted(group, key=noderange.natural_key):
            if not st.is_up(ctx.state, n):
                failed += 1
                if verify:
                    ctx.error(NOT_RESPONDING.format(node=n), 1)
                    continue
                ctx.stderr(SSH_FAIL.format(node=n))
                if stream:
                    ctx.error(f"{n} remote shell had error code: 255", 1)
                continue
            rc, out, err = run_on(ctx.state, n, command)
            if stream:
                # DSHCore::pipe_handler: one response per read of a node's pipe,
                # its lines labelled and joined by "\n" (callers that join the
                # responses, like InstUtils->xcmd, see this grouping)
                if out:
                    ctx.data("\n".join(f"{n}: {line}" for line in out))
                if err:
                    ctx.stderr("\n".join(f"{n}: {line}" for line in err))
            else:
                for line in out:
                    ctx.data(f"{n}: {line}")
                for line in err:
                    ctx.stderr(f"{n}: {line}")
            if rc != 0:
                failed += 1
        ctx.rc |= failed
