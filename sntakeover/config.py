"""Configuration: TOML file over defaults in code; unknown keys are rejected.

Look-up order for the file: ``--config``, ``$SNTAKEOVER_CONFIG``,
``/etc/sntakeover/config.toml`` (if it exists), else defaults only.
Every section and key is listed in :data:`DEFAULTS`; the README's configuration
reference is generated from the same table.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

SYSTEM_CONFIG = Path("/etc/sntakeover/config.toml")

#: section -> key -> (default, description)
SPEC: dict[str, dict[str, tuple[Any, str]]] = {
    "daemon": {
        "state_dir": ("/var/lib/sntakeover", "Directory for the store and the lock file."),
        "runtime_dir": ("/run/sntakeover", "Directory for the ipc:// socket; created 0750."),
        "endpoint": ("", "ZeroMQ endpoint to bind; empty = ipc://<runtime_dir>/intake.sock. tcp://HOST:PORT allowed."),
        "store": ("", "SQLite file; empty = <state_dir>/sntakeover.db."),
        "log_level": ("info", "debug, info, warning or error."),
        "workers": (4, "Incidents handled at the same time (one per service node)."),
        "plugins_blocked": ([], "Plugin names not to load (built-in module names or entry-point names)."),
        "load_entrypoints": (True, "Load third-party plugins from the 'sntakeover' entry-point group."),
    },
    "xcat": {
        "runner": ("local", "'local': run xCAT commands with subprocess on this host (the MN); 'ssh': on the MN named in [ssh]."),
        "path": ([], "Directories put in front of PATH for xCAT commands (e.g. /opt/xcat/bin)."),
        "command_timeout": (600.0, "Seconds before any one xCAT command is killed."),
        "output_cap": (16 * 1024 * 1024, "Bytes of stdout/stderr kept per command."),
    },
    "ssh": {
        "host": ("", "The MN that runs the xCAT commands when xcat.runner = 'ssh'."),
        "port": (22, "sshd port on the MN."),
        "user": ("root", "User to log in as (snmove must run as root on the MN)."),
        "key_file": ("", "Private key file offered to the MN; no agent, no other key is tried."),
        "known_hosts": ("", "The only known_hosts file the MN's host key is checked against; an unknown or changed key is refused."),
        "connect_timeout": (10.0, "Seconds for the TCP connect."),
        "banner_timeout": (10.0, "Seconds to wait for the SSH banner."),
        "auth_timeout": (10.0, "Seconds for the authentication."),
        "channel_timeout": (10.0, "Seconds to open a channel for one command."),
        "keepalive": (30.0, "Seconds between keepalive packets on the one reused connection."),
        "max_sessions": (8, "Commands run at once over that connection (1-8; OpenSSH allows 10 per connection)."),
    },
    "events": {
        "max_age": (900.0, "Seconds: an event whose own time is older than this when it arrives is recorded and never acted on by itself."),
        "reopen_window": (1800.0, "Seconds: events for an SN whose incident closed this recently attach to that incident (one outage, one incident) instead of opening a new one."),
    },
    "confirm": {
        "enabled": (True, "Probe the SN before acting (takeover.request skips this)."),
        "quorum": (2, "Independent 'down' votes a round needs (probes that say down, plus monitoring sources that report the SN down). Absolute: 'cannot tell' never counts."),
        "rounds": (2, "Consecutive rounds that must reach the quorum (at least 2, so a confirmation spans (rounds - 1) * interval seconds)."),
        "interval": (10.0, "Seconds between probe rounds."),
        "timeout": (300.0, "Seconds of probing without a clear answer before the incident waits for a human (awaiting-approval)."),
        "monitor_votes": (True, "Count each monitoring source (tool and host) whose latest report is a hard 'down' as one vote."),
        "tcp_port": (3001, "xcatd port probed on the SN (site.xcatdport)."),
        "tcp_timeout": (3.0, "Seconds for the TCP probe."),
        "probe_timeout": (60.0, "Seconds any one probe command may take; a probe that times out says 'cannot tell'."),
        "node_path_nodes": (0, "Optional probe: how many of the SN's compute nodes to ping from the SN itself (xdsh SN ping NODE); an SN that answers but reaches none of them votes down. 0 = off."),
    },
    "backup": {
        "check": (True, "Probe each backup SN before moving nodes to it; an unhealthy backup makes the incident wait (awaiting-backup)."),
        "capacity": (0, "Most compute nodes one backup SN may serve (first entry) after the move; 0 = no limit."),
        "capacity_per_sn": ({}, "Table SN -> capacity, overriding backup.capacity for that SN."),
        "recheck": (30.0, "Seconds between re-checks of a backup the incident waits for."),
    },
    "fence": {
        "policy": ("off", "'require': never move until fencing is confirmed (else wait for a human); 'best-effort': fence, note a failure and move anyway; 'off': do not fence."),
        "method": ("rpower", "How to fence: 'rpower' (rpower <sn> off, then stat must say off)."),
    },
    "breaker": {
        "max_fraction": (0.25, "Trip when more than this fraction of the service nodes look down within breaker.window (never for a single SN)."),
        "max_count": (0, "Also trip when more than this many service nodes look down within the window; 0 = only the fraction counts."),
        "window": (600.0, "Seconds over which service nodes that look down are counted."),
        "sn_group": ("service", "xCAT group holding every service node (to count them: nodels <group>)."),
    },
    "ratelimit": {
        "max_takeovers": (3, "Takeovers (incidents that start fencing or moving) allowed per window; more wait (held) until the window frees or a human approves. 0 = no limit."),
        "window": (3600.0, "Seconds of the rate-limit window."),
    },
    "approval": {
        "above_nodes": (0, "Incidents that would move more nodes than this wait in awaiting-approval for sntakeover approve/reject; 0 = never ask."),
        "timeout": (1800.0, "Seconds after which a waiting incident is escalated (notified again); it never proceeds by itself."),
    },
    "engine": {
        "retry_limit": (3, "Transient plugin failures (Retry) tolerated in one step before the incident fails."),
        "retry_delay": (5.0, "Seconds before the first retry; doubled for each further one."),
        "escalate_every": (900.0, "Seconds between reminders (notifications) while an incident waits for something."),
        "apply_attempts": (5, "Failed attempts to apply one event before it is quarantined (outcome 'quarantined: "
                              "<error>', listed by `sntakeover status`) and the later events of its SN go on."),
    },
    "takeover": {
        "strategy": ("fast", "Takeover strategy: 'fast' (snmove -i, then snmove's node-side steps fanned out), "
                     "'snmove' (one run per backup SN) or 'parallel' (several at once)."),
        "parallel": (8, "Concurrent snmove runs per backup SN for the 'parallel' strategy."),
        "fast_width": (16, "xCAT commands the 'fast' strategy runs at once (per-node AIX bootlist, niminit)."),
        "dry_run": (False, "Plan and record the exact commands, change nothing."),
        "snmove_timeout": (3600.0, "Seconds one snmove run may take."),
        "batch_size": (0, "Nodes per snmove call; 0 = all nodes of one backup in one call."),
        "postscripts": ("", "Value for snmove -P (extra postscripts), empty for none."),
        "destn": ({}, "Table backup SN -> its name as known by the nodes (snmove -D); empty = let snmove find the IP."),
        "holddown": (3600.0, "Seconds after a node was moved during which no incident moves it again by itself (no ping-pong); sntakeover approve overrides."),
    },
    "verify": {
        "retries": (1, "Times to re-read the database when a node is not on its backup yet."),
        "interval": (2.0, "Seconds between verification reads."),
        "node_check": (True, "Also read the server file on every node through xdsh (the node really uses the backup)."),
        "xcatinfo_path": ("/etc/xcatinfo", "File on the node that names its server (XCATSERVER=...)."),
        "reachability": (True, "Also run nodestat on the moved nodes (through their new SN); noping fails a node."),
        "report": (False, "Also run updatenode <nodes> -P <report_script> and check the server each node reports."),
        "report_script": ("sntakeover-report", "The postscript for verify.report (hooks/xcat/sntakeover-report)."),
    },
    "intake": {
        "max_message": (8 * 1024 * 1024, "Largest request in bytes; a larger one gets ok:false naming this limit."),
        "max_nodes": (100000, "Most compute nodes one event may list."),
        "max_depth": (32, "Deepest JSON nesting a request may have."),
        "max_detail": (4096, "Longest 'detail' text of an event, in characters."),
        "max_batch": (1000, "Most requests in one 'batch' request (the HTTP bridge sends those)."),
        "offload_bytes": (65536, "Requests larger than this are decoded and validated off the socket thread."),
    },
    "notify": {
        "timeout": (30.0, "Seconds one notifier plugin may take for one notification before it counts as failed."),
        "retries": (5, "Attempts per notification and plugin before giving up on it (logged with the plugin's name)."),
        "backoff": (1.0, "Seconds before the first retry; doubled for each further attempt."),
        "backoff_max": (300.0, "Longest wait between two attempts."),
    },
    "retention": {
        "raw_days": (30, "Days to keep raw monitoring payloads; 0 = keep for ever."),
        "events_days": (90, "Days to keep processed events that no incident references; 0 = keep for ever."),
        "prune_interval": (86400.0, "Seconds between the daemon's own prune runs; 0 = only 'sntakeover prune'."),
    },
    "metrics": {
        "listen": ("127.0.0.1:9464", "HOST:PORT where Prometheus scrapes /metrics (port 0: any free port, logged); empty = no metrics endpoint."),
    },
    "adapters": {},
    "plugins": {},
}

#: sections whose sub-tables are free-form (owned by plugins)
FREEFORM = {"adapters", "plugins"}

#: keys that existed in earlier versions: what to write instead
RENAMED = {
    "fence.required": "fence.policy = \"require\" (or \"best-effort\")",
    "takeover.max_nodes": "approval.above_nodes (the incident then waits for sntakeover approve instead of failing)",
    "takeover.check_backup": "backup.check",
}


@dataclass(frozen=True)
class Config:
    data: dict[str, dict[str, Any]]
    source: str = "<defaults>"

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.data[section]

    def get(self, section: str, key: str) -> Any:
        return self.data[section][key]

    @property
    def state_dir(self) -> Path:
        return Path(self.data["daemon"]["state_dir"])

    @property
    def runtime_dir(self) -> Path:
        return Path(self.data["daemon"]["runtime_dir"])

    @property
    def endpoint(self) -> str:
        return self.data["daemon"]["endpoint"] or f"ipc://{self.runtime_dir / 'intake.sock'}"

    @property
    def store_path(self) -> Path:
        return Path(self.data["daemon"]["store"] or self.state_dir / "sntakeover.db")

    def adapter_options(self, source: str) -> dict[str, Any]:
        return dict(self.data["adapters"].get(source, {}))


def defaults() -> dict[str, dict[str, Any]]:
    return {sec: {k: copy.deepcopy(v[0]) for k, v in keys.items()} for sec, keys in SPEC.items()}


def _check_type(where: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}: must not be negative")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}: must not be negative")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return value
    if isinstance(default, dict):
        kinds = {type(v) for v in value.values()} if isinstance(value, dict) else {None}
        if not isinstance(value, dict) or not (kinds <= {str} or kinds <= {int}):
            raise ConfigError(f"{where}: expected a table of strings (or of integers), got {value!r}")
        if any(isinstance(v, int) and v < 0 for v in value.values()):
            raise ConfigError(f"{where}: must not be negative")
        return value
    return value


def build(raw: dict[str, Any], source: str = "<dict>") -> Config:
    """Merge ``raw`` (a parsed TOML document) over the defaults, checking every key."""
    data = defaults()
    for section, table in raw.items():
        if section not in SPEC:
            raise ConfigError(f"{source}: unknown section [{section}] (known: {', '.join(SPEC)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        if section in FREEFORM:
            for sub, subtable in table.items():
                if not isinstance(subtable, dict):
                    raise ConfigError(f"{source}: [{section}.{sub}] must be a table")
                data[section][sub] = dict(subtable)
            continue
        for key, value in table.items():
            if f"{section}.{key}" in RENAMED:
                raise ConfigError(f"{source}: '{section}.{key}' no longer exists; use {RENAMED[section + '.' + key]}")
            if key not in SPEC[section]:
                known = ", ".join(SPEC[section])
                raise ConfigError(f"{source}: unknown key '{section}.{key}' (known in [{section}]: {known})")
            data[section][key] = _check_type(f"{source}: {section}.{key}", SPEC[section][key][0], value)
    _validate(data, source)
    return Config(data, source)


def _validate(data: dict[str, dict[str, Any]], source: str) -> None:
    if data["daemon"]["log_level"] not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"{source}: daemon.log_level must be debug, info, warning or error")
    ep = data["daemon"]["endpoint"]
    if ep and not ep.startswith(("ipc://", "tcp://")):
        raise ConfigError(f"{source}: daemon.endpoint must start with ipc:// or tcp://, got {ep!r}")
    if data["daemon"]["workers"] < 1:
        raise ConfigError(f"{source}: daemon.workers must be at least 1")
    if data["engine"]["apply_attempts"] < 1:
        raise ConfigError(f"{source}: engine.apply_attempts must be at least 1")
    _validate_remote(data, source)
    listen = data["metrics"]["listen"]
    if listen and not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}", listen):
        raise ConfigError(f"{source}: metrics.listen must be HOST:PORT (127.0.0.1:9464, [::1]:9464) or empty, got {listen!r}")
    if data["fence"]["policy"] not in ("require", "best-effort", "off"):
        raise ConfigError(f"{source}: fence.policy must be 'require', 'best-effort' or 'off'")
    if not data["fence"]["method"]:
        raise ConfigError(f"{source}: fence.method must name a fencing method (e.g. 'rpower')")
    if data["confirm"]["quorum"] < 1:
        raise ConfigError(f"{source}: confirm.quorum must be at least 1")
    if data["confirm"]["rounds"] < 2:
        raise ConfigError(f"{source}: confirm.rounds must be at least 2 (one round is a single look, not a confirmation)")
    if not 0 < data["breaker"]["max_fraction"] <= 1:
        raise ConfigError(f"{source}: breaker.max_fraction must be more than 0 and at most 1")
    for sn, cap in data["backup"]["capacity_per_sn"].items():
        if not isinstance(cap, int):
            raise ConfigError(f"{source}: backup.capacity_per_sn.{sn}: expected an integer, got {cap!r}")

    for key in ("max_message", "max_nodes", "max_depth", "max_detail", "max_batch"):
        if data["intake"][key] < 1:
            raise ConfigError(f"{source}: intake.{key} must be at least 1")
    if data["notify"]["timeout"] <= 0 or data["notify"]["retries"] < 1:
        raise ConfigError(f"{source}: notify.timeout must be positive and notify.retries at least 1")

def _validate_remote(data: dict[str, dict[str, Any]], source: str) -> None:
    """The runner choice, and the paths that end up in a (remote) shell command line."""
    runner = data["xcat"]["runner"]
    if runner not in ("local", "ssh"):
        raise ConfigError(f"{source}: xcat.runner must be 'local' or 'ssh', got {runner!r}")
    for d in data["xcat"]["path"]:
        if not d.startswith("/") or any(c in d for c in ":\n\0"):
            raise ConfigError(f"{source}: xcat.path: {d!r} must be an absolute directory without ':' or newlines")
    p = data["verify"]["xcatinfo_path"]
    if not p.startswith("/") or any(c in p for c in "\n\0"):
        raise ConfigError(f"{source}: verify.xcatinfo_path must be an absolute path without newlines, got {p!r}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", data["verify"]["report_script"]):
        raise ConfigError(f"{source}: verify.report_script must be a postscript name, got {data['verify']['report_script']!r}")
    ssh = data["ssh"]
    if not 1 <= ssh["max_sessions"] <= 8:
        raise ConfigError(f"{source}: ssh.max_sessions must be 1 to 8")
    if not 1 <= ssh["port"] <= 65535:
        raise ConfigError(f"{source}: ssh.port must be 1 to 65535")
    if runner == "ssh":
        missing = [k for k in ("host", "user", "key_file", "known_hosts") if not ssh[k]]
        if missing:
            raise ConfigError(f"{source}: xcat.runner = 'ssh' needs " + ", ".join(f"ssh.{k}" for k in missing))


def check_options(config: Config, schemas: dict[str, tuple[str, dict[str, Any]]]) -> list[str]:
    """Validate every ``[adapters.X]`` / ``[plugins.X]`` table against the schema its plugin declared.

    :param schemas: from :meth:`sntakeover.plugins.Hooks.options_schemas`.
    :returns: warnings (a table that no loaded plugin declares).
    :raises ConfigError: a table does not match its schema; the message names the key.
    """
    import jsonschema
    from jsonschema.exceptions import best_match

    warnings = []
    for section in sorted(FREEFORM):
        for sub, table in sorted(config[section].items()):
            path = f"{section}.{sub}"
            if path not in schemas:
                warnings.append(f"{config.source}: [{path}] is not read by any loaded plugin")
                continue
            owner, schema = schemas[path]
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            err = best_match(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(table))
            if err is not None:
                from .validation import error_message

                where = ".".join([path, *(str(p) for p in err.absolute_path)])
                raise ConfigError(f"{config.source}: {where}: {error_message(err)} (options of {owner})")
    return warnings


def reference_markdown() -> str:
    """The configuration reference as Markdown (the README carries this text)."""
    out = []
    for section, keys in SPEC.items():
        if section in FREEFORM:
            continue
        out.append(f"**[{section}]**\n")
        out.append("| key | default | meaning |\n|---|---|---|")
        for key, (default, doc) in keys.items():
            shown = default if not isinstance(default, bool) else str(default).lower()
            doc = doc.replace("<", "&lt;").replace(">", "&gt;")
            out.append(f"| `{key}` | `{shown!r}` | {doc} |" if isinstance(default, str) else f"| `{key}` | `{shown}` | {doc} |")
        out.append("")
    out.append("**[adapters.&lt;source&gt;]** and **[plugins.&lt;name&gt;]**: free-form tables handed to that adapter or plugin.")
    return "\n".join(out)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the configuration from ``path`` / ``$SNTAKEOVER_CONFIG`` / the system file."""
    if path is None:
        path = os.environ.get("SNTAKEOVER_CONFIG") or (SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else None)
    if path is None:
        return build({}, "<defaults>")
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return build(raw, str(p))
