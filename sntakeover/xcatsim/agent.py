"""The listener agent: real TCP listeners for the simulated service nodes.

Each SN has an MN-facing address on loopback (``hosts.ip``, in the cluster's
own 127.A.B.0/24) and, while it is up (``up`` and powered on), a real TCP
listener on ``<that address>:<site.xcatdport>`` that accepts and closes every
connection -- enough for a probe that only connects (xcatd speaks SSL). The
MN's own xcatd address (``site.master``, 127.A.B.1) listens as long as the
cluster lives; holding it reserves the /24 for this cluster.

The agent is one small process per cluster, started by
:func:`cluster.init_cluster` and controlled through a unix socket in the
cluster directory (``agent.sock``): one JSON line per request, one per reply.

* ``{"op": "sync"}`` -- open and close listeners to match the store; the
  reply comes after the sockets are open or closed, so a caller that waited
  for it sees connects refused (or accepted) at once;
* ``{"op": "stop"}`` -- close everything and exit;
* ``{"op": "ping"}``.

It also exits when the process that started it ends (a pipe it watches reaches
end of file) or when the cluster's store is removed, so nothing outlives a
test or a demo. Only loopback addresses are ever bound.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import selectors
import socket
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

SOCK = "agent.sock"
PID = "agent.pid"
LOGNAME = "agent.log"
_SUN_PATH_MAX = 100


@contextmanager
def sock_path(directory: str | os.PathLike[str]) -> Iterator[str]:
    """The control socket's path, short enough for AF_UNIX (through /proc/self/fd when the directory's is not)."""
    p = os.path.join(os.fspath(directory), SOCK)
    if len(p.encode()) <= _SUN_PATH_MAX:
        yield p
        return
    fd = os.open(os.fspath(directory), os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{SOCK}"
    finally:
        os.close(fd)


def request(directory: str | os.PathLike[str], op: str, timeout: float = 30.0) -> dict[str, Any] | None:
    """Send one request to the cluster's agent; None when no agent runs there."""
    if not os.path.exists(os.path.join(os.fspath(directory), SOCK)):
        return None
    with sock_path(directory) as path, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        s.sendall(json.dumps({"op": op}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data) if data.strip() else None


def sync(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Make the agent's listeners match the store; raise OSError when one cannot be opened."""
    reply = request(directory, "sync")
    if reply is not None and reply.get("errors"):
        raise OSError(errno.EADDRINUSE, "; ".join(reply["errors"]))
    return reply


# ------------------------------------------------------------------ the agent process

class Agent:
    def __init__(self, directory: Path, mn_sock: socket.socket | None, parent_fd: int | None) -> None:
        self.dir = directory
        self.db = sqlite3.connect(f"file:{directory / 'cluster.db'}?mode=ro", uri=True, timeout=60.0)
        self.sel = selectors.DefaultSelector()
        self.listeners: dict[tuple[str, int], socket.socket] = {}
        self.running = True
        self.mn = mn_sock
        if mn_sock is not None:
            mn_sock.setblocking(False)
            self.sel.register(mn_sock, selectors.EVENT_READ, "listener")
        if parent_fd is not None:
            self.sel.register(parent_fd, selectors.EVENT_READ, "parent")
        with sock_path(directory) as path:
            if os.path.exists(os.path.join(directory, SOCK)):
                os.unlink(os.path.join(directory, SOCK))
            self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.ctl.bind(path)
        self.ctl.listen(16)
        self.sel.register(self.ctl, selectors.EVENT_READ, "control")

    def wanted(self) -> tuple[set[tuple[str, int]], list[str]]:
        port = self.db.execute('SELECT "value" FROM site WHERE "key" = \'xcatdport\'').fetchone()
        port = int(port[0]) if port and port[0] and str(port[0]).isdigit() else 3001
        rows = self.db.execute(
            'SELECT m.node, h."ip", mc.up, mc.power, json_extract(mc.data, \'$.partitioned\') FROM member m '
            'LEFT JOIN hosts h ON h."node" = m.node '
            "LEFT JOIN machine mc ON mc.name = m.node WHERE m.grp = 'service'").fetchall()
        want, notes = set(), []
        for node, ip, up, power, cut in rows:
            if not (up and power == "on") or cut:  # a partitioned SN's xcatd is out of the MN's reach
                continue
            if not ip or not ip.startswith("127."):
                notes.append(f"{node}: no loopback address ({ip or 'none'}), no listener")
                continue
            want.add((ip, port))
        return want, notes

    def sync(self) -> dict[str, Any]:
        want, notes = self.wanted()
        errors = []
        for addr in sorted(set(self.listeners) - want):
            s = self.listeners.pop(addr)
            self.sel.unregister(s)
            s.close()
        for addr in sorted(want - set(self.listeners)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(addr)
                s.listen(64)
            except OSError as e:
                s.close()
                errors.append(f"cannot listen on {addr[0]}:{addr[1]}: {e.strerror}")
                continue
            s.setblocking(False)
            self.listeners[addr] = s
            self.sel.register(s, selectors.EVENT_READ, "listener")
        return {"ok": not errors, "listening": [f"{a}:{p}" for a, p in sorted(self.listeners)],
                "errors": errors, "notes": notes}

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10.0)
        with conn:
            data = b""
            try:
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                op = json.loads(data).get("op")
            except (OSError, ValueError):
                return
            if op == "sync":
                reply = self.sync()
            elif op == "stop":
                self.close_listeners()
                self.running = False
                reply = {"ok": True, "stopped": os.getpid()}
            elif op == "ping":
                reply = {"ok": True, "pid": os.getpid(),
                         "listening": [f"{a}:{p}" for a, p in sorted(self.listeners)]}
            else:
                reply = {"ok": False, "errors": [f"unknown op {op!r}"]}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass

    def close_listeners(self) -> None:
        for s in [*self.listeners.values(), *([self.mn] if self.mn else [])]:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        self.listeners.clear()
        self.mn = None

    def loop(self) -> None:
        db_file = self.dir / "cluster.db"
        while self.running:
            events = self.sel.select(timeout=2.0)
            if not events and not db_file.exists():
                break
            for key, _ in events:
                if key.data == "control":
                    conn, _ = self.ctl.accept()
                    self.handle(conn)
                elif key.data == "listener":
                    try:
                        conn, _ = key.fileobj.accept()
                        conn.close()
                    except OSError:
                        pass
                elif key.data == "parent":
                    if not os.read(key.fd, 64):
                        self.running = False
        self.shutdown()

    def shutdown(self) -> None:
        self.close_listeners()
        self.ctl.close()
        self.db.close()
        for name in (SOCK, PID):
            try:
                os.unlink(self.dir / name)
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    """``agent DIR [--mn-fd N] [--parent-fd N] [--ready-fd N]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args.pop(0))
    opts = {args[i]: int(args[i + 1]) for i in range(0, len(args) - 1, 2)}
    ready = opts.get("--ready-fd")
    mn = socket.socket(fileno=opts["--mn-fd"]) if "--mn-fd" in opts else None
    try:
        agent = Agent(directory, mn, opts.get("--parent-fd"))
        reply = agent.sync()
        (directory / PID).write_text(f"{os.getpid()}\n")
    except Exception as e:  # reported to the starter through the ready pipe
        reply = {"ok": False, "errors": [f"agent failed to start: {e}"]}
        agent = None
    if ready is not None:
        os.write(ready, json.dumps(reply).encode() + b"\n")
        os.close(ready)
    if agent is None:
        return 1
    if not reply["ok"]:
        agent.shutdown()
        return 1
    agent.loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
