"""Probe ``xcatd``: a TCP connect to the SN's xcatd port, from the daemon's host.

Hierarchical dispatch reaches an SN on this port (xcat.md §1), so a refused or
unanswered connect is direct evidence that the SN cannot serve its nodes. The
SN's address is found as xCAT finds it: the ``hosts`` table first (``nodels
<sn> hosts.ip``), then ``/etc/hosts``, and only then the system resolver. A
name that resolves nowhere is "cannot tell".
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from pathlib import Path

from sntakeover import hookimpl
from sntakeover.model import ProbeResult
from sntakeover.xcatout import parse_node_lines

log = logging.getLogger(__name__)

NAME = "xcatd"
ETC_HOSTS = Path("/etc/hosts")
DOWN_ERRNOS = (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.EHOSTDOWN)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def from_hosts_table(ctx, name: str) -> str | None:
    res = ctx.xcat("nodels", name, "hosts.ip", timeout=ctx.config.get("confirm", "probe_timeout"))
    if res.rc != 0 or res.timed_out:
        return None
    value = (parse_node_lines(res.stdout).get(name) or [""])[0].strip()
    return value if _is_ip(value) else None


def from_etc_hosts(name: str, path: Path = ETC_HOSTS) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and _is_ip(words[0]) and name in words[1:]:
            return words[0]
    return None


def resolve(ctx, name: str) -> tuple[str | None, str]:
    """(address, where it came from); the address is None when nothing knows the name."""
    if _is_ip(name):
        return name, "literal"
    for where, look in (("xCAT hosts table", lambda: from_hosts_table(ctx, name)),
                        ("/etc/hosts", lambda: from_etc_hosts(name))):
        addr = look()
        if addr:
            return addr, where
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, OSError) as exc:
        return None, f"not in the hosts table, /etc/hosts or the resolver ({getattr(exc, 'strerror', exc)})"
    return str(infos[0][4][0]), "resolver"


def connect(addr: str, port: int, timeout: float) -> tuple[bool | None, str]:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        except socket.timeout:
            return True, f"connect to {addr}:{port} timed out after {timeout:g} s"
        except OSError as exc:
            if exc.errno in DOWN_ERRNOS:
                return True, f"{addr}:{port}: {exc.strerror}"
            return None, f"cannot tell: {addr}:{port}: {exc}"
    return False, f"{addr}:{port} accepts connections"


@hookimpl
def sntakeover_probe(servicenode, ctx):
    addr, where = resolve(ctx, servicenode)
    if addr is None:
        return ProbeResult(NAME, None, f"cannot tell: {servicenode} {where}")
    down, detail = connect(addr, ctx.config.get("confirm", "tcp_port"), ctx.config.get("confirm", "tcp_timeout"))
    return ProbeResult(NAME, down, detail)


@hookimpl
def sntakeover_required_commands(config):
    return ["nodels"] if config.get("confirm", "enabled") or config.get("backup", "check") else []
