"""Following a takeover: `watch` / `show --follow` on plain output and on a real terminal (tmux)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from sntakeover.poll import wait_until
from support import REPO, event


def cli(d, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sntakeover", *args, "--config", str(d.config)],
                          capture_output=True, text=True, timeout=180, cwd=REPO, **kw)


def test_watch_waits_for_the_next_incident_and_prints_one_line_per_change(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s)
    watch = subprocess.Popen([sys.executable, "-m", "sntakeover", "watch", "sn1", "--config", str(d.config)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        first = watch.stdout.readline()
        assert first.startswith("waiting for the next incident of sn1")
        d.send(event("sn1", state_type="hard"))
        out, err = watch.communicate(timeout=180)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, out + err
    assert "\x1b" not in out  # no escape codes when stdout is not a terminal
    lines = out.splitlines()
    assert lines[0].startswith("incident 1: sn1 ")
    assert any("detected -> confirming" in x for x in lines) and any("verifying -> done" in x for x in lines)
    assert f"  nodes: {len(mine)} of {len(mine)} moved, {len(mine)} verified, 0 failed, 0 waiting" in lines
    assert all(a != b for a, b in zip(lines, lines[1:]))  # a line per change, never the same line twice
    assert lines[-1].startswith(f"incident 1 ended done: {len(mine)} moved to sn2 in ")


def test_show_follow_of_an_ended_incident_and_its_exit_code(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    s.node_down(mine[0])  # it will not answer through the backup: verification fails for it
    d = daemon(s)
    d.send(event("sn1", state_type="hard"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "partial"
    r = cli(d, "show", str(inc["id"]), "--follow")
    assert r.returncode == 1  # partial is not done
    assert r.stdout.splitlines()[-1] == (f"incident {inc['id']} ended partial: {len(mine) - 1} moved to sn2 in "
                                         + r.stdout.splitlines()[-1].split(" in ", 1)[1])
    assert f"1 failed: {mine[0]}" in r.stdout
    # --follow --json prints the `show --json` document once it has ended
    r = cli(d, "show", str(inc["id"]), "--follow", "--json")
    assert r.returncode == 1
    followed, shown = json.loads(r.stdout), json.loads(cli(d, "show", str(inc["id"]), "--json").stdout)
    assert followed.pop("why").startswith("ended partial ") and shown.pop("why").startswith("ended partial ")
    assert followed == shown  # ("why" says how long ago it ended)
    r = cli(d, "show", "99", "--follow")
    assert r.returncode == 1 and "no incident 99" in r.stderr


def test_the_snapshot_names_every_phase(sim, daemon):
    from sntakeover.progress import snapshot

    s = sim()
    s.fail("sn1")
    d = daemon(s)
    d.send(event("sn1", state_type="hard"))
    inc = d.wait_closed("sn1")
    st = d.store()
    try:
        snap = snapshot(st, inc["id"], rounds_needed=2)
    finally:
        st.close()
    phases = {p["name"]: p for p in snap["phases"]}
    assert [p["name"] for p in snap["phases"]] == ["confirm", "plan", "wait", "fence", "move", "verify"]
    assert phases["confirm"]["status"] == "done" and "2 probe round(s), last: down" in phases["confirm"]["detail"]
    assert phases["wait"]["status"] == "skipped" and phases["fence"]["status"] == "skipped"  # fence.policy = off
    assert phases["move"]["status"] == phases["verify"]["status"] == "done"
    n = snap["nodes"]
    assert n["moved"] == n["verified"] == n["total"] > 0 and n["failed"] == 0
    assert snap["terminal"] and snap["summary"].startswith(f"{n['total']} moved to sn2 in ")


def test_the_display_on_a_terminal_reaches_done(sim, daemon, tmp_path):
    """A real terminal: tmux runs `sntakeover watch` and the screen is read back."""
    tmux = shutil.which("tmux")
    if tmux is None:
        if os.environ.get("SNTAKEOVER_REQUIRE_REAL_TOOLS"):
            pytest.fail("tmux is not installed (apt-get install tmux)")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s)
    sock = os.path.join(tempfile.mkdtemp(prefix="tmx-"), "s")
    done = tmp_path / "exit-code"
    cmd = (f"cd {REPO} && {sys.executable} -m sntakeover watch sn1 --config {d.config}; "
           f"echo $? > {done}; sleep 600")
    base = [tmux, "-S", sock]
    subprocess.run([*base, "new-session", "-d", "-x", "160", "-y", "48", cmd], check=True, timeout=30,
                   env={**os.environ, "TERM": "xterm-256color"})
    try:
        def screen() -> str:
            return subprocess.run([*base, "capture-pane", "-p", "-J"], capture_output=True, text=True,
                                  timeout=30).stdout

        wait_until(lambda: "waiting for the next incident" in screen(), timeout=60, what="watch to start")
        d.send(event("sn1", state_type="hard"))
        wait_until(lambda: "moving" in screen() or "verifying" in screen() or done.exists(), timeout=120,
                   what="the takeover on screen")
        wait_until(done.exists, timeout=180, what="watch to end")
        final = screen()
        assert done.read_text().strip() == "0", final
        assert "incident 1 · sn1 · done" in final
        for phase in ("confirm", "plan", "wait", "fence", "move", "verify"):
            assert phase in final
        assert f"nodes: {len(mine)} of {len(mine)} moved, {len(mine)} verified, 0 failed" in final
        assert f"incident 1 ended done: {len(mine)} moved to sn2 in " in final
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True, timeout=30)
        shutil.rmtree(os.path.dirname(sock), ignore_errors=True)
