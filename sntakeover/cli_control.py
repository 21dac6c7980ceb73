"""``sntakeover plan``, and the control verbs a human gives the daemon:
``approve``, ``reject``, ``retry``, ``pause``, ``resume``, ``breaker``, ``maintenance``.

``plan`` runs here, read-only, against the live xCAT tables. The control verbs
are requests to the daemon (it owns the store and acts on them at once); each
prints what the daemon did, or why it would not.
"""

from __future__ import annotations

import argparse
import getpass
import json
import shlex
import socket
import sys
from typing import Any

from .clicommon import client_keys, endpoint, load_config
from .exitcodes import FAILED as EXIT_FAIL
from .exitcodes import NO_DAEMON as EXIT_NODAEMON
from .exitcodes import OK as EXIT_OK
from .exitcodes import USAGE as EXIT_USAGE
from .printable import printable


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname().split('.')[0]}"


def _send_control(args: argparse.Namespace, name: str, **fields: Any) -> int:
    from .client import BadReply, NoDaemon, request
    from .exitcodes import BAD_REPLY

    req = {"v": 1, "op": "control", "action": name, "by": whoami(), **{k: v for k, v in fields.items() if v is not None}}
    if getattr(args, "comment", None):
        req["comment"] = args.comment
    try:
        reply = request(req, endpoint=endpoint(args), timeout=args.timeout, retries=args.retries,
                        keys=client_keys(args))
    except NoDaemon as exc:
        print(f"sntakeover {args.command}: {exc}", file=sys.stderr)
        return EXIT_NODAEMON
    except BadReply as exc:
        print(f"sntakeover {args.command}: {exc}", file=sys.stderr)
        return BAD_REPLY
    if not reply.get("ok"):
        print(printable(f"sntakeover {args.command}: {reply.get('error')}"), file=sys.stderr)
        return EXIT_FAIL
    print(printable(reply.get("message", "done")))
    return EXIT_OK


def _say(text: str) -> None:
    """One line of the plan: table values and xCAT's words in it are escaped."""
    print(printable(text))


def cmd_approve(args: argparse.Namespace) -> int:
    return _send_control(args, "approve", incident=args.id)


def cmd_reject(args: argparse.Namespace) -> int:
    return _send_control(args, "reject", incident=args.id)


def cmd_retry(args: argparse.Namespace) -> int:
    return _send_control(args, "retry", incident=args.id)


def cmd_pause(args: argparse.Namespace) -> int:
    return _send_control(args, "pause")


def cmd_resume(args: argparse.Namespace) -> int:
    return _send_control(args, "resume")


def cmd_breaker(args: argparse.Namespace) -> int:
    if args.action == "reset":
        return _send_control(args, "breaker-reset")
    from .cli_records import cmd_status

    args.json = False
    return cmd_status(args)


def cmd_maintenance(args: argparse.Namespace) -> int:
    if args.end:
        return _send_control(args, "maintenance-end", servicenode=args.servicenode)
    if not args.until:
        print("sntakeover maintenance: give --until TIME (e.g. 2h, 2026-12-01T06:00:00Z) or --end", file=sys.stderr)
        return EXIT_USAGE
    return _send_control(args, "maintenance", servicenode=args.servicenode, until=args.until)


