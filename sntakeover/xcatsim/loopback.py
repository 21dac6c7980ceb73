"""Loopback addresses of a simulated cluster and the lifetime of its listener agent.

Each cluster gets its own 127.A.B.0/24 (A.B derived from the cluster directory):
the MN is 127.A.B.1, SN number K is 127.A.B.(10+K). The /24 is taken by
binding the MN's xcatd address (127.A.B.1:3001); when another live cluster
holds it, the next candidate is tried. That socket is handed to the agent
(:mod:`agent`), which keeps it for the cluster's life, so two clusters -- in
one test, in two tests running at once, or in two checkouts -- never share
addresses.

Agents started here are tied to this process (they exit when it ends) unless
started detached (``sntakeover sim init``), and :func:`stop_all` stops every
agent this process started (the test suite calls it after each test).
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import agent
from .state import StateError

log = logging.getLogger(__name__)

XCATD_PORT = 3001
_BOOT = "import sys; sys.path.insert(0, {parent!r}); from sntakeover.xcatsim.agent import main; sys.exit(main())"
# agents this process started: directory -> (process, write end of the pipe tying it to us or -1 if detached)
_STARTED: dict[str, tuple[subprocess.Popen, int]] = {}


def _candidates(directory: Path) -> list[str]:
    seed = int.from_bytes(hashlib.sha256(os.fsencode(directory)).digest()[:4], "big")
    space = 223 * 256  # 127.32.0.0 .. 127.254.255.0
    return [f"127.{32 + v // 256}.{v % 256}" for v in ((seed + i * 7919) % space for i in range(64))]


def default_prefix(directory: Path) -> str:
    """The cluster's /24 when no listener reserves one."""
    return _candidates(directory)[0]


def reserve(directory: Path, port: int = XCATD_PORT) -> tuple[str, socket.socket]:
    """Bind and listen on <prefix>.1:port for the first free candidate /24; return (prefix, socket)."""
    last: OSError | None = None
    for prefix in _candidates(directory):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((f"{prefix}.1", port))
            s.listen(64)
        except OSError as e:
            s.close()
            if e.errno != errno.EADDRINUSE:
                raise StateError(f"cannot listen on {prefix}.1:{port}: {e.strerror}") from e
            last = e
            continue
        return prefix, s
    raise StateError(f"no free loopback /24 for the simulated MN's xcatd port {port}: {last}")


def start(directory: Path, mn_sock: socket.socket, *, detach: bool = False) -> None:
    """Start the cluster's agent with the reserved MN socket; return once its listeners are open."""
    parent = str(Path(__file__).resolve().parents[2])
    ready_r, ready_w = os.pipe()
    fds = [ready_w, mn_sock.fileno()]
    argv = [sys.executable, "-c", _BOOT.format(parent=parent), str(directory),
            "--mn-fd", str(mn_sock.fileno()), "--ready-fd", str(ready_w)]
    keep_r = keep_w = -1
    if not detach:
        keep_r, keep_w = os.pipe()
        fds.append(keep_r)
        argv += ["--parent-fd", str(keep_r)]
    with open(directory / agent.LOGNAME, "ab") as logf:
        proc = subprocess.Popen(argv, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=detach)
    os.close(ready_w)
    if keep_r >= 0:
        os.close(keep_r)
    try:
        reply = _read_reply(ready_r, proc)
    finally:
        os.close(ready_r)
    if not reply.get("ok"):
        proc.wait(10)
        if keep_w >= 0:
            os.close(keep_w)
        raise StateError("; ".join(reply.get("errors") or ["the listener agent did not start"]))
    _STARTED[str(directory)] = (proc, keep_w)
    log.info("listener agent %d for %s: %s", proc.pid, directory, ", ".join(reply.get("listening", [])))


def _read_reply(fd: int, proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            proc.kill()
            return {"ok": False, "errors": ["the listener agent did not answer"]}
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    try:
        return json.loads(data)
    except ValueError:
        return {"ok": False, "errors": [f"the listener agent exited ({proc.wait()})"]}


def stop(directory: str | os.PathLike[str]) -> bool:
    """Stop the cluster's agent (every listener closes); True if one was running. Waits for it to exit."""
    d = str(Path(directory).resolve())
    reply = agent.request(d, "stop")
    entry = _STARTED.pop(d, None)
    if entry is not None:
        proc, keep_w = entry
        if keep_w >= 0:
            os.close(keep_w)  # an agent that did not get the request ends on this
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return True
    if reply is None:
        return False
    _wait_gone(int(reply.get("stopped") or 0))
    return True


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pid:
        try:
            os.kill(pid, 0 if time.monotonic() < deadline else signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def stop_all(*, detached: bool = True) -> None:
    """Stop every agent this process started (also the detached ones unless ``detached`` is false)."""
    for d, (_, keep_w) in list(_STARTED.items()):
        if detached or keep_w >= 0:
            stop(d)


atexit.register(stop_all, detached=False)
