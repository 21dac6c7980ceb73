"""Checks before anything starts: are the programs the plugins need on the configured path,
and does a plugin implement the configured takeover strategy?

Plugins declare the commands they run (``sntakeover_required_commands``); each
is looked up the way the local runner will run it: ``xcat.path`` first, then
``PATH``. They name their strategies (``sntakeover_takeover_strategies``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .plugins import Hooks


def search_path(config: Any) -> str:
    return os.pathsep.join([*config.get("xcat", "path"), os.environ.get("PATH", os.defpath)])


def missing_commands(config: Any, hooks: Hooks) -> list[str]:
    """One message per required command that is not found, naming the plugins that need it.

    With ``xcat.runner = "ssh"`` the commands run on the MN and cannot be looked up
    here; what the runner needs locally is checked instead: its key and known_hosts files.
    """
    if config.get("xcat", "runner") == "ssh":
        return [f"ssh.{key}: {config.get('ssh', key)}: cannot be read ({why})"
                for key in ("key_file", "known_hosts") if (why := _unreadable(config.get("ssh", key)))]
    path = search_path(config)
    out = []
    for name, plugins in sorted(hooks.required_commands(config).items()):
        if shutil.which(name, path=path) is None:
            out.append(f"{name}: not found on xcat.path + PATH (needed by {', '.join(sorted(plugins))})")
    return out


def unknown_strategy(config: Any, hooks: Hooks) -> str | None:
    """Why ``takeover.strategy`` cannot work with the loaded plugins, or ``None``."""
    strategy = config.get("takeover", "strategy")
    names, silent = hooks.takeover_strategies()
    if strategy in names or silent:
        return None
    known = ", ".join(sorted(names)) or "none"
    return f"takeover.strategy = {strategy!r}: no loaded plugin implements it (known: {known})"


def where_commands_run(config: Any) -> str:
    """Where the xCAT commands are looked for and run, in words."""
    if config.get("xcat", "runner") == "ssh":
        return f"run on {config.get('ssh', 'host')} over SSH (not looked up here)"
    return f"looked up on xcat.path ({', '.join(config.get('xcat', 'path'))}) + PATH"


def _unreadable(path: str) -> str:
    try:
        with open(path, "rb"):
            return ""
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def unusable_dirs(config: Any) -> list[str]:
    """The daemon's directories that are not directories, or cannot be made where they would be."""
    out = []
    for key in ("state_dir", "runtime_dir"):
        path = Path(config.get("daemon", key))
        if path.exists():
            if not path.is_dir():
                out.append(f"daemon.{key}: {path}: is not a directory")
            continue
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            out.append(f"daemon.{key}: {path}: cannot be made ({parent} is not a directory)")
        elif parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            out.append(f"daemon.{key}: {path}: cannot be made ({parent} is not writable for this user)")
    return out
