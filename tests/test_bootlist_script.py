"""sntakeover-bootlist, the bootlist step run on AIX nodes with ``xdsh -e``, under every POSIX
shell here (AIX runs it with ksh), with fake ``netstat`` and ``bootlist`` programs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sntakeover.builtin.nodesteps import BOOTLIST_SCRIPT

SHELLS = [s for s in ("sh", "dash", "ksh", "mksh", "ksh93") if shutil.which(s)] + (["bash --posix"] if shutil.which("bash") else [])

HEAD = "Name  Mtu   Network     Address            Ipkts Ierrs    Opkts Oerrs  Coll\n"
LO = "lo0   16896 127         127.0.0.1            4711     0     4711     0     0\n"


def row(itf: str, ip: str) -> str:
    return f"{itf:<5} 1500  10.1        {ip:<18} 123456     0   654321     0     0\n"


def run(shell: str, tmp_path: Path, netstat_in: str, *args: str, bootlist_rc: int = 0):
    """Run the script; returns (exit status, stderr, the bootlist calls)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    (tmp_path / "netstat.out").write_text(netstat_in)
    (bin_ / "netstat").write_text(f'#!/bin/sh\n[ "$1" = -in ] || exit 9\ncat {tmp_path}/netstat.out\n')
    (bin_ / "bootlist").write_text(f'#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done >>{tmp_path}/calls\n'
                                   f'echo >>{tmp_path}/calls\nexit {bootlist_rc}\n')
    for p in bin_.iterdir():
        p.chmod(0o755)
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    p = subprocess.run([*shell.split(), str(BOOTLIST_SCRIPT), *args], env={"PATH": f"{bin_}:/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=10)
    return p.returncode, p.stderr, calls.read_text().splitlines() if calls.exists() else []


def test_korn_shell_is_among_the_shells():
    assert "ksh" in SHELLS or "ksh93" in SHELLS, "AIX runs xdsh -e scripts under ksh: install ksh"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("itf,dev", [("en1", "ent1"), ("hf0", "hfi0"), ("et2", "2"), ("ib0", "ib0"), ("enen0", "entent0")])
def test_the_node_finds_its_own_address_and_interface(shell, tmp_path, itf, dev):
    table = HEAD + row("en0", "192.168.5.5") + row(itf, "10.1.1.7") + LO
    rc, err, calls = run(shell, tmp_path, table, "gateway=10.1.0.254", "bserver=10.1.0.2",
                         "10.1.1.1", "10.1.1.7", "10.1.1.17")
    assert (rc, err) == (0, "")
    assert calls == [f"[-m][normal][{dev}][gateway=10.1.0.254][bserver=10.1.0.2][client=10.1.1.7]"]


@pytest.mark.parametrize("shell", SHELLS)
def test_an_empty_gateway_is_passed_as_snmove_passes_it(shell, tmp_path):
    rc, _, calls = run(shell, tmp_path, HEAD + row("en0", "10.1.1.7"), "gateway=", "bserver=10.1.0.2", "10.1.1.7")
    assert rc == 0 and calls == ["[-m][normal][ent0][gateway=][bserver=10.1.0.2][client=10.1.1.7]"]


@pytest.mark.parametrize("shell", SHELLS)
def test_only_the_text_before_a_colon_counts_like_snmove(shell, tmp_path):
    # an IPv6 line: the 4th field of the text before the first colon is not an address
    table = HEAD + "en0   1500  fe80::1     fe80::214:5eff 0 0 0 0 0\n" + row("en3", "10.1.1.7")
    rc, _, calls = run(shell, tmp_path, table, "gateway=g", "bserver=b", "10.1.1.7")
    assert rc == 0 and calls == ["[-m][normal][ent3][gateway=g][bserver=b][client=10.1.1.7]"]


@pytest.mark.parametrize("shell", SHELLS)
def test_no_listed_address_on_the_node_changes_nothing(shell, tmp_path):
    rc, err, calls = run(shell, tmp_path, HEAD + row("en0", "10.1.1.70") + LO, "gateway=g", "bserver=b", "10.1.1.7")
    assert rc == 1 and calls == [] and "no interface holds a listed address" in err


@pytest.mark.parametrize("shell", SHELLS)
def test_two_listed_addresses_on_one_node_change_nothing(shell, tmp_path):
    table = HEAD + row("en0", "10.1.1.7") + row("en1", "10.1.1.8")
    rc, err, calls = run(shell, tmp_path, table, "gateway=g", "bserver=b", "10.1.1.7", "10.1.1.8")
    assert rc == 1 and calls == [] and "holds 10.1.1.7 and 10.1.1.8" in err


@pytest.mark.parametrize("shell", SHELLS)
def test_bootlist_failure_is_the_exit_status(shell, tmp_path):
    rc, _, calls = run(shell, tmp_path, HEAD + row("en0", "10.1.1.7"), "gateway=g", "bserver=b", "10.1.1.7",
                       bootlist_rc=3)
    assert rc == 3 and len(calls) == 1


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("args", [(), ("gateway=g",), ("gateway=g", "bserver=b"), ("bserver=b", "gateway=g", "1.2.3.4")])
def test_bad_arguments_are_refused(shell, tmp_path, args):
    rc, err, calls = run(shell, tmp_path, HEAD + row("en0", "10.1.1.7"), *args)
    assert rc == 2 and calls == [] and "sntakeover-bootlist:" in err


@pytest.mark.parametrize("shell", SHELLS)
def test_interface_names_are_not_expanded_by_the_shell(shell, tmp_path):
    table = HEAD + row("*", "10.1.1.7")
    (tmp_path / "ent-decoy").write_text("")
    rc, _, calls = run(shell, tmp_path, table, "gateway=g", "bserver=b", "10.1.1.7")
    assert rc == 0 and calls == ["[-m][normal][*][gateway=g][bserver=b][client=10.1.1.7]"]
