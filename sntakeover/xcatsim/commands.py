"""Entry point of every simulated xCAT command.

``main(name, argv, state_dir=...)`` runs one command against the cluster in
``state_dir``, prints like the xCAT client does, appends the invocation to
``commands.log`` and returns the exit code.

A command is a function ``fn(ctx, args) -> None`` that reports through a
:class:`Ctx`: ``data``/``info`` lines go to stdout, ``error`` lines go to
stderr as ``Error: <text>``, ``stderr`` lines go to stderr verbatim. The exit
code is the OR of the error codes, as in xCAT's client. The top-level command
prints each line when it is produced (as the client prints each response when
it arrives), so a command killed half-way has printed what it got to.
Sub-commands (snmove calling xdsh, updatenode, ...) run in a child context
whose lines the parent relays, and are logged with ``"via": <parent command>``.

Time passes where it passes in xCAT: every simulated network round trip
(:meth:`Ctx.round_trip`) sleeps the cluster's latency at that point, outside
any database transaction, and the changes it makes are committed when it ends.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from . import db as dbm
from . import runlog

log = logging.getLogger(__name__)

# command name -> (module, function); modules are imported on demand
COMMANDS: dict[str, tuple[str, str]] = {
    "snmove": ("snmove", "snmove"),
    "lsdef": ("dbcmds", "lsdef"),
    "chdef": ("dbcmds", "chdef"),
    "nodels": ("dbcmds", "nodels"),
    "tabdump": ("tabdump", "tabdump"),
    "nodestat": ("nodecmds", "nodestat"),
    "xdsh": ("remote", "xdsh"),
    "rpower": ("nodecmds", "rpower"),
    "updatenode": ("nodecmds", "updatenode"),
    "makeconservercf": ("nodecmds", "makeconservercf"),
    "nodeset": ("nodecmds", "nodeset"),
    "regnotif": ("notify", "regnotif"),
    "unregnotif": ("notify", "unregnotif"),
}


class Ctx:
    """Output, exit code and settings of one command run."""

    def __init__(self, directory: str | os.PathLike[str], db: dbm.DB, name: str,
                 parent: "Ctx | None" = None, out: tuple[TextIO, TextIO] | None = None) -> None:
        self.dir = Path(directory)
        self.db = db
        self.name = name
        self.parent = parent
        self.lines: list[tuple[str, str]] = []  # (kind, text); kind in data|error|warning|stderr
        self.rc = 0
        self.flags: dict[str, Any] = parent.flags if parent else {}
        self._out = out
        if parent is None:
            self.latency = float(db.meta("latency", "0") or 0.0)
            self.fanout = int(db.meta("fanout", "64") or 64)
        else:
            self.latency, self.fanout = parent.latency, parent.fanout

    # -- output
    def _add(self, kind: str, text: str) -> None:
        self.lines.append((kind, text))
        if self._out is not None:
            out, err = render_line(kind, text)
            stream = self._out[0] if out else self._out[1]
            try:
                stream.write(out or err)
                stream.flush()
            except OSError:
                # the reader went away: the work goes on (it runs in xcatd, not in the client)
                _silence(stream)

    def data(self, text: str) -> None:
        self._add("data", text)

    info = data

    def error(self, text: str, code: int = 0) -> None:
        self._add("error", text)
        self.rc |= code

    def E(self, text: str) -> None:  # MsgUtils->message("E", ...)
        self.error(text, 1)

    def warning(self, text: str) -> None:
        self._add("warning", text)

    def stderr(self, text: str) -> None:
        self._add("stderr", text)

    def render(self) -> tuple[str, str]:
        out, err = [], []
        for kind, text in self.lines:
            o, e = render_line(kind, text)
            out.append(o)
            err.append(e)
        return "".join(out), "".join(err)

    # -- simulation helpers
    def round_trip(self, n: int = 1) -> None:
        """Spend ``n`` network round trips now (never inside a transaction)."""
        if self.db.in_write:
            raise RuntimeError("a simulated round trip inside a database transaction")
        if self.latency > 0 and n > 0:
            time.sleep(self.latency * n)

    def sub(self, name: str, args: list[str]) -> "Ctx":
        """Run another command in-process (an xCAT sub-request); return its context."""
        child = Ctx(self.dir, self.db, name, parent=self)
        fn = command_function(name)
        fn(child, list(args))
        dbm.append_log(self.dir, [name, *args], child.rc, via=self.top().name)
        return child

    def top(self) -> "Ctx":
        c = self
        while c.parent is not None:
            c = c.parent
        return c

    def relay_texts(self) -> list[str]:
        return [t for _, t in self.lines]


def _silence(stream: TextIO) -> None:
    """Send the rest of a broken output stream to /dev/null (also what is still buffered)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def render_line(kind: str, text: str) -> tuple[str, str]:
    """(stdout text, stderr text) the xCAT client prints for one line."""
    if kind == "data":
        return text + "\n", ""
    if kind == "error":
        return "", "Error: " + text + "\n"
    if kind == "warning":
        return "", "Warning: " + text + "\n"
    return "", text + "\n"


def command_function(name: str) -> Callable[[Ctx, list[str]], None]:
    mod, fn = COMMANDS[name]
    return getattr(importlib.import_module(f"{__package__}.{mod}"), fn)


def _notifier(db: dbm.DB) -> Callable[[list], None]:
    """Table-change notification, fired when a change is committed (in the process that wrote it, as in xcatd)."""
    def fire(changes: list) -> None:
        from . import notify

        notify.fire(notify.registrations(db), changes)
    return fire


def run(name: str, argv: list[str], state_dir: str | os.PathLike[str],
        out: tuple[TextIO, TextIO] | None = None) -> tuple[int, str, str]:
    """Run a command; return (rc, stdout, stderr). With ``out``, lines are also written there as they come."""
    if name not in COMMANDS:
        raise KeyError(name)
    db = dbm.DB(state_dir)
    db.on_commit = _notifier(db)
    try:
        ctx = Ctx(state_dir, db, name, out=out)
        command_function(name)(ctx, list(argv))
        rc = ctx.rc
        text_out, text_err = ctx.render()
    finally:
        db.close()
    dbm.append_log(state_dir, [name, *argv], rc)
    return rc, text_out, text_err


def main(name: str, argv: list[str] | None = None, *, state_dir: str | os.PathLike[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    state_dir = state_dir or os.environ.get("XCATSIM_DIR")
    if not state_dir:
        sys.stderr.write("Error: XCATSIM_DIR is not set\n")
        return 1
    runlog.append_started(state_dir, [name, *argv])
    rc, _, _ = run(name, list(argv), state_dir, out=(sys.stdout, sys.stderr))
    return rc & 0xFF  # like perl's exit(): 256 failed xdsh targets exit 0
