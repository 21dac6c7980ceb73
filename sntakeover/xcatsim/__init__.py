"""A CLI simulator of the xCAT commands the takeover daemon uses.

``init_cluster`` writes a cluster (an SQLite store, see :mod:`.db`) and a
``bin/`` directory of xCAT-named executables (snmove, lsdef, chdef, nodels,
tabdump, nodestat, xdsh, rpower, updatenode, makeconservercf, regnotif,
unregnotif, nodeset); put that directory first on PATH and call them as on an
xCAT management node. Each service node that is up has a real TCP listener on
its own loopback address (see :mod:`.loopback`); ``stop_cluster`` closes them.
"""

from __future__ import annotations

import importlib
from typing import Any

# imported on first use, so the generated commands (which import .commands) start light
_EXPORTS = {name: "cluster" for name in ("bin_dir", "commands_log", "edit_state", "fail_sn", "heal_sn",
                                         "init_cluster", "load_state", "partition_sn", "save_state", "set_latency", "set_node_up",
                                         "stop_cluster", "summary")}
_EXPORTS["stop_all"] = "loopback"
_EXPORTS["started_log"] = _EXPORTS["moved_log"] = "runlog"

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
