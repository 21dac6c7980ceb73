"""Configuration: a TOML file over defaults, validated against ``schemas/config.v1.json``.

Look-up order for the file: ``--config``, ``$SNTAKEOVER_CONFIG``,
``/etc/sntakeover/config.toml`` (if it exists), else defaults only.
The schema lists every section and key with its type, limits, default and
meaning: a key it does not list is rejected with its path, and the README's
configuration reference is generated from it (a test fails when they drift).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

SYSTEM_CONFIG = Path("/etc/sntakeover/config.toml")

#: the schema every configuration file is validated against (schemas/config.v1.json)
SCHEMA_NAME = "config.v1.json"

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
    def store_path(self) -> Path | str:
        """The SQLite file, or the ``postgresql://`` URL as given."""
        value = self.data["daemon"]["store"]
        if value.startswith(("postgresql://", "postgres://")):
            return value
        return Path(value or self.state_dir / "sntakeover.db")

    def adapter_options(self, source: str) -> dict[str, Any]:
        return dict(self.data["adapters"].get(source, {}))


@functools.cache
def schema() -> dict[str, Any]:
    """The configuration schema (``schemas/config.v1.json``), read once."""
    from .validation import schema_text

    return json.loads(schema_text(SCHEMA_NAME))


def sections() -> dict[str, dict[str, Any]]:
    """Section name -> its sub-schema, in file order."""
    return schema()["properties"]


#: sections whose sub-tables belong to adapters and plugins (each checked against its owner's schema)
FREEFORM = frozenset(("adapters", "plugins"))


def defaults() -> dict[str, dict[str, Any]]:
    return {
        name: {key: copy.deepcopy(p["default"]) for key, p in sub.get("properties", {}).items()}
        for name, sub in sections().items()
    }


_KINDS = {"integer": "an integer", "number": "a number", "boolean": "true or false", "string": "a string",
          "array": "a list", "object": "a table"}


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(err: Any) -> str:
    """One validation error in an admin's words, prefixed with the key it is about."""
    import difflib

    from .validation import error_message

    path = list(err.absolute_path)
    where = _where(path)
    if err.validator == "additionalProperties":
        known = list(err.schema.get("properties", {}))
        unknown = sorted(set(err.instance) - set(known))
        if not path:
            names = ", ".join(f"[{u}]" for u in unknown)
            what = f"unknown section {names} (known: {', '.join(known)})"
        else:
            names = ", ".join(f"'{where}.{u}'" for u in unknown)
            what = f"unknown key {names} (known in [{where}]: {', '.join(known)})"
        close = difflib.get_close_matches(unknown[0], known, n=1) if unknown else []
        return what + (f"; did you mean '{close[0]}'?" if close else "")
    value = err.instance
    if err.validator == "type":
        kind = " or ".join(_KINDS.get(t, t) for t in ([err.validator_value] if isinstance(err.validator_value, str) else err.validator_value))
        if path and path[0] in FREEFORM and len(path) == 2:
            return f"[{where}] must be a table"
        what = f"expected {kind}, got {value!r}"
    elif err.validator == "minimum":
        what = f"must be at least {err.validator_value}, got {value!r}"
    elif err.validator == "maximum":
        what = f"must be at most {err.validator_value}, got {value!r}"
    elif err.validator == "exclusiveMinimum":
        what = f"must be more than {err.validator_value}, got {value!r}"
    elif err.validator == "enum":
        options = [repr(v) for v in err.validator_value]
        what = "must be " + (", ".join(options[:-1]) + " or " if len(options) > 1 else "") + f"{options[-1]}, got {value!r}"
    elif err.validator == "required":
        missing = [k for k in err.validator_value if k not in value]
        what = ", ".join(f"'{where}.{k}'" if where else f"[{k}]" for k in missing) + " missing"
        where = ""
    elif err.validator == "minLength":
        what = "must not be empty"
    else:
        what = error_message(err)
    rule = next((s["description"].rstrip(".") for s in _rules_on(err) if s.get("description")), None)
    return f"{where}: {what}" + (f" ({rule})" if rule else "") if where else what + (f" ({rule})" if rule else "")


def _rules_on(err: Any) -> list[dict[str, Any]]:
    """The cross-key rules (``allOf`` entries of the schema) an error came from."""
    sp = list(err.absolute_schema_path)
    if len(sp) >= 2 and sp[0] == "allOf":
        return [schema()["allOf"][sp[1]]]
    return []


@functools.cache
def _validator() -> Any:
    import jsonschema

    cls = jsonschema.Draft202012Validator
    return cls(schema(), format_checker=cls.FORMAT_CHECKER)


def validate(raw: dict[str, Any], source: str = "<dict>") -> None:
    """Check a parsed configuration document against the schema.

    :raises ConfigError: naming every wrong key with its path, one per line.
    """
    for section, table in raw.items():
        if isinstance(table, dict):
            for key in table:
                if f"{section}.{key}" in RENAMED:
                    raise ConfigError(f"{source}: '{section}.{key}' no longer exists; use {RENAMED[section + '.' + key]}")
    errors = sorted(_validator().iter_errors(raw), key=lambda e: (list(map(str, e.absolute_path)), str(e.message)))
    if errors:
        lines = list(dict.fromkeys(f"{source}: {_explain(e)}" for e in errors))
        if len(lines) > 20:
            lines[20:] = [f"{source}: ... and {len(lines) - 20} more"]
        raise ConfigError("\n".join(lines))


def build(raw: dict[str, Any], source: str = "<dict>") -> Config:
    """Validate ``raw`` (a parsed TOML document) and merge it over the defaults."""
    validate(raw, source)
    data = defaults()
    for section, table in raw.items():
        props = sections()[section].get("properties")
        for key, value in table.items():
            if props is None:
                data[section][key] = dict(value)
            elif props[key]["type"] == "number":
                data[section][key] = float(value)
            elif props[key]["type"] == "integer":
                data[section][key] = int(value)
            else:
                data[section][key] = copy.deepcopy(value)
    return Config(data, source)

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
    """The configuration reference as Markdown, generated from the schema (the README carries this text)."""
    out = []
    for section, sub in sections().items():
        if "properties" not in sub:
            continue
        out.append(f"**[{section}]** {sub.get('description', '')}".rstrip() + "\n")
        out.append("| key | default | meaning |\n|---|---|---|")
        for key, p in sub["properties"].items():
            default = p["default"]
            shown = repr(default) if isinstance(default, str) else json.dumps(default) if isinstance(default, (bool, list, dict)) else default
            doc = p["description"].replace("<", "&lt;").replace(">", "&gt;")
            out.append(f"| `{key}` | `{shown}` | {doc} |")
        out.append("")
    out.append("**[adapters.&lt;source&gt;]** and **[plugins.&lt;name&gt;]**: free-form tables handed to that adapter or plugin, "
               "each checked against the schema its owner declares (`sntakeover check-config`).")
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
