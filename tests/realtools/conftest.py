"""Fixtures for the tests that run the real monitoring tools (see realtools_support)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakedaemon import FakeDaemon  # noqa: E402
from realtools_support import ROOT, Proc  # noqa: E402


@pytest.fixture
def fake_daemon():
    d = FakeDaemon("tcp://127.0.0.1:*")
    yield d
    d.close()


@pytest.fixture
def hookbin(tmp_path, fake_daemon):
    """A directory with an ``sntakeover`` program that stands for the installed console script."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "sntakeover"
    prog.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        f"SNTAKEOVER_ENDPOINT=${{SNTAKEOVER_ENDPOINT:-{fake_daemon.endpoint}}}\n"
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
