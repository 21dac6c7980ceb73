"""``sntakeover plugins``: which plugins the daemon loads, and the hooks each implements.

The plugins are loaded exactly as ``sntakeover serve`` loads them (same
configuration: ``daemon.load_entrypoints``, ``daemon.plugins_blocked``), so a
plugin that fails to import or to register shows up here with the reason.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

log = logging.getLogger(__name__)


def describe(pm) -> dict[str, Any]:
    """Loaded plugins (name, source, hooks), failed ones (name, reason) and blocked names."""
    loaded, blocked = [], []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda x: x[0]):
        if plugin is None:
            blocked.append(name)
            continue
        loaded.append({"name": name, "source": pm.sources.get(name, "registered in-process"),
                       "hooks": pm.hooks_of(name)})
    failed = [{"name": n, "error": e} for n, e in sorted(pm.failures.items())]
    return {"loaded": loaded, "failed": failed, "blocked": blocked}


def render(d: dict[str, Any]) -> str:
    out = [f"{len(d['loaded'])} plugin(s) loaded:"]
    for p in d["loaded"]:
        out.append(f"  {p['name']}  ({p['source']})")
        out.append(f"      {', '.join(p['hooks']) or '(no hooks)'}")
    if d["failed"]:
        out.append(f"not loaded ({len(d['failed'])}):")
        out += [f"  {p['name']}: {p['error']}" for p in d["failed"]]
    if d["blocked"]:
        out.append("blocked by daemon.plugins_blocked: " + ", ".join(d["blocked"]))
    return "\n".join(out)


def cmd_plugins(args: argparse.Namespace) -> int:
    from .config import load
    from .plugins import get_plugin_manager

    cfg = load(args.config)
    pm = get_plugin_manager(load_entrypoints=cfg.get("daemon", "load_entrypoints"),
                            blocked=cfg.get("daemon", "plugins_blocked"))
    d = describe(pm)
    print(json.dumps(d, indent=2) if args.json else render(d))
    return 0