# -- plan ------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    """What a takeover of SN would do now, from the live tables; changes nothing."""
    from .confirm import tally
    from .context import Context
    from .runner import make_runner
    from .model import Incident, State
    from .plugins import Hooks, get_plugin_manager
    from .xcatdb import nodes_served_by
    from .xcatout import valid_name

    if not valid_name(args.servicenode):
        print(f"sntakeover plan: {args.servicenode!r} is not an xCAT node name (letters, digits, '.', '_' and '-', "
              "starting with a letter or digit, at most 63 characters)", file=sys.stderr)
        return EXIT_USAGE
    cfg = load_config(args)
    hooks = Hooks(get_plugin_manager(load_entrypoints=cfg.get("daemon", "load_entrypoints"),
                                     blocked=cfg.get("daemon", "plugins_blocked")))
    notes: list[str] = []
    ctx = Context(config=cfg, runner=make_runner(cfg), note=notes.append)
    inc = Incident(0, args.servicenode, State.CONFIRMED, "", nodes=tuple(args.nodes.split(",")) if args.nodes else ())
    plan = hooks.plan(inc, ctx)
    if plan is None:
        print("sntakeover plan: no plugin could plan the takeover", file=sys.stderr)
        return EXIT_FAIL
    strategy = cfg.get("takeover", "strategy")
    res = hooks.takeover(strategy, inc, plan, ctx, dry_run=True) if plan.moves else None
    backups: dict[str, dict[str, Any]] = {}
    for backup, nodes in sorted(plan.by_backup().items()):
        info: dict[str, Any] = {"nodes": len(nodes)}
        if args.probe:
            rnd = tally(hooks.probe(backup, "backup", inc, ctx), (), cfg.get("confirm", "quorum"))
            info["healthy"] = rnd.verdict == "up" and not rnd.down
            info["probes"] = rnd.describe()
        cap = cfg.get("backup", "capacity_per_sn").get(backup, cfg.get("backup", "capacity"))
        if cap:
            served = len(nodes_served_by(ctx, backup, "servicenode"))
            info.update(capacity=cap, serves_now=served, would_serve=served + len(nodes))
        backups[backup] = info
    above = cfg.get("approval", "above_nodes")
    out = {
        "servicenode": args.servicenode,
        "strategy": strategy,
        "moves": [{"node": m.node, "backup": m.backup, "servicenode": m.servicenode, "solo": m.solo}
                  for m in plan.moves],
        "skipped": plan.skipped,
        "warnings": list(plan.warnings),
        "commands": [list(c) for c in (res.commands if res else ())],
        "backups": backups,
        "needs_approval": bool(above and len(plan.moves) > above),
        "fence": cfg.get("fence", "policy"),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(f"takeover plan for {args.servicenode} (nothing is changed; strategy {strategy}, fence.policy "
          f"{out['fence']}):")
    _say(f"  {len(plan.moves)} node(s) would move, {len(plan.skipped)} would be left out")
    for m in plan.moves:
        _say(f"  {m.node:<16} {m.servicenode:<20} -> {m.backup}{'   (own snmove call)' if m.solo else ''}")
    for node, why in plan.skipped.items():
        _say(f"  {node:<16} NOT MOVED: {why}")
    for backup, info in backups.items():
        line = f"  backup {backup}: {info['nodes']} node(s)"
        if "healthy" in info:
            line += ("; passes the probes" if info["healthy"] else "; DOES NOT pass the probes") + f" ({info['probes']})"
        if "capacity" in info:
            line += f"; would serve {info['would_serve']} of capacity {info['capacity']}"
        _say(line)
    for w in plan.warnings:
        _say(f"  warning: {w}")
    if out["needs_approval"]:
        _say(f"  an incident this size waits for `sntakeover approve` (approval.above_nodes = {above})")
    if res is not None:
        _say("commands:")
        for c in res.commands:
            _say("  " + shlex.join(c))
    return EXIT_OK


def register(sub: Any, common) -> None:
    """Add the commands to the main parser; ``common(sp, endpoint=True)`` adds the shared options."""
    sp = sub.add_parser("plan", help="show, from the live xCAT tables, what a takeover of SN would do (changes nothing)")
    common(sp)
    sp.add_argument("servicenode", metavar="SN")
    sp.add_argument("--nodes", help="only these compute nodes (comma list)")
    sp.add_argument("--no-probe", dest="probe", action="store_false", help="do not probe the backup SNs")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_plan)

    for name, func, what in (("approve", cmd_approve, "let a waiting incident go on (approval, unconfirmed "
                                                      "evidence, fence done by hand, rate limit, hold-down)"),
                             ("reject", cmd_reject, "stop a waiting incident (before anything moved: cancel it)"),
                             ("retry", cmd_retry, "run the node-side steps again for the nodes of a partial incident "
                                                  "that failed verification, then verify them (never the database move)")):
        sp = sub.add_parser(name, help=what)
        common(sp, endpoint=True)
        sp.add_argument("id", type=int, metavar="ID")
        sp.add_argument("--comment", "-m", help="why (goes on the incident's timeline)")
        sp.set_defaults(func=func)

    sp = sub.add_parser("pause", help="kill switch: no incident fences or moves anything until resume")
    common(sp, endpoint=True)
    sp.add_argument("--comment", "-m", help="why")
    sp.set_defaults(func=cmd_pause)
    sp = sub.add_parser("resume", help="undo pause")
    common(sp, endpoint=True)
    sp.add_argument("--comment", "-m", help="why")
    sp.set_defaults(func=cmd_resume)

    sp = sub.add_parser("breaker", help="the circuit breaker: 'status', or 'reset' after checking the network and MN")
    common(sp, endpoint=True)
    sp.add_argument("action", choices=("status", "reset"))
    sp.add_argument("--comment", "-m", help="why it is safe to go on")
    sp.set_defaults(func=cmd_breaker)

    sp = sub.add_parser("maintenance", help="declare a service node in maintenance: no takeover while it lasts")
    common(sp, endpoint=True)
    sp.add_argument("servicenode", metavar="SN")
    when = sp.add_mutually_exclusive_group()
    when.add_argument("--until", help="end: a time (2026-12-01T06:00:00Z) or a span from now (90m, 2h, 1d)")
    when.add_argument("--end", action="store_true", help="end the maintenance now")
    sp.add_argument("--comment", "-m", help="why")
    sp.set_defaults(func=cmd_maintenance)
