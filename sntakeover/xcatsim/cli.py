"""``sntakeover sim ...``: create and manipulate a simulated cluster.

    sim init --dir D [--nodes N] [--sns sn1,sn2,...] [--os AIX|Linux] [--latency S] [--no-listeners]
    sim fail SN | heal SN | partition SN | join SN | node-down NODE | node-up NODE   --dir D
    sim show --dir D [--json]
    sim stop --dir D

``--dir`` defaults to ``$XCATSIM_DIR``. ``init`` starts the cluster's listener
agent (a real TCP listener per SN that is up, on loopback); it runs until
``sim stop`` or until the cluster directory is removed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import cluster
from .state import StateError

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sntakeover sim", description="simulated xCAT cluster",
                                epilog="--dir defaults to $XCATSIM_DIR")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--dir", default=os.environ.get("XCATSIM_DIR"), help="cluster directory ($XCATSIM_DIR)")
        return sp

    sp = add("init", "create a cluster (and start its SN listeners)")
    sp.add_argument("--nodes", type=int, default=64, help="compute nodes")
    sp.add_argument("--sns", default="sn1,sn2,sn3,sn4", help="service nodes, paired in order")
    sp.add_argument("--os", choices=("AIX", "Linux"), default="AIX")
    sp.add_argument("--latency", type=float, default=0.0, help="seconds per simulated network round trip")
    sp.add_argument("--extnfs", default="extnfs01", help="external NFS server of the nodes ('' for none)")
    sp.add_argument("--no-listeners", action="store_true", help="no TCP listeners for the SNs (no agent process)")
    for name, what, help_ in (("fail", "SN", "the SN's OS goes down (no ping, no ssh, xcatd port refuses)"),
                              ("heal", "SN", "the SN is powered on and up again"),
                              ("partition", "SN", "the MN cannot reach the SN (it runs and serves its nodes)"),
                              ("join", "SN", "the MN reaches the SN again"),
                              ("node-down", "NODE", "a node (compute or SN) stops answering"),
                              ("node-up", "NODE", "a node answers again")):
        add(name, help_).add_argument("target", metavar=what)
    add("show", "show SN states").add_argument("--json", action="store_true")
    add("stop", "close the SN listeners and stop the agent (the cluster stays)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.dir:
        print("sim: --dir or XCATSIM_DIR is required", file=sys.stderr)
        return 2
    try:
        if args.cmd == "init":
            d = cluster.init_cluster(args.dir, nodes=args.nodes, sns=[s for s in args.sns.split(",") if s],
                                     os=args.os, latency=args.latency, extnfs=args.extnfs,
                                     listeners=not args.no_listeners, detach=True)
            print(f"cluster created in {d}; put {cluster.bin_dir(d)} first on PATH")
            if not args.no_listeners:
                print(f"SN listeners are running; stop them with: sntakeover sim stop --dir {d}")
        elif args.cmd == "stop":
            if not cluster.stop_cluster(args.dir):
                print(f"sim: no listener agent runs for {args.dir}", file=sys.stderr)
        elif args.cmd == "fail":
            cluster.fail_sn(args.dir, args.target)
        elif args.cmd == "heal":
            cluster.heal_sn(args.dir, args.target)
        elif args.cmd in ("partition", "join"):
            cluster.partition_sn(args.dir, args.target, args.cmd == "partition")
        elif args.cmd in ("node-down", "node-up"):
            cluster.set_node_up(args.dir, args.target, args.cmd == "node-up")
        else:
            state = cluster.load_state(args.dir)
            if args.json:
                print(cluster.dumps_summary(state))
            else:
                s = cluster.summary(state)
                print(f"{'SN':<8} {'state':<6} {'power':<6} first-for")
                for sn, info in s["sns"].items():
                    print(f"{sn:<8} {'up' if info['up'] else 'DOWN':<6} {info['power']:<6} {info['first_for']}")
                print(f"compute nodes: {s['nodes']}, down: {','.join(s['nodes_down']) or '-'}, "
                      f"latency: {s['latency']}s")
    except (KeyError, OSError, ValueError, StateError) as e:
        print(f"sim: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
