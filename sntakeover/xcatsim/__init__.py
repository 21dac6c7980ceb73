"""A CLI simulator of the xCAT commands the takeover daemon uses.

``init_cluster`` writes a cluster state and a ``bin/`` directory of xCAT-named
executables (snmove, lsdef, chdef, nodels, nodestat, xdsh, rpower, updatenode,
makeconservercf, regnotif, unregnotif, nodeset); put that directory first on
PATH and call them as on an xCAT management node.
"""

from .cluster import (
    bin_dir,
    commands_log,
    fail_sn,
    heal_sn,
    init_cluster,
    load_state,
    set_latency,
    set_node_up,
    summary,
)

__all__ = ["bin_dir", "commands_log", "fail_sn", "heal_sn", "init_cluster", "load_state", "set_latency",
           "set_node_up", "summary"]
