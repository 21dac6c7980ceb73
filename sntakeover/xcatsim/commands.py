"""Entry point of every simulated xCAT command.

``main(name, argv, state_dir=...)`` runs one command against the cluster in
``state_dir`` under the state lock, prints like the xCAT client does, appends
the invocation to ``commands.log`` and returns the exit code.

A command is a function ``fn(ctx, args) -> None`` that reports through a
:class:`Ctx`: ``data``/``info`` lines go to stdout, ``error`` lines go to
stderr as ``Error: <text>``, ``stderr`` lines go to stderr verbatim. The exit
code is the OR of the error codes, as in xCAT's client. Sub-commands (snmove
calling xdsh, updatenode, ...) run in a child context whose lines the parent
relays, and are logged with ``"via": <parent command>``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from . import state as st

log = logging.getLogger(__name__)

# command name -> (module, function); modules are imported on demand
COMMANDS: dict[str, tuple[str, str]] = {
    "snmove": ("snmove", "snmove"),
    "lsdef": ("dbcmds", "lsdef"),
    "chdef": ("dbcmds", "chdef"),
    "nodels": ("dbcmds", "nodels"),
    "nodestat": ("nodecmds", "nodestat"),
    "xdsh": ("remote", "xdsh"),
    "rpower": ("nodecmds", "rpower"),
    "updatenode": ("nodecmds", "updatenode"),
    "makeconservercf": ("nodecmds", "makeconservercf"),
    "nodeset": ("nodecmds", "nodeset"),
    "regnotif": ("notify", "regnotif"),
    "unregnotif": ("notify", "unregnotif"),
}

READ_ONLY = {"lsdef", "nodels"}


class Ctx:
    """Output, exit code and shared state of one command run."""

    def __init__(self, directory: str | os.PathLike[str], state: dict[str, Any], name: str,
                 parent: "Ctx | None" = None) -> None:
        self.dir = Path(directory)
        self.state = state
        self.name = name
        self.parent = parent
        self.lines: list[tuple[str, str]] = []  # (kind, text); kind in data|error|warning|stderr
        self.rc = 0
        self.changes: list = parent.changes if parent else []
        self.flags: dict[str, Any] = parent.flags if parent else {}

    # -- output
    def data(self, text: str) -> None:
        self.lines.append(("data", text))

    info = data

    def error(self, text: str, code: int = 0) -> None:
        self.lines.append(("error", text))
        self.rc |= code

    def E(self, text: str) -> None:  # MsgUtils->message("E", ...)
        self.error(text, 1)

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def stderr(self, text: str) -> None:
        self.lines.append(("stderr", text))

    def render(self) -> tuple[str, str]:
        out, err = [], []
        for kind, text in self.lines:
            if kind == "data":
                out.append(text + "\n")
            elif kind == "error":
                err.append("Error: " + text + "\n")
            elif kind == "warning":
                err.append("Warning: " + text + "\n")
            else:
                err.append(text + "\n")
        return "".join(out), "".join(err)

    # -- simulation helpers
    @property
    def latency(self) -> float:
        return float(self.state.get("latency", 0.0) or 0.0)

    def round_trip(self, n: int = 1) -> None:
        """Charge ``n`` network round trips. The time is spent after the state lock is
        released (see :func:`run`), so concurrent commands overlap as on a real MN."""
        if self.latency > 0 and n > 0:
            self.top().flags["latency_debt"] = self.top().flags.get("latency_debt", 0.0) + self.latency * n

    def sub(self, name: str, args: list[str]) -> "Ctx":
        """Run another command in-process (an xCAT sub-request); return its context."""
        child = Ctx(self.dir, self.state, name, parent=self)
        fn = command_function(name)
        fn(child, list(args))
        st.append_log(self.dir, [name, *args], child.rc, via=self.top().name)
        return child

    def top(self) -> "Ctx":
        c = self
        while c.parent is not None:
            c = c.parent
        return c

    def relay_texts(self) -> list[str]:
        return [t for _, t in self.lines]


def command_function(name: str) -> Callable[[Ctx, list[str]], None]:
    mod, fn = COMMANDS[name]
    return getattr(importlib.import_module(f"{__package__}.{mod}"), fn)


def run(name: str, argv: list[str], state_dir: str | os.PathLike[str]) -> tuple[int, str, str]:
    """Run a command; return (rc, stdout, stderr)."""
    if name not in COMMANDS:
        raise KeyError(name)
    write = name not in READ_ONLY
    changes: list = []
    with st.locked(state_dir, write=write) as state:
        ctx = Ctx(state_dir, state, name)
        command_function(name)(ctx, list(argv))
        changes = list(ctx.changes)
        notif = list(state["tables"].get("notification", []))
        out, err = ctx.render()
        rc = ctx.rc
        debt = float(ctx.flags.get("latency_debt", 0.0))
    if debt > 0:
        time.sleep(debt)
    st.append_log(state_dir, [name, *argv], rc)
    if changes and notif:
        from . import notify
        notify.fire(notif, changes)
    return rc, out, err


def main(name: str, argv: list[str] | None = None, *, state_dir: str | os.PathLike[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    state_dir = state_dir or os.environ.get("XCATSIM_DIR")
    if not state_dir:
        sys.stderr.write("Error: XCATSIM_DIR is not set\n")
        return 1
    rc, out, err = run(name, list(argv), state_dir)
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.stderr.write(err)
    sys.stderr.flush()
    return rc & 0xFF  # like perl's exit(): 256 failed xdsh targets exit 0
