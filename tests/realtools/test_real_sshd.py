"""The SSH runner against a real OpenSSH sshd on 127.0.0.1, running the simulator's xCAT commands."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from realtools_support import wait_for  # noqa: E402
from sshd_support import Sshd, fingerprint, key_line, keygen  # noqa: E402
from support import processes_with  # noqa: E402

from sntakeover.runner import LocalRunner

pytestmark = pytest.mark.realtool


@pytest.fixture
def sshd(tmp_path):
    d = Sshd(tmp_path).start()
    d.trust()
    yield d
    d.stop()


@pytest.fixture
def runners():
    made = []

    def track(r):
        made.append(r)
        return r

    yield track
    for r in made:
        r.close()


def test_simulator_commands_give_the_same_result_over_ssh_as_locally(sshd, sim, runners):
    s = sim(nodes=8)
    s.fail("sn1")
    remote = runners(sshd.runner(path_prefix=[str(s.bin)]))
    local = LocalRunner(path_prefix=[str(s.bin)])
    for argv in (["lsdef", "-t", "node", "-o", "cn1,cn2", "-i", "servicenode,xcatmaster"],
                 ["nodestat", "sn1,sn2"],
                 ["xdsh", "sn1", "date"],          # fails: sn1 is down (rc and stderr come back too)
                 ["nodels", "cn99"]):
        r, l = remote.run(argv), local.run(argv)
        assert (r.rc, r.stdout, r.stderr, r.timed_out) == (l.rc, l.stdout, l.stderr, False), argv
    assert remote.run(["nodestat", "sn1"]).stdout == "sn1: noping\n"


def test_a_name_with_shell_metacharacters_cannot_escape(sshd, sim, tmp_path, runners):
    s = sim(nodes=4)
    marker = tmp_path / "escaped"
    runner = runners(sshd.runner(path_prefix=[str(s.bin)]))
    hostile = [f"cn1;touch {marker}", f"$(touch {marker})", f"`touch {marker}`", f"cn1' ; touch '{marker}",
               f"cn1\ntouch {marker}", f"cn1 && touch {marker} #", f"cn1|touch {marker}", "*"]
    for name in hostile:
        res = runner.run(["nodels", name])
        assert "Invalid nodes and/or groups in noderange: " in res.stderr, (name, res)
    # every argument arrives as exactly one word, byte for byte
    res = runner.run(["printf", "[%s]\\n", *hostile, "", "a b", "$HOME", "'"])
    assert res.rc == 0
    assert res.stdout == "".join(f"[{a}]\n" for a in [*hostile, "", "a b", "$HOME", "'"])
    assert not marker.exists()


def test_an_unknown_host_key_is_refused_naming_host_and_fingerprint(sshd, tmp_path, runners):
    sshd.known_hosts.write_text("")  # nobody trusted yet
    marker = tmp_path / "ran"
    res = runners(sshd.runner()).run(["touch", str(marker)])
    assert res.rc == 255 and not res.ok and not res.timed_out
    assert f"[127.0.0.1]:{sshd.port}" in res.stderr
    assert fingerprint(sshd.host_pub) in res.stderr and "not in" in res.stderr
    assert not marker.exists()


def test_a_changed_host_key_is_refused_naming_both_fingerprints(sshd, tmp_path, runners):
    other = keygen(tmp_path / "impostor")
    sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_line(other.with_suffix('.pub'))}\n")
    marker = tmp_path / "ran"
    res = runners(sshd.runner()).run(["touch", str(marker)])
    assert res.rc == 255 and "CHANGED" in res.stderr
    assert fingerprint(sshd.host_pub) in res.stderr and fingerprint(other.with_suffix(".pub")) in res.stderr
    assert not marker.exists()


def test_only_the_configured_key_is_offered(sshd, tmp_path, runners):
    wrong = keygen(tmp_path / "wrong")
    from sntakeover.sshrunner import SSHRunner

    r = runners(SSHRunner(host="127.0.0.1", port=sshd.port, user=sshd.user, key_file=str(wrong),
                          known_hosts=str(sshd.known_hosts)))
    res = r.run(["true"])
    assert res.rc == 255 and "authentication" in res.stderr


def test_a_command_that_runs_too_long_is_a_timeout_and_its_process_group_is_killed(sshd, runners):
    runner = runners(sshd.runner())
    mark = f"snt-timeout-{time.monotonic_ns()}"
    res = runner.run(["sh", "-c", f"echo started; sleep 300; echo {mark}"], timeout=1.5)
    assert res.timed_out and not res.ok and res.stdout == "started\n"
    assert wait_for(lambda: not processes_with(mark), timeout=15, interval=0.1), "remote process still running"
    # the connection is still good for the next command
    assert runner.run(["echo", "next"]).stdout == "next\n"


def test_output_larger_than_the_ssh_window_on_both_streams_at_once(sshd, runners):
    code = ("import sys\n"
            "for i in range(96):\n"
            "    sys.stdout.write(('o%02d' % i) * 21846 + '\\n'); sys.stdout.flush()\n"
            "    sys.stderr.write(('e%02d' % i) * 21846 + '\\n'); sys.stderr.flush()\n"
            "sys.exit(3)\n")
    want_out = "".join(("o%02d" % i) * 21846 + "\n" for i in range(96))
    want_err = "".join(("e%02d" % i) * 21846 + "\n" for i in range(96))
    assert len(want_out) > 3 * 2 * 1024 * 1024  # several times paramiko's 2 MiB window
    res = runners(sshd.runner()).run([sys.executable, "-c", code], timeout=60)
    assert not res.timed_out and res.rc == 3 and not res.truncated
    assert res.stdout == want_out and res.stderr == want_err
    capped = runners(sshd.runner(output_cap=1000)).run([sys.executable, "-c", code], timeout=60)
    assert capped.rc == 3 and capped.truncated
    assert capped.stdout == want_out[:1000] and capped.stderr == want_err[:1000]


def test_stdin_and_exit_status(sshd, runners):
    res = runners(sshd.runner()).run(["sh", "-c", "tr a-z A-Z; exit 7"], stdin="hello\n")
    assert (res.rc, res.stdout, res.stderr) == (7, "HELLO\n", "")


def test_one_transport_is_reused_and_reconnected_after_it_dropped(sshd, runners):
    runner = runners(sshd.runner(keepalive=1))
    first = runner.transport()
    for i in range(5):
        assert runner.run(["echo", str(i)]).stdout == f"{i}\n"
    assert runner.transport() is first
    assert sshd.output().count("Accepted publickey") == 1
    port = sshd.port
    sshd.stop()  # the server and our connection are gone
    sshd.start(port=port)
    assert runner.run(["echo", "again"]).stdout == "again\n"
    assert runner.transport() is not first
    assert sshd.output().count("Accepted publickey") == 2


def test_at_most_eight_channels_at_once(sshd, tmp_path, runners):
    # sshd allows 10 sessions per connection: 12 commands at once only all succeed if the runner queues them
    runner = runners(sshd.runner())
    live = tmp_path / "live"
    live.mkdir()
    counts = tmp_path / "counts"
    script = f'touch {live}/$$; ls {live} | wc -l >> {counts}; sleep 0.4; rm {live}/$$'
    results = []

    def one():
        results.append(runner.run(["sh", "-c", script], timeout=60))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.rc for r in results] == [0] * 12, [r.stderr for r in results if r.rc]
    seen = [int(x) for x in counts.read_text().split()]
    assert len(seen) == 12 and max(seen) <= 8


def test_whole_takeover_through_the_ssh_runner_ends_done_with_every_node_verified(sshd, sim, daemon):
    from support import event

    s = sim(nodes=16)
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    xcat, table = sshd.config()
    d = daemon(s, extra=table, xcat=xcat)
    assert d.send(event("sn1", state_type="hard"))["ok"]
    inc = d.wait_closed("sn1", timeout=120)
    summary = d.summary(inc["id"])
    assert inc["state"] == "done", summary["timeline"]
    assert {r["node"] for r in summary["nodes"]} == set(mine)
    assert all(r["status"] == "verified" for r in summary["nodes"])
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
    # every xCAT command went through sshd (one connection), none ran without it
    assert sshd.output().count("Accepted publickey") == 1
    assert summary["commands"] and all(c["rc"] is not None for c in summary["commands"])


def test_a_tagged_remote_command_is_found_by_its_tag_while_it_runs(sshd, runners):
    import threading
    import time

    runner = runners(sshd.runner())
    t = threading.Thread(target=lambda: runner.run([sys.executable, "-c", "import time; time.sleep(3)"],
                                                   tag="deadbeef-42"))
    t.start()
    try:
        deadline = time.monotonic() + 10
        found = []
        while not found and time.monotonic() < deadline:
            found = runner.running("deadbeef-42")
            time.sleep(0.05)
        assert found, "the remote process carries its tag"
        assert runner.running("deadbeef-43") == []
    finally:
        t.join()
    assert runner.running("deadbeef-42") == []
