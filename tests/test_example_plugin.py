"""The plugin contract for third parties: the example package, installed, inside a real daemon.

Next to it, three broken plugins are installed the same way (entry points in the
``sntakeover`` group): one whose import fails, one that implements a hook that
does not exist, one with a ``wrapper=True`` notifier. Each is reported and left
out; the daemon starts without them and the takeover and the example's
notifications go on.
"""

from __future__ import annotations

import json
import time
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, event

EXAMPLE = REPO / "examples" / "sntakeover-example-spool"

BROKEN = {
    "snt_broken_import": ("broken", "import pagerlib_that_is_not_installed\n"),
    "snt_typo": ("typo", "from sntakeover import hookimpl\n\n@hookimpl\ndef sntakeover_notfy(incident):\n    pass\n"),
    "snt_wrapped": ("wrapped", "from sntakeover import hookimpl\n\n@hookimpl(wrapper=True)\n"
                               "def sntakeover_notify(incident):\n    return (yield)\n"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A directory with the example installed by pip (--target), and the broken plugins beside it."""
    site = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(site), str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert list(site.glob("sntakeover_example_spool-1.0.dist-info"))
    for module, (ep, code) in BROKEN.items():
        (site / f"{module}.py").write_text(code)
        dist = site / f"{module}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(f"[sntakeover]\n{ep} = {module}\n")
    return site


def test_sntakeover_plugins_lists_the_plugins_their_hooks_and_the_ones_left_out(site, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(site))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[daemon]\nplugins_blocked = ['sntakeover.builtin.notify_exec']\n")
    r = subprocess.run([sys.executable, "-m", "sntakeover", "plugins", "--config", str(cfg), "--json"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    loaded = {p["name"]: p for p in d["loaded"]}
    assert loaded["spool"]["hooks"] == ["sntakeover_notify", "sntakeover_options_schema", "sntakeover_plan"]
    assert loaded["spool"]["source"].startswith("sntakeover-example-spool 1.0, entry point sntakeover_example_spool")
    assert loaded["sntakeover.builtin.verify"]["hooks"] == ["sntakeover_required_commands", "sntakeover_verify"]
    assert loaded["sntakeover.builtin.verify"]["source"] == "built-in"
    failed = {p["name"]: p["error"] for p in d["failed"]}
    assert set(failed) == {"broken", "typo", "wrapped"}
    assert "ModuleNotFoundError" in failed["broken"] and "pagerlib_that_is_not_installed" in failed["broken"]
    assert "sntakeover_notfy is not an sntakeover hook" in failed["typo"]
    assert "sntakeover_notify is called for each plugin on its own" in failed["wrapped"] and "wrapper=True" in failed["wrapped"]
    assert d["blocked"] == ["sntakeover.builtin.notify_exec"]
    text = subprocess.run([sys.executable, "-m", "sntakeover", "plugins", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path).stdout
    assert "  spool  (sntakeover-example-spool 1.0" in text and "not loaded (3):" in text


def test_example_plugin_runs_inside_a_real_daemon_and_its_notification_reaches_the_sink(site, sim, daemon, monkeypatch,
                                                                                           tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(site))
    spool = tmp_path / "spool"
    spool.mkdir()
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s, extra=f'[plugins.spool]\ndirectory = "{spool}"\nstates = ["moving", "done"]\n')
    status = d.request({"v": 1, "op": "status"})["status"]
    assert "spool" in status["plugins"] and set(status["plugin_failures"]) == {"broken", "typo", "wrapped"}
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    deadline = time.monotonic() + 30  # notifications are delivered by the notifier thread, after the commit
    while not list(spool.glob(f"incident-{inc['id']}-done-*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    done = [json.loads(p.read_text()) for p in spool.glob(f"incident-{inc['id']}-done-*.json")]
    assert len(done) == 1
    assert done[0]["servicenode"] == "sn1" and done[0]["moved"]["count"] == len(mine)
    assert done[0]["show"] == f"sntakeover show {inc['id']}" and done[0]["waiting_for"].startswith("nothing")
    assert len(list(spool.glob(f"incident-{inc['id']}-moving-*.json"))) == 1
    assert not list(spool.glob("incident-*-confirming-*.json"))  # its states filter
    # the wrapper=True plan hook ran around the built-in planner and saw its decision
    plans = [json.loads(p.read_text()) for p in spool.glob(f"plan-{inc['id']}-*.json")]
    assert plans and plans[0]["moves"] == len(mine)


def test_a_wrong_option_for_the_example_is_refused_by_check_config(site, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(site))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[plugins.spool]\ndirectory = "relative/dir"\n')
    r = subprocess.run([sys.executable, "-m", "sntakeover", "check-config", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 1 and "plugins.spool.directory: 'relative/dir' is not an absolute path" in r.stderr
    assert "warning: plugin broken is not loaded: snt_broken_import 0.1" in r.stderr
