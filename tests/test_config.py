"""Configuration: one schema (schemas/config.v1.json) gives defaults, types, limits and the README reference."""

import subprocess
import sys

import pytest

from sntakeover import config
from sntakeover.cli import main
from sntakeover.config import build
from sntakeover.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_defaults_give_an_ipc_endpoint_in_the_runtime_dir():
    c = config.build({})
    assert c.endpoint == "ipc:///run/sntakeover/intake.sock"
    assert str(c.store_path) == "/var/lib/sntakeover/sntakeover.db"


def test_every_path_and_endpoint_is_configurable(tmp_path):
    c = config.load(write(tmp_path, f"""
[daemon]
state_dir = "{tmp_path}/s"
runtime_dir = "{tmp_path}/r"
store = "{tmp_path}/x.db"
endpoint = "tcp://127.0.0.1:5999"
[xcat]
path = ["/opt/xcat/bin", "/opt/xcat/sbin"]
"""))
    assert c.endpoint == "tcp://127.0.0.1:5999"
    assert str(c.store_path) == f"{tmp_path}/x.db"
    assert c.get("xcat", "path") == ["/opt/xcat/bin", "/opt/xcat/sbin"]


def test_unknown_key_is_rejected_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'takeover.stratgy' .*did you mean 'strategy'"):
        config.load(write(tmp_path, '[takeover]\nstratgy = "snmove"\n'))


def test_unknown_section_is_rejected_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section \[takover\]"):
        config.load(write(tmp_path, "[takover]\n"))


def test_wrong_type_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"confirm.quorum: expected an integer, got 'two'"):
        config.load(write(tmp_path, '[confirm]\nquorum = "two"\n'))


def test_a_key_from_an_earlier_version_says_what_replaced_it():
    with pytest.raises(ConfigError, match=r"'fence.required' no longer exists; use fence.policy = \"require\""):
        config.build({"fence": {"required": True}})
    with pytest.raises(ConfigError, match="approval.above_nodes"):
        config.build({"takeover": {"max_nodes": 5}})


def test_fence_policy_and_rounds_are_checked():
    with pytest.raises(ConfigError, match="fence.policy: must be 'require', 'best-effort' or 'off', got 'maybe'"):
        config.build({"fence": {"policy": "maybe"}})
    with pytest.raises(ConfigError, match="confirm.rounds: must be at least 2, got 1"):
        config.build({"confirm": {"rounds": 1}})


