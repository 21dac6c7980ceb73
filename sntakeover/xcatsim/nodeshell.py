"""The node-side shell: the handful of commands snmove and the daemon run on
nodes through xdsh, interpreted against a simulated host (``machine``).
Anything else is "not found" (exit 127)."""

from __future__ import annotations

import logging
import shlex
import time
from typing import Any

from . import state as st

log = logging.getLogger(__name__)


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


def mutates(cmd: str) -> bool:
    """Whether ``cmd`` may change the node (then it runs inside a write transaction)."""
    words = cmd.split()
    progs = {w.rsplit("/", 1)[-1] for w in words}
    return bool(progs & {"bootlist", "route"}) or any(w.startswith(">") and not w.startswith(">/dev/null")
                                                      for w in words)


def run_on(db: Any, node: str, m: dict[str, Any], aix: bool, cmd: str) -> tuple[int, list[str], list[str]]:
    """Run ``cmd`` on the up node whose host is ``m`` (changed in place); return (rc, stdout, stderr)."""
    if any(ch in cmd for ch in "\"'\\"):
        try:
            words = shlex.split(cmd)
        except ValueError:
            words = cmd.split()
    else:
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
    if prog == "lsxcatd" and db.in_group(node, "service"):
        return 0, [st.XCAT_VERSION,
                   "This is a Service Node",
                   "dbengine=mysql", f"dbhost={db.site('master')}"], []
    if prog == "rsync":
        dest = args[-1] if args else ""
        target = dest.split(":", 1)[0] if ":" in dest else ""  # no host: a local copy
        if target and not db.is_up(target):
            return 12, [], [f"ssh: connect to host {target} port 22: No route to host",
                            "rsync: connection unexpectedly closed (0 bytes received so far) [sender]"]
        return 0, [], []
    if prog == "ping":
        return _ping(db, args)
    if prog == "niminit":
        return 0, [], []
    if prog in ("true", ":"):
        return 0, [], []
    if prog == "false":
        return 1, [], []
    if aix:
        return 127, [], [f"ksh: {clean[0]}:  not found."]
    return 127, [], [f"bash: {clean[0]}: command not found"]


def _ping(db: Any, args: list[str]) -> tuple[int, list[str], list[str]]:
    """``ping [-c N] [-w S] [-W S] host``: one echo to a simulated host, by name (as /etc/hosts on a node)."""
    target, i = "", 0
    while i < len(args):
        if args[i] in ("-c", "-w", "-W", "-i", "-s"):
            i += 2
            continue
        if not args[i].startswith("-"):
            target = args[i]
        i += 1
    if not target or not db.is_node(target):
        return 2, [], [f"ping: {target or 'usage error'}: Name or service not known"]
    ip = db.resolve(target) or target
    head = f"PING {target} ({ip}) 56(84) bytes of data."
    if db.is_up(target):
        return 0, [head, f"64 bytes from {target} ({ip}): icmp_seq=1 ttl=255 time=0.105 ms", "",
                   f"--- {target} ping statistics ---",
                   "1 packets transmitted, 1 received, 0% packet loss, time 0ms"], []
    return 1, [head, "", f"--- {target} ping statistics ---",
               "1 packets transmitted, 0 received, 100% packet loss, time 0ms"], []
