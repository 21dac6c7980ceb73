"""hooks/xcat/sntakeover-report: the compute-node postscript, under every POSIX shell here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "hooks" / "xcat" / "sntakeover-report"
SHELLS = [s for s in ("sh", "dash", "ksh", "mksh", "ksh93") if shutil.which(s)] + (["bash --posix"] if shutil.which("bash") else [])


def test_korn_shell_is_among_the_shells():
    """AIX runs postscripts under ksh: CI must test it (apt-get install ksh)."""
    if "ksh" not in SHELLS and "ksh93" not in SHELLS:
        if os.environ.get("SNTAKEOVER_REQUIRE_REAL_TOOLS") == "1":
            pytest.fail("ksh is not installed and SNTAKEOVER_REQUIRE_REAL_TOOLS=1", pytrace=False)
        pytest.skip("ksh is not installed")


LINE = re.compile(r"^sntakeover-report: v=1 node=(\S+) server=(\S+) master=(\S+) from=(\S+) time=(\d+|-)$")


def report(shell, tmp_path, xcatinfo=None, niminfo=None, env=None):
    e = {"PATH": "/usr/bin:/bin", "SNTAKEOVER_XCATINFO": str(tmp_path / "xcatinfo"), "SNTAKEOVER_NIMINFO": str(tmp_path / "niminfo")}
    if xcatinfo is not None:
        (tmp_path / "xcatinfo").write_text(xcatinfo)
    if niminfo is not None:
        (tmp_path / "niminfo").write_text(niminfo)
    e.update(env or {})
    p = subprocess.run([*shell.split(), str(SCRIPT)], env=e, capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    [line] = p.stdout.splitlines()
    m = LINE.match(line)
    assert m, line
    return m.groups()


@pytest.mark.parametrize("shell", SHELLS)
def test_reads_xcatinfo(shell, tmp_path):
    node, server, master, src, _ = report(shell, tmp_path, "XCATSERVER=10.2.0.1\nINSTALLDIR=/install\n",
                                          env={"NODE": "cn1", "MASTER": "10.1.0.1"})
    assert (node, server, master, src) == ("cn1", "10.2.0.1", "10.1.0.1", str(tmp_path / "xcatinfo"))


@pytest.mark.parametrize("shell", SHELLS)
def test_falls_back_to_niminfo_then_env(shell, tmp_path):
    got = report(shell, tmp_path, niminfo="export NIM_MASTER_HOSTNAME=sn2\n", env={"NODE": "cn2"})
    assert got[1:4] == ("sn2", "-", str(tmp_path / "niminfo"))
    (tmp_path / "niminfo").unlink()
    got = report(shell, tmp_path, env={"NODE": "cn2", "MASTER": "sn3"})
    assert got[1:4] == ("sn3", "sn3", "env")


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_values_stay_one_parseable_line(shell, tmp_path):
    got = report(shell, tmp_path, 'XCATSERVER="10.2.0.1 ; rm -rf /"\n', env={"NODE": "cn1\nfake=1"})
    assert got[0] == "cn1" and got[1] == "10.2.0.1"
