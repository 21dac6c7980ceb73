"""Checks before anything starts: are the programs the plugins need on the configured path,
and does a plugin implement the configured takeover strategy?

Plugins declare the commands they run (``sntakeover_required_commands``); each
is looked up the way the local runner will run it: ``xcat.path`` first, then
``PATH``. They name their strategies (``sntakeover_takeover_strategies``).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from .plugins import Hooks


def search_path(config: Any) -> str:
    return os.pathsep.join([*config.get("xcat", "path"), os.environ.get("PATH", os.defpath)])


def missing_commands(config: Any, hooks: Hooks) -> list[str]:
    """One message per required command that is not found, naming the plugins that need it."""
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
