"""Reading the record: `incidents` filters and its "N more" line, `show` (summary, command
durations, natural order), a pipe closed early for every command, errors in words."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from sntakeover.noderange import natural_sorted
from support import REPO, EngineRun, event

SCHEMAS = REPO / "schemas"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Four incidents in a real store: sn1 taken over (done), sn2..sn4 in a monitoring downtime."""
    from support import Sim

    tmp = tmp_path_factory.mktemp("history")
    sim = Sim(tmp / "cluster", nodes=40, sns=("sn1", "sn2", "sn3", "sn4"))
    mine = sim.nodes_first("sn1")
    sim.fail("sn1")
    run = EngineRun(tmp, sim)
    run.send(event("sn1", state_type="hard"))
    done = run.state("sn1")
    for sn in ("sn2", "sn3", "sn4"):
        run.send(event(sn, in_downtime=True))
        run.state(sn)
    run.close()
    cfg = tmp / "config.toml"
    cfg.write_text(f'[daemon]\nstate_dir = "{tmp}/state"\nstore = "{tmp}/engine.db"\n'
                   f'[xcat]\npath = ["{sim.bin}"]\n[metrics]\nlisten = ""\n')
    return {"config": cfg, "done": done, "sim": sim, "nodes": mine}


def cli(history, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sntakeover", *args, "--config", str(history["config"])],
                          capture_output=True, text=True, timeout=120, cwd=REPO, **kw)


def test_show_json_gives_each_commands_argv_as_a_list(history):
    data = json.loads(cli(history, "show", str(history["done"]["id"]), "--json").stdout)
    snmoves = [c["argv"] for c in data["commands"] if c["argv"][0] == "snmove"]
    assert snmoves and all(isinstance(a, list) and "-d" in a for a in snmoves), data["commands"][:3]


def test_incidents_filters_and_says_how_many_more(history):
    r = cli(history, "incidents", "--limit", "2")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 3
    assert lines[0].split()[:3] == ["4", "sn4", "suppressed"] and "nothing moved (suppressed)" in lines[0]
    assert lines[2] == "... 2 more (older); see --limit, --since, --state, --sn"
    r = cli(history, "incidents", "--state", "done")
    [row] = r.stdout.splitlines()
    assert row.split()[:3] == ["1", "sn1", "done"]
    assert re.search(rf"  {len(history['nodes'])} moved to sn2 in \d+ s$", row), row
    assert cli(history, "incidents", "--sn", "sn3").stdout.split()[:2] == ["3", "sn3"]
    assert len(cli(history, "incidents", "--since", "1h").stdout.splitlines()) == 4
    assert cli(history, "incidents", "--since", "2099-01-01T00:00:00Z").stdout.strip() == "no incident"
    data = json.loads(cli(history, "incidents", "--json", "--sn", "sn1").stdout)
    assert [d["id"] for d in data] == [1] and data[0]["summary"].startswith(f"{len(history['nodes'])} moved to sn2")
    bad = cli(history, "incidents", "--since", "yesterday")
    assert bad.returncode == 2 and "neither a span back from now (90m, 24h, 7d) nor a time" in bad.stderr


def test_show_has_the_summary_command_durations_and_natural_order(history):
    r = cli(history, "show", "1")
    assert r.returncode == 0
    text = r.stdout
    assert re.search(rf"^summary: {len(history['nodes'])} moved to sn2 in \d+ s$", text, re.M)
    cmds = text[text.index("xCAT commands (start, exit code, duration):"):text.index("\nnodes:")].splitlines()[1:]
    assert cmds and all(re.match(r"  \S+Z  rc=\d+\s+\d+\.\d s  \S", c) for c in cmds), cmds
    snmove = [c for c in cmds if " snmove " in c]
    assert snmove and all(" -d sn2" in c for c in snmove)
    listed = [line.split()[0] for line in text[text.index("\nnodes:"):].splitlines()[2:]]
    assert listed == natural_sorted(history["nodes"]) and len(listed) >= 10
    assert listed != sorted(listed)  # cn10 after cn9: the plain sort would differ


