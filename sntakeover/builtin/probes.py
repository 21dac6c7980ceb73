"""Built-in confirmation probes, each an independent view of the failed SN.

* ``nodestat``: ``nodestat <sn>`` from the MN; ``noping`` means down.
* ``xdsh``: ``xdsh <sn> date`` over the MN's ssh; a failure means down.
* ``xcatd``: TCP connect to the SN's xcatd port (``confirm.tcp_port``) from the
  daemon's host; refused or timed out means down; a name that does not
  resolve here means "cannot tell".
"""

from __future__ import annotations

import errno
import logging
import socket

from sntakeover import hookimpl
from sntakeover.errors import Retry
from sntakeover.model import ProbeResult
from sntakeover.xcatout import parse_node_lines

log = logging.getLogger(__name__)


@hookimpl
def sntakeover_probe(incident, ctx):
    sn = incident.servicenode
    out = []
    res = ctx.xcat("nodestat", sn, timeout=60)
    state = (parse_node_lines(res.stdout).get(sn) or [""])[0]
    if res.timed_out:
        out.append(ProbeResult("nodestat", None, "timed out"))
    elif state.startswith("noping"):
        out.append(ProbeResult("nodestat", True, state))
    elif state:
        out.append(ProbeResult("nodestat", False, state))
    else:
        out.append(ProbeResult("nodestat", None, (res.stderr.strip() or f"rc={res.rc}")[:200]))

    res = ctx.xcat("xdsh", sn, "-t", "10", "date", timeout=60)
    if res.timed_out:
        out.append(ProbeResult("xdsh", True, "timed out"))
    else:
        answered = parse_node_lines(res.stdout).get(sn)
        if res.rc == 0 and answered:
            out.append(ProbeResult("xdsh", False, "answered"))
        else:
            out.append(ProbeResult("xdsh", True, (res.stderr.strip().splitlines() or [f"rc={res.rc}"])[-1][:200]))

    out.append(tcp_probe(sn, ctx.config.get("confirm", "tcp_port"), ctx.config.get("confirm", "tcp_timeout")))
    return out


def tcp_probe(host: str, port: int, timeout: float) -> ProbeResult:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return ProbeResult("xcatd", None, f"{host} does not resolve here: {exc.strerror}")
    except OSError as exc:
        raise Retry(f"resolver error for {host}: {exc}") from exc
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.settimeout(timeout)
        try:
            s.connect(addr)
        except socket.timeout:
            return ProbeResult("xcatd", True, f"connect to {host}:{port} timed out")
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
                return ProbeResult("xcatd", True, f"{host}:{port}: {exc.strerror}")
            return ProbeResult("xcatd", None, f"{host}:{port}: {exc}")
    return ProbeResult("xcatd", False, f"{host}:{port} accepts connections")


@hookimpl
def sntakeover_required_commands(config):
    return ["nodestat", "xdsh"] if config.get("confirm", "enabled") else []