def test_bad_toml_names_the_file(tmp_path):
    p = write(tmp_path, "[daemon\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(p)


def test_check_config_command(tmp_path, capsys, sim):
    s = sim(nodes=4)
    good = write(tmp_path, f'[approval]\nabove_nodes = 500\n[xcat]\npath = ["{s.bin}"]\n')
    assert main(["check-config", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "event.v1" in out and "sntakeover.builtin.snmove" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon]\nendpoint = 'http://x'\n")
    assert main(["check-config", "--config", str(bad)]) == 1
    assert "daemon.endpoint: 'http://x' is not an endpoint starting with ipc:// or tcp://" in capsys.readouterr().err


def test_plugin_options_are_checked_against_the_schema_the_plugin_declares():
    from sntakeover import hookimpl
    from sntakeover.config import check_options
    from sntakeover.plugins import Hooks, get_plugin_manager

    class Owner:
        @hookimpl
        def sntakeover_options_schema(self):
            return {"plugins.pager": {"type": "object", "properties": {"retries": {"type": "integer"}},
                                      "additionalProperties": False}}

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    pm.register(Owner(), name="pager")
    schemas = Hooks(pm).options_schemas()
    assert check_options(build({"plugins": {"pager": {"retries": 3}}}), schemas) == []
    with pytest.raises(ConfigError, match=r"plugins\.pager\.retries: 'three' is not of type 'integer'"):
        check_options(build({"plugins": {"pager": {"retries": "three"}}}), schemas)
    with pytest.raises(ConfigError, match=r"plugins\.pager: Additional properties"):
        check_options(build({"plugins": {"pager": {"retires": 3}}}), schemas)
    warnings = check_options(build({"plugins": {"nobody": {"x": 1}}}), schemas)
    assert warnings and "[plugins.nobody] is not read by any loaded plugin" in warnings[0]


def test_ssh_runner_needs_its_host_key_file_and_known_hosts():
    with pytest.raises(ConfigError, match=r"\[ssh\] missing \(xcat.runner = 'ssh' needs ssh.host, ssh.key_file and ssh.known_hosts\)"):
        build({"xcat": {"runner": "ssh"}})
    with pytest.raises(ConfigError, match=r"xcat.runner: must be 'local' or 'ssh', got 'rsh'"):
        build({"xcat": {"runner": "rsh"}})
    with pytest.raises(ConfigError, match=r"ssh.max_sessions: must be at most 8, got 9"):
        build({"ssh": {"max_sessions": 9}})
    ok = build({"xcat": {"runner": "ssh"}, "ssh": {"host": "mn", "key_file": "/k", "known_hosts": "/kh"}})
    assert ok.get("ssh", "user") == "root" and ok.get("ssh", "port") == 22


def test_paths_that_reach_a_remote_shell_are_checked():
    with pytest.raises(ConfigError, match=r"xcat.path\[0\]: 'opt/xcat/bin' is not an absolute directory"):
        build({"xcat": {"path": ["opt/xcat/bin"]}})
    with pytest.raises(ConfigError, match=r"xcat.path\[0\]: '/a:/b' is not an absolute directory without ':'"):
        build({"xcat": {"path": ["/a:/b"]}})
    with pytest.raises(ConfigError, match=r"verify.xcatinfo_path: 'etc/xcatinfo' is not an absolute path"):
        build({"verify": {"xcatinfo_path": "etc/xcatinfo"}})


def test_hook_sntakeover_required_commands_check_config_names_every_missing_command_and_who_needs_it(tmp_path, capsys, sim, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = write(tmp_path, f'[xcat]\npath = ["{empty}"]\n[fence]\npolicy = "require"\n')
    monkeypatch.setenv("PATH", str(empty))
    assert main(["check-config", "--config", str(cfg)]) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    for cmd, plugin in (("snmove", "sntakeover.builtin.fast"), ("rpower", "sntakeover.builtin.fence"),
                        ("lsdef", "sntakeover.builtin.plan"), ("xdsh", "sntakeover.builtin.probe_xdsh")):
        assert f"{cmd}: not found on xcat.path + PATH (needed by" in err and plugin in err, (cmd, err)
    # the simulator's directory on xcat.path holds them all
    s = sim(nodes=4)
    cfg.write_text(f'[xcat]\npath = ["{s.bin}"]\n[fence]\npolicy = "require"\n')
    assert main(["check-config", "--config", str(cfg)]) == 0


def test_third_party_plugin_declares_its_commands(tmp_path):
    from sntakeover import hookimpl
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.preflight import missing_commands

    class Pager:
        @hookimpl
        def sntakeover_required_commands(self, config):
            return ["sntakeover-no-such-pager"]

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    pm.register(Pager(), name="pager")
    assert missing_commands(build({}), Hooks(pm)) == [
        "sntakeover-no-such-pager: not found on xcat.path + PATH (needed by pager)"]


def test_check_config_refuses_bad_adapter_options(tmp_path, capsys, sim):
    s = sim(nodes=4)
    cfg = write(tmp_path, f'[xcat]\npath = ["{s.bin}"]\n[adapters.xcatmon]\nbucket = "fifteen"\n')
    assert main(["check-config", "--config", str(cfg)]) == 1
    assert "adapters.xcatmon.bucket: 'fifteen' is not of type 'integer'" in capsys.readouterr().err
    cfg.write_text(f'[xcat]\npath = ["{s.bin}"]\n[adapters.alertmanager]\nsn_lable = "sn"\n')
    assert main(["check-config", "--config", str(cfg)]) == 1
    assert "adapters.alertmanager: Additional properties are not allowed ('sn_lable' was unexpected)" in \
        capsys.readouterr().err


def test_the_schema_checks_the_whole_file_and_names_every_wrong_key_with_its_path(tmp_path):
    p = write(tmp_path, """
[daemon]
workers = 0
[ssh]
port = 70000
[verify]
node_chek = true
[metrics]
listen = "9464"
""")
    with pytest.raises(ConfigError) as info:
        config.load(p)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{p}: ") for line in lines), lines
    text = str(info.value)
    assert "daemon.workers: must be at least 1, got 0" in text
    assert "ssh.port: must be at most 65535, got 70000" in text
    assert "unknown key 'verify.node_chek'" in text and "did you mean 'node_check'" in text
    assert "metrics.listen: '9464' is not HOST:PORT" in text
    assert len(lines) == 4


def test_a_second_ssh_rule_failure_is_reported_once_with_the_rule():
    with pytest.raises(ConfigError) as info:
        build({"xcat": {"runner": "ssh"}, "ssh": {"host": "mn"}})
    assert str(info.value) == ("<dict>: 'ssh.key_file', 'ssh.known_hosts' missing "
                               "(xcat.runner = 'ssh' needs ssh.host, ssh.key_file and ssh.known_hosts)")


def test_the_schema_is_the_one_source_of_defaults_types_and_meanings():
    import jsonschema

    schema = config.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {name for name, sub in config.sections().items() if "properties" not in sub} == set(config.FREEFORM)
    for name, sub in config.sections().items():
        assert sub.get("description"), name
        for key, prop in sub.get("properties", {}).items():
            assert "default" in prop and prop.get("description"), f"{name}.{key}"
    # the defaults, written out as a file, are a valid file
    defaults = {name: table for name, table in config.defaults().items() if name not in config.FREEFORM}
    config.validate(defaults, "defaults")
    # numbers are floats and integers ints, whatever the file wrote
    c = build({"confirm": {"interval": 5, "quorum": 3}})
    assert isinstance(c.get("confirm", "interval"), float) and isinstance(c.get("confirm", "quorum"), int)


def test_a_free_form_table_must_be_a_table():
    with pytest.raises(ConfigError, match=r"\[adapters.xcatmon\] must be a table"):
        build({"adapters": {"xcatmon": 15}})
    assert build({"adapters": {"xcatmon": {"bucket": 15}}}).adapter_options("xcatmon") == {"bucket": 15}


def test_a_takeover_strategy_no_plugin_implements_is_refused_before_anything_runs(tmp_path, capsys, sim):
    """A typo ('fsat') used to pass: the daemon fenced the SN, then found nothing to move the nodes with."""
    s = sim(nodes=4)
    cfg = write(tmp_path, f'[daemon]\nstate_dir = "{tmp_path}/st"\nruntime_dir = "{tmp_path}/run"\n'
                          f'[xcat]\npath = ["{s.bin}"]\n[takeover]\nstrategy = "fsat"\n')
    assert main(["check-config", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "takeover.strategy = 'fsat': no loaded plugin implements it (known: fast, parallel, snmove)" in err, err
    r = subprocess.run([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "no loaded plugin implements it" in r.stderr, (r.returncode, r.stderr[-500:])


def test_hook_sntakeover_takeover_strategies_names_what_a_plugin_implements():
    from sntakeover import hookimpl
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.preflight import unknown_strategy

    class Quiet:
        @hookimpl
        def sntakeover_takeover(self, strategy, incident, plan, ctx, dry_run):
            return None

    class Mine:
        @hookimpl
        def sntakeover_takeover_strategies(self):
            return ["mine"]

    pm = get_plugin_manager(load_entrypoints=False)
    assert unknown_strategy(build({"takeover": {"strategy": "mine"}}), Hooks(pm))
    pm.register(Mine(), name="mine")
    assert unknown_strategy(build({"takeover": {"strategy": "mine"}}), Hooks(pm)) is None
    pm.unregister(name="mine")
    # a plugin that implements a strategy without naming it: any name may be its own
    pm.register(Quiet(), name="quiet")
    assert unknown_strategy(build({"takeover": {"strategy": "mine"}}), Hooks(pm)) is None
    assert unknown_strategy(build({"takeover": {"strategy": "snmove"}}), Hooks(pm)) is None


def test_check_config_with_the_ssh_runner_checks_its_key_files_not_the_local_path(tmp_path, capsys, monkeypatch):
    """The xCAT commands are on the MN, reached over SSH: looking for them here always failed."""
    empty = tmp_path / "empty"
    empty.mkdir()
    key, known = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    text = (f'[xcat]\nrunner = "ssh"\npath = ["/opt/xcat/bin"]\n'
            f'[ssh]\nhost = "mn1"\nkey_file = "{key}"\nknown_hosts = "{known}"\n')
    cfg = write(tmp_path, text)
    monkeypatch.setenv("PATH", str(empty))
    assert main(["check-config", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"ssh.key_file: {key}: cannot be read" in err and f"ssh.known_hosts: {known}: cannot be read" in err, err
    assert "not found on xcat.path" not in err
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    known.write_text("mn1 ssh-ed25519 AAAA\n")
    assert main(["check-config", "--config", str(cfg)]) == 0, capsys.readouterr().err
    assert "run on mn1 over SSH" in capsys.readouterr().out


def test_several_configuration_errors_are_printed_one_per_line(tmp_path, capsys):
    cfg = write(tmp_path, "[confirm]\nquorum = 0\nrounds = 0\n")
    assert main(["check-config", "--config", str(cfg)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"sntakeover check-config: {cfg}: confirm.quorum: must be at least 1, got 0",
                     f"sntakeover check-config: {cfg}: confirm.rounds: must be at least 2, got 0"], lines


def test_state_and_runtime_dirs_that_cannot_be_made_are_reported_not_a_traceback(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    cfg = write(tmp_path, f'[daemon]\nstate_dir = "{afile}/state"\nruntime_dir = "{afile}"\n')
    assert main(["check-config", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"daemon.state_dir: {afile}/state: cannot be made ({afile} is not a directory)" in err, err
    assert f"daemon.runtime_dir: {afile}: is not a directory" in err, err
    r = subprocess.run([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-800:]
    assert f"sntakeover serve: {afile}/state: Not a directory" in r.stderr, r.stderr


def test_check_config_never_prints_the_store_password(tmp_path, capsys, sim):
    s = sim(nodes=4)
    cfg = write(tmp_path, f'[daemon]\nstore = "postgresql://sntakeover:s3cretpw@db1/sntakeover"\n'
                          f'[xcat]\npath = ["{s.bin}"]\n')
    main(["check-config", "--config", str(cfg)])
    out = capsys.readouterr()
    assert "s3cretpw" not in out.out + out.err and "postgresql://sntakeover:***@db1/sntakeover" in out.out


def test_adapter_options_that_name_service_nodes_must_be_xcat_names():
    """A map to 'sn1;reboot' passed check-config; then every event from that host was rejected."""
    from sntakeover.config import check_options
    from sntakeover.plugins import Hooks, get_plugin_manager

    schemas = Hooks(get_plugin_manager(load_entrypoints=False)).options_schemas()
    with pytest.raises(ConfigError, match=r"adapters\.nagios\.map\.sn1\.example\.com: 'sn1;reboot' is not an xCAT name"):
        check_options(build({"adapters": {"nagios": {"map": {"sn1.example.com": "sn1;reboot"}}}}), schemas)
    with pytest.raises(ConfigError, match=r"adapters\.xcatmon\.servicenodes\.0: 'sn 1' is not an xCAT name"):
        check_options(build({"adapters": {"xcatmon": {"servicenodes": ["sn 1"]}}}), schemas)
    assert check_options(build({"adapters": {"nagios": {"map": {"sn1.example.com": "sn1"}},
                                             "xcatmon": {"servicenodes": ["sn1", "sn2"]}}}), schemas) == []
