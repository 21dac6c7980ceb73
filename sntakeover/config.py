"""Configuration: TOML file over defaults in code; unknown keys are rejected.

Look-up order for the file: ``--config``, ``$SNTAKEOVER_CONFIG``,
``/etc/sntakeover/config.toml`` (if it exists), else defaults only.
Every section and key is listed in :data:`DEFAULTS`; the README's configuration
reference is generated from the same table.
"""

from __future__ import annotations

import copy
import os
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
        "runner": ("local", "'local': run xCAT commands with subprocess on this host (the MN)."),
        "path": ([], "Directories put in front of PATH for xCAT commands (e.g. /opt/xcat/bin)."),
        "command_timeout": (600.0, "Seconds before any one xCAT command is killed."),
        "output_cap": (16 * 1024 * 1024, "Bytes of stdout/stderr kept per command."),
    },
    "confirm": {
        "enabled": (True, "Probe the SN before acting (takeover.request skips this)."),
        "quorum": (2, "Probes that must say 'down' in one round; capped at the probes that can answer."),
        "rounds": (3, "Rounds of probing before giving up as 'not confirmed'."),
        "interval": (5.0, "Seconds between rounds."),
        "tcp_port": (3001, "xcatd port probed on the SN (site.xcatdport)."),
        "tcp_timeout": (3.0, "Seconds for the TCP probe."),
    },
    "fence": {
        "method": ("none", "'none' or 'rpower' (rpower <sn> off, then stat must say off)."),
        "required": (False, "Refuse to move nodes when fencing did not succeed."),
    },
    "takeover": {
        "strategy": ("fast", "Takeover strategy: 'fast' (snmove -i, then snmove's node-side steps fanned out), "
                     "'snmove' (one run per backup SN) or 'parallel' (several at once)."),
        "parallel": (8, "Concurrent snmove runs per backup SN for the 'parallel' strategy."),
        "fast_width": (16, "xCAT commands the 'fast' strategy runs at once (per-node AIX bootlist, niminit)."),
        "max_nodes": (0, "Refuse (incident failed) when more nodes would move; 0 = no limit."),
        "dry_run": (False, "Plan and record the exact commands, change nothing."),
        "snmove_timeout": (3600.0, "Seconds one snmove run may take."),
        "batch_size": (0, "Nodes per snmove call; 0 = all nodes of one backup in one call."),
        "postscripts": ("", "Value for snmove -P (extra postscripts), empty for none."),
        "destn": ({}, "Table backup SN -> its name as known by the nodes (snmove -D); empty = let snmove find the IP."),
        "check_backup": (True, "Leave out nodes whose backup SN does not answer nodestat either."),
    },
    "verify": {
        "retries": (1, "Times to re-read the database when a node is not on its backup yet."),
        "interval": (2.0, "Seconds between verification reads."),
        "node_check": (True, "Also read the server file on every node through xdsh (the node really uses the backup)."),
        "xcatinfo_path": ("/etc/xcatinfo", "File on the node that names its server (XCATSERVER=...)."),
    },
    "adapters": {},
    "plugins": {},
}

#: sections whose sub-tables are free-form (owned by plugins)
FREEFORM = {"adapters", "plugins"}


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
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: expected a table of strings, got {value!r}")
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
    if data["xcat"]["runner"] != "local":
        raise ConfigError(f"{source}: xcat.runner must be 'local' (the daemon runs on the MN)")
    if data["fence"]["method"] not in ("none", "rpower"):
        raise ConfigError(f"{source}: fence.method must be 'none' or 'rpower'")
    if data["fence"]["required"] and data["fence"]["method"] == "none":
        raise ConfigError(f"{source}: fence.required = true needs fence.method other than 'none'")
    if data["confirm"]["quorum"] < 1 or data["confirm"]["rounds"] < 1:
        raise ConfigError(f"{source}: confirm.quorum and confirm.rounds must be at least 1")


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
                where = ".".join([path, *(str(p) for p in err.absolute_path)])
                raise ConfigError(f"{config.source}: {where}: {err.message} (options of {owner})")
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
