"""``xdsh <nodes> -e <script> [args]`` in the simulator: the real script runs under ksh against each
node's simulated host, with xdsh's own refusals, output labels and exit code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import Sim
from sntakeover.builtin.nodesteps import BOOTLIST_SCRIPT


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path / "c", nodes=8, sns=("sn1", "sn2"), os="AIX")
    yield s
    s.close()


def script(tmp_path: Path, text: str, mode: int = 0o755) -> str:
    p = tmp_path / "s.sh"
    p.write_text(text)
    p.chmod(mode)
    return str(p)


def test_bootlist_script_sets_what_snmoves_per_node_command_sets(sim, tmp_path):
    ips = {n: sim.state()["tables"]["hosts"][n]["ip"] for n in ("cn1", "cn2", "cn3")}
    before = sim.state()["machines"]["cn4"]["bootlist"]
    p = sim.run("xdsh", "cn1,cn2", "-e", str(BOOTLIST_SCRIPT), "gateway=10.1.0.254", "bserver=10.1.0.2", *ips.values())
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    # snmove's own form, one node: the same bootlist
    q = sim.run("xdsh", "cn3", f"/usr/bin/bootlist -m normal ent0 gateway=10.1.0.254 bserver=10.1.0.2 client={ips['cn3']} ")
    assert q.returncode == 0
    m = sim.state()["machines"]
    assert m["cn1"]["bootlist"] == f"ent0 gateway=10.1.0.254 bserver=10.1.0.2 client={ips['cn1']}"
    assert m["cn2"]["bootlist"] == f"ent0 gateway=10.1.0.254 bserver=10.1.0.2 client={ips['cn2']}"
    assert m["cn3"]["bootlist"] == m["cn1"]["bootlist"].replace(ips["cn1"], ips["cn3"])
    assert m["cn4"]["bootlist"] == before  # not targeted


def test_each_node_output_is_labelled_and_failures_counted(sim, tmp_path):
    sim.node_down("cn2")
    s = script(tmp_path, '#!/bin/ksh\necho "me=$(hostname) args=$*"\nnosuchprog\n')
    p = sim.run("xdsh", "cn1,cn2,cn3", "-e", s, "a", "b")
    assert "cn1: me=cn1 args=a b" in p.stdout.splitlines() and "cn3: me=cn3 args=a b" in p.stdout.splitlines()
    # a program the simulated node does not have is not found; the down node cannot be reached
    assert any(line.startswith("cn1: ") and "nosuchprog" in line and "not found" in line for line in p.stderr.splitlines())
    assert "cn2: ssh: connect to host cn2 port 22: No route to host" in p.stderr
    assert p.returncode == 3  # three failed targets (the script's exit status is nosuchprog's, 127)


def test_a_relative_script_name_is_found_from_the_working_directory(sim, tmp_path):
    script(tmp_path, "#!/bin/ksh\nhostname\n")
    p = sim.run("sh", "-c", f"cd {tmp_path} && xdsh cn1 -e s.sh")
    assert (p.returncode, p.stdout) == (0, "cn1: cn1\n")


@pytest.mark.parametrize("make,text", [
    (lambda t: str(t / "missing.sh"), "Error: File:{} does not exist."),
    (lambda t: script(t, ""), "Error: File {} is empty."),
    (lambda t: script(t, "#!/bin/ksh\ntrue\n", 0o644), "Error: File {} is not executable."),
])
def test_scripts_xdsh_refuses(sim, tmp_path, make, text):
    path = make(tmp_path)
    before = sim.state()["machines"]["cn1"]
    p = sim.run("xdsh", "cn1", "-e", path)
    assert p.returncode == 1 and p.stderr.strip() == text.format(path)
    assert sim.state()["machines"]["cn1"] == before


def test_without_e_the_words_are_one_command(sim, tmp_path):
    s = script(tmp_path, "#!/bin/ksh\nhostname\n")
    p = sim.run("xdsh", "cn1", s)
    assert p.returncode == 1 and "not found" in p.stderr and os.path.basename(s) in p.stderr
