"""The local runner: argv only, timeout, output cap, stdout/stderr kept apart."""

import sys
import time

import pytest

from sntakeover.runner import LocalRunner


def test_refuses_a_shell_string():
    with pytest.raises(TypeError):
        LocalRunner().run("snmove -s sn1")


def test_arguments_are_never_interpreted_by_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    res = LocalRunner().run(["echo", f"$(touch {marker})", ";", "rm", "-rf", "/"])
    assert res.rc == 0 and not marker.exists()
    assert res.stdout == f"$(touch {marker}) ; rm -rf /\n"


def test_timeout_kills_the_process_group():
    res = LocalRunner().run([sys.executable, "-c", "import time; print('x', flush=True); time.sleep(30)"], timeout=0.5)
    assert res.timed_out and res.stdout == "x\n" and res.duration < 10


def test_output_cap_and_both_streams_drained():
    code = "import sys; sys.stdout.write('o'*3000000); sys.stderr.write('e'*3000000)"
    res = LocalRunner(output_cap=1000).run([sys.executable, "-c", code], timeout=30)
    assert res.rc == 0 and res.truncated
    assert res.stdout == "o" * 1000 and res.stderr == "e" * 1000


def test_missing_program_is_rc_127_not_an_exception():
    res = LocalRunner().run(["definitely-not-a-command-xyz"])
    assert res.rc == 127 and "definitely-not-a-command-xyz" in res.stderr


def test_path_prefix_finds_simulated_commands(tmp_path):
    b = tmp_path / "bin"
    b.mkdir()
    (b / "nodels").write_text("#!/bin/sh\necho simulated\n")
    (b / "nodels").chmod(0o755)
    res = LocalRunner(path_prefix=[str(b)]).run(["nodels"])
    assert res.stdout == "simulated\n"


def test_remote_command_line_gives_each_argument_back_as_one_word():
    import shlex

    from sntakeover.sshrunner import remote_command

    argv = ["nodels", "cn1;touch /tmp/x", "$(id)", "a b", "it's", ""]
    line = remote_command(argv, ["/opt/xcat/bin", "/dir with space"])
    *prefix, last = line.split("; ")
    assert shlex.split(last) == ["exec", *argv]
    assert "PATH=/opt/xcat/bin:'/dir with space':\"$PATH\"; export PATH" in line


def test_make_runner_follows_the_configuration():
    from sntakeover.config import build
    from sntakeover.runner import make_runner
    from sntakeover.sshrunner import SSHRunner

    assert isinstance(make_runner(build({})), LocalRunner)
    r = make_runner(build({"xcat": {"runner": "ssh", "path": ["/opt/xcat/bin"]},
                           "ssh": {"host": "mn1", "key_file": "/k", "known_hosts": "/kh", "max_sessions": 4}}))
    assert isinstance(r, SSHRunner) and r.host == "mn1" and r.path_prefix == ("/opt/xcat/bin",)


def test_a_tagged_command_is_found_by_its_tag_while_it_runs():
    import threading

    from sntakeover.runner import tagged_pids

    r = LocalRunner()
    started = []
    t = threading.Thread(target=lambda: r.run([sys.executable, "-c", "import time; time.sleep(3)"],
                                              tag="abc123-7", on_start=started.append))
    t.start()
    try:
        deadline = time.monotonic() + 10
        while not started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert r.running("abc123-7") == started
        assert r.running("abc123-8") == []
    finally:
        t.join()
    assert tagged_pids("abc123-7") == []
    with pytest.raises(ValueError):
        r.running("x; rm -rf /")
