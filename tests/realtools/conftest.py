"""Fixtures for the tests that run the real monitoring tools against the real daemon.

``stack`` is the whole path: a simulated xCAT cluster whose ``sn1`` has failed and
``sntakeover serve`` as its own process, on a real ipc socket. ``hookbin`` holds
an ``sntakeover`` program standing for the installed console script.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from realtools_support import ROOT, Proc  # noqa: E402


@pytest.fixture
def stack(sim, daemon):
    s = sim(nodes=16)
    s.fail("sn1")
    d = daemon(s)
    return SimpleNamespace(sim=s, daemon=d, endpoint=d.endpoint)


@pytest.fixture
def hookbin(tmp_path, stack):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "sntakeover"
    prog.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        f"SNTAKEOVER_ENDPOINT=${{SNTAKEOVER_ENDPOINT:-{stack.endpoint}}}\n"
        f"SNTAKEOVER_HOOK_STATE={tmp_path / 'hookstate'}\n"
        "export PYTHONPATH SNTAKEOVER_ENDPOINT SNTAKEOVER_HOOK_STATE\n"
        f"echo \"$(date +%s) $*\" >> {tmp_path / 'hook-calls.log'}\n"
        f'exec {sys.executable} -m sntakeover.hookcli "$@"\n'
    )
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bindir


@pytest.fixture
def start():
    procs = []

    def _start(argv, cwd, log):
        proc = Proc(argv, cwd, log)
        procs.append(proc)
        return proc

    yield _start
    for p in procs:
        p.stop()
