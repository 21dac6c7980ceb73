"""xCAT's helpers for sub-requests from a plugin: ``InstUtils->xcmd`` and ``Utils->runxcmd``."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def xcmd(ctx: Any, target: str, cmd: str) -> tuple[int, str]:
    """InstUtils->xcmd: xdsh -s to one target, output as one string.

    The responses are joined with '' (runxcmd in string mode), so the lines of
    separate responses run together, e.g. ``sn1: ssh: connect to host sn1 port
    22: No route to hostsn1 remote shell had error code: 255``."""
    ctx.flags["callback"] = True
    if ctx.flags.get("verbose"):
        ctx.data("Running internal xCAT command: xdsh ... \n")
    child = ctx.sub("xdsh", [target, "-s", cmd])
    return child.rc, "".join(child.relay_texts())


def runxcmd(ctx: Any, name: str, nodes: list[str], args: list[str], exitcode: int) -> Any:
    """Utils->runxcmd with refoutput=1; the 'Command failed' text needs $::CALLBACK."""
    cb = ctx.flags.get("callback")
    if ctx.flags.get("verbose") and cb:
        ctx.data(f"Running internal xCAT command: {name} ... \n")
    child = ctx.sub(name, [",".join(nodes), *args] if nodes else list(args))
    if child.rc and exitcode == 0 and cb:
        errmsg = "".join(child.relay_texts()).rstrip("\n")
        ctx.E(f"Command failed: {name}. Error message: {errmsg}.\n")
    return child
