"""Helpers for the tests that run the real monitoring tools on 127.0.0.1.

A missing tool skips its tests, unless SNTAKEOVER_REQUIRE_REAL_TOOLS=1 (set by
.ci/run): then a missing tool is a failure, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from sntakeover.poll import PollTimeout, wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
HOOKS = ROOT / "hooks"


def need(program: str) -> str:
    """Return the program's path; skip (or fail under SNTAKEOVER_REQUIRE_REAL_TOOLS=1) when missing."""
    path = shutil.which(program) or next((p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}") if os.access(p, os.X_OK)), None)
    if path:
        return path
    msg = f"{program} is not installed (apt-get install prometheus-alertmanager monit nagios4-core openssh-server)"
    if os.environ.get("SNTAKEOVER_REQUIRE_REAL_TOOLS") == "1":
        pytest.fail(msg + " and SNTAKEOVER_REQUIRE_REAL_TOOLS=1", pytrace=False)
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, never listened, then released)."""
    return free_port()


def wait_for(predicate, timeout: float, interval: float = 0.2):
    try:
        return wait_until(predicate, timeout=timeout, interval=interval)
    except PollTimeout:
        return predicate()


class Proc:
    """A started tool, always stopped at the end of the test."""

    def __init__(self, argv, cwd, log):
        self.log = log
        self.p = subprocess.Popen(argv, cwd=cwd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)

    def output(self) -> str:
        return Path(self.log).read_text(errors="replace")


def rows(daemon, sql, args=()):
    """Rows from the daemon's store (read-only), as dicts."""
    st = daemon.store()
    try:
        return [dict(r) for r in st.query(sql, args)]
    finally:
        st.close()


def events(daemon):
    """Every stored event, oldest first, with its body decoded and the daemon's outcome."""
    import json

    return [dict(json.loads(r["body"]), outcome=r["outcome"], incident_id=r["incident_id"])
            for r in rows(daemon, "SELECT body, outcome, incident_id FROM events ORDER BY seq")]