def closed_pipe_run(history, *args: str) -> subprocess.CompletedProcess:
    """Run with standard output a pipe nobody reads any more (`sntakeover ... | head` after head ended)."""
    read, write = os.pipe()
    os.close(read)  # closed before the command writes anything: every write fails
    try:
        return subprocess.run([sys.executable, "-m", "sntakeover", *args], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120, cwd=REPO)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [
    ["show", "1"], ["show", "1", "--json"], ["incidents"], ["incidents", "--json"], ["watch", "1"],
    ["show", "1", "--follow"], ["plugins"], ["check-config"], ["plan", "sn2", "--no-probe"], ["--help"],
    ["show", "--help"], ["hook", "nagios", "--help"],
])
def test_a_pipe_closed_early_ends_quietly(history, args):
    with_config = args if "--help" in args else [*args, "--config", str(history["config"])]
    r = closed_pipe_run(history, *with_config)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    # argparse itself ignores a failed write of --help and exits 0; everything else says 141 (like SIGPIPE)
    assert r.returncode == (0 if "--help" in args else 141), (r.returncode, r.stderr)


def test_sim_output_into_a_closed_pipe_ends_without_a_traceback(history):
    r = closed_pipe_run(history, "sim", "show", "--dir", str(history["sim"].dir))
    assert "Traceback" not in r.stderr and r.returncode != 0


def test_every_schema_pattern_is_described_in_words():
    """A value that does not match gets `'x' is not <words>`, never the regular expression."""
    from sntakeover.plugins import Hooks, get_plugin_manager

    def patterns(node, where):
        if isinstance(node, dict):
            if "pattern" in node:
                yield where, node
            for k, v in node.items():
                yield from patterns(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from patterns(v, f"{where}/{i}")

    found = []
    for f in sorted(SCHEMAS.glob("*.json")):
        found += list(patterns(json.loads(f.read_text()), f.name))
    for table, (_, schema) in Hooks(get_plugin_manager(load_entrypoints=False)).options_schemas().items():
        found += list(patterns(schema, table))
    assert len(found) >= 12
    for where, node in found:
        assert node.get("x-expected"), f"{where}: a pattern without x-expected"


def test_a_bad_name_is_explained_not_quoted_as_a_regex(history):
    from sntakeover.errors import EventRejected
    from sntakeover.validation import load_validators

    v = load_validators()
    bad = {"id": "x y", "kind": "sn.down", "servicenode": "-x", "source": {"tool": "Nagios", "host": "a\nb"},
           "time": "2026-01-01T00:00:00Z", "severity": "very bad"}
    for key, expect in (("servicenode", "'-x' is not a valid xCAT name: 1 to 63 letters, digits"),
                        ("id", "'x y' is not printable ASCII characters without spaces"),
                        ("severity", "'very bad' is not letters, digits")):
        ev = {**{k: v2 for k, v2 in bad.items() if k not in ("id", "servicenode", "severity")},
              "id": "ok", "servicenode": "sn1", key: bad[key], "source": {"tool": "nagios"}}
        with pytest.raises(EventRejected) as exc:
            v.validate("event.v1", ev)
        assert expect in str(exc.value) and "(?!" not in str(exc.value) and "^" not in str(exc.value)
    r = cli(history, "watch", "sn1;reboot")
    assert r.returncode == 2 and "neither an incident number nor a service node name" in r.stderr
    r = cli(history, "plan", "sn1;reboot")
    assert "not an xCAT node name (letters, digits" in r.stderr


def test_show_names_a_command_a_previous_daemon_never_saw_end_as_interrupted():
    from sntakeover.model import INTERRUPTED
    from sntakeover.render import render_incident

    s = {"id": 1, "servicenode": "sn1", "state": "done", "opened": "t0", "closed": "t1", "reason": "r",
         "timeline": [], "nodes": [],
         "commands": [{"seq": 1, "started": "t0", "argv": ["snmove", "cn1", "-d", "sn2"], "rc": INTERRUPTED,
                       "timed_out": 0, "duration": 0.0},
                      {"seq": 2, "started": "t0", "argv": ["lsdef", "cn1"], "rc": 0, "timed_out": 0, "duration": 0.2}]}
    text = render_incident(s)
    assert "rc=?" in text and "INTERRUPTED (the daemon restarted; its outcome is unknown)  snmove cn1 -d sn2" in text
    assert "rc=0" in text and "rc=-1" not in text
