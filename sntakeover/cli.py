"""The ``sntakeover`` command.

Exit codes: 0 success; 1 refused or failed (an invalid event, a bad
configuration, an incident not found); 2 usage error; 3 no daemon answered.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from . import __version__
from .errors import SntakeoverError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NODAEMON = 0, 1, 2, 3
KINDS = ("sn.down", "sn.up", "node.unreachable", "takeover.request", "takeover.cancel")


def setup_logging(level: str = "info") -> None:
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=fmt, stream=sys.stderr, force=True)


def _config(args: argparse.Namespace):
    from .config import load

    return load(getattr(args, "config", None))


def _endpoint(args: argparse.Namespace) -> str:
    if getattr(args, "endpoint", None):
        return args.endpoint
    if os.environ.get("SNTAKEOVER_ENDPOINT"):
        return os.environ["SNTAKEOVER_ENDPOINT"]
    return _config(args).endpoint


# -- serve -------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from .daemon import Daemon

    cfg = _config(args)
    setup_logging(args.log_level or cfg.get("daemon", "log_level"))
    return Daemon(cfg).serve()


# -- send --------------------------------------------------------------------------


def build_event(args: argparse.Namespace) -> dict[str, Any]:
    if args.json:
        text = sys.stdin.read() if args.json == "-" else open(args.json, encoding="utf-8").read()
        try:
            return json.loads(text)
        except ValueError as exc:
            raise SntakeoverError(f"{args.json}: not valid JSON: {exc}") from None
    if not args.kind or not args.servicenode:
        raise SntakeoverError("give --kind and --servicenode, or --json FILE")
    t = args.time or datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    source: dict[str, Any] = {"tool": args.tool}
    if args.host:
        source["host"] = args.host
    if args.ref:
        source["ref"] = args.ref
    ev: dict[str, Any] = {
        "id": args.id or (f"{args.tool}:{args.kind}:{args.servicenode}:{args.ref}" if args.ref else str(uuid.uuid4())),
        "kind": args.kind,
        "servicenode": args.servicenode,
        "source": source,
        "time": t,
    }
    if args.nodes:
        ev["nodes"] = [n for n in args.nodes.split(",") if n]
    for key in ("state_type", "severity", "detail"):
        if getattr(args, key):
            ev[key] = getattr(args, key)
    if args.in_downtime:
        ev["in_downtime"] = True
    return ev


def cmd_send(args: argparse.Namespace) -> int:
    from .client import NoDaemon, send_event

    try:
        ev = build_event(args)
    except SntakeoverError as exc:
        print(f"sntakeover send: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reply = send_event(ev, endpoint=_endpoint(args), timeout=args.timeout, retries=args.retries)
    except NoDaemon as exc:
        print(f"sntakeover send: {exc}", file=sys.stderr)
        return EXIT_NODAEMON
    print(json.dumps(reply))
    if not reply.get("ok"):
        print(f"sntakeover send: rejected: {reply.get('error')}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


# -- status / incidents / show ------------------------------------------------------


def _store(args: argparse.Namespace):
    from .store import Store

    cfg = _config(args)
    if not cfg.store_path.exists():
        raise SntakeoverError(f"no store at {cfg.store_path}")
    return Store(cfg.store_path, readonly=True)


def cmd_status(args: argparse.Namespace) -> int:
    from .client import NoDaemon, request

    try:
        reply = request({"v": 1, "op": "status"}, endpoint=_endpoint(args), timeout=args.timeout, retries=1)
    except NoDaemon as exc:
        print(f"sntakeover status: {exc}", file=sys.stderr)
        return EXIT_NODAEMON
    if args.json:
        print(json.dumps(reply, indent=2))
        return EXIT_OK
    st = reply.get("status", {})
    print(f"sntakeover {st.get('version')} pid {st.get('pid')} up {st.get('uptime')}s on {st.get('endpoint')}")
    print(f"store {st.get('store')}: {st.get('events')} event(s), {st.get('events_pending')} pending")
    if st.get("paused"):
        p = st["paused"]
        print(f"PAUSED by {p['by']} since {p['since']}{': ' + p['reason'] if p.get('reason') else ''} -- nothing "
              "moves until `sntakeover resume`")
    if st.get("breaker"):
        b = st["breaker"]
        print(f"CIRCUIT BREAKER TRIPPED at {b['since']}: {b['reason']} -- `sntakeover breaker reset` when safe")
    for m in st.get("maintenance", []):
        print(f"maintenance: {m['servicenode']} until {m['until']} (by {m['by']}{': ' + m['reason'] if m['reason'] else ''})")
    for inc in st.get("open_incidents", []):
        print(f"  incident {inc['id']}: {inc['servicenode']} {inc['state']}: {inc.get('why', '')}")
    if not st.get("open_incidents"):
        print("  no open incident")
    for name, why in sorted(st.get("plugin_failures", {}).items()):
        print(f"  plugin {name} not loaded: {why}")
    c = reply.get("counters", {})
    print("counters: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items())))
    return EXIT_OK


def cmd_incidents(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = store.incidents(args.limit)
    if args.json:
        print(json.dumps([dict(r) for r in rows], indent=2))
        return EXIT_OK
    if not rows:
        print("no incident")
    for r in rows:
        n = store.query("SELECT status, COUNT(*) AS c FROM nodes WHERE incident_id = ? GROUP BY status", (r["id"],))
        counts = ", ".join(f"{x['c']} {x['status']}" for x in n) or "no nodes"
        print(f"{r['id']:>5}  {r['servicenode']:<12} {r['state']:<11} {r['opened']}  {counts}  {r['reason'][:80]}")
    return EXIT_OK


def render_incident(s: dict[str, Any]) -> str:
    out = [f"incident {s['id']}  service node {s['servicenode']}  state {s['state']}",
           f"opened {s['opened']}  closed {s['closed'] or '-'}",
           f"why: {s.get('why', s['reason'])}"]
    if s.get("sources"):
        out.append("events: " + ", ".join(f"{k} x{v}" for k, v in sorted(s["sources"].items())))
    for a in s.get("approvals", []):
        out.append(f"approved ({a['gate']}) by {a['by']} at {a['time']}{': ' + a['comment'] if a.get('comment') else ''}")
    out += ["", "timeline:"]
    for t in s["timeline"]:
        arrow = f"{t['from_state'] or '-'} -> {t['to_state']}" if t["to_state"] else "note"
        out.append(f"  {t['time']}  {arrow:<24} {t['reason']}")
    if s["commands"]:
        out += ["", "xCAT commands:"]
        for c in s["commands"]:
            argv = [a if len(a) < 60 or "," not in a else f"<{a.count(',') + 1} nodes>" for a in json.loads(c["argv"])]
            shown = " ".join(argv)
            out.append(f"  {c['started']}  rc={c['rc']}{' TIMEOUT' if c['timed_out'] else ''}  {shown}")
    if s["nodes"]:
        out += ["", "nodes:"]
        for n in s["nodes"]:
            out.append(f"  {n['node']:<14} {n['source']} -> {n['backup'] or '-':<10} {n['status']:<10} {n['detail']}")
    return "\n".join(out)


def cmd_show(args: argparse.Namespace) -> int:
    from .records import summary

    store = _store(args)
    try:
        s = summary(store, args.id)
    except KeyError:
        print(f"sntakeover show: no incident {args.id}", file=sys.stderr)
        return EXIT_FAIL
    print(json.dumps(s, indent=2) if args.json else render_incident(s))
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    from .config import check_options
    from .plugins import Hooks, get_plugin_manager, plugin_names
    from .validation import load_validators

    cfg = _config(args)
    validators = load_validators()
    pm = get_plugin_manager(load_entrypoints=cfg.get("daemon", "load_entrypoints"),
                            blocked=cfg.get("daemon", "plugins_blocked"))
    for name, why in sorted(pm.failures.items()):
        print(f"warning: plugin {name} is not loaded: {why}", file=sys.stderr)
    hooks = Hooks(pm)
    for warning in check_options(cfg, hooks.options_schemas()):
        print(f"warning: {warning}", file=sys.stderr)
    from .preflight import missing_commands

    missing = missing_commands(cfg, hooks)
    for line in missing:
        print(f"sntakeover check-config: {line}", file=sys.stderr)
    if missing:
        return EXIT_FAIL
    print(f"configuration {cfg.source}: OK")
    print(f"  endpoint {cfg.endpoint}")
    print(f"  store    {cfg.store_path}")
    print(f"  schemas  {', '.join(sorted(validators.names()))}")
    print(f"  plugins  {', '.join(plugin_names(pm))}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugincli import cmd_plugins as run

    return run(args)


def cmd_sim(args: argparse.Namespace) -> int:
    from .xcatsim.cli import main as sim_main

    return sim_main(args.rest)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(nodes=args.nodes, sns=args.sns, latency=args.latency, keep=args.keep)


# -- parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sntakeover", description="Event-driven xCAT service-node takeover.")
    p.add_argument("--version", action="version", version=f"sntakeover {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, endpoint: bool = False) -> None:
        sp.add_argument("--config", "-c", help="configuration file (default: $SNTAKEOVER_CONFIG or /etc/sntakeover/config.toml)")
        if endpoint:
            sp.add_argument("--endpoint", help="daemon endpoint (default: from the configuration, or $SNTAKEOVER_ENDPOINT)")
            sp.add_argument("--timeout", type=float, default=2.5, help="seconds to wait for a reply per attempt")
            sp.add_argument("--retries", type=int, default=3, help="attempts before giving up")

    sp = sub.add_parser("serve", help="run the daemon in the foreground")
    common(sp)
    sp.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("send", help="send one event to the daemon (what every hook uses)")
    common(sp, endpoint=True)
    sp.add_argument("--json", metavar="FILE", help="event as JSON from FILE ('-' = stdin)")
    sp.add_argument("--kind", choices=KINDS)
    sp.add_argument("--servicenode", "-s", metavar="SN")
    sp.add_argument("--id", help="idempotency key (default: tool:kind:sn:ref, or a random id)")
    sp.add_argument("--nodes", help="comma list of compute nodes")
    sp.add_argument("--tool", default="cli", help="source tool name")
    sp.add_argument("--host", help="source host")
    sp.add_argument("--ref", help="upstream problem id / fingerprint")
    sp.add_argument("--time", help="RFC 3339 time (default: now)")
    sp.add_argument("--state-type", choices=("hard", "soft"))
    sp.add_argument("--severity")
    sp.add_argument("--in-downtime", action="store_true")
    sp.add_argument("--detail")
    sp.set_defaults(func=cmd_send)

    sp = sub.add_parser("status", help="ask the daemon how it is")
    common(sp, endpoint=True)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("incidents", help="list incidents from the store")
    common(sp)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--limit", type=int, default=50)
    sp.set_defaults(func=cmd_incidents)

    sp = sub.add_parser("show", help="show one incident: timeline, commands, nodes")
    common(sp)
    sp.add_argument("id", type=int)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("check-config", help="validate the configuration, schemas and plugins without starting")
    common(sp)
    sp.set_defaults(func=cmd_check_config)

    sp = sub.add_parser("plugins", help="list the plugins the daemon loads and the hooks each implements")
    common(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_plugins)

    from .retention import register as register_prune

    register_prune(sub)

    sp = sub.add_parser("demo", help="run a takeover on a simulated 64-node cluster and print the result")
    sp.add_argument("--nodes", type=int, default=64)
    sp.add_argument("--sns", default="sn1,sn2,sn3,sn4")
    sp.add_argument("--latency", type=float, default=0.0, help="simulated seconds per xCAT round trip")
    sp.add_argument("--keep", action="store_true", help="keep the temporary directory")
    sp.set_defaults(func=cmd_demo)

    # everything after "sim" (options too, e.g. --help) goes to the simulator's own parser:
    # with no prefix characters this parser never mistakes them for its options
    sp = sub.add_parser("sim", help="the xCAT simulator: sim init|fail|heal|show|stop ...", add_help=False,
                        prefix_chars="\0")
    sp.add_argument("rest", nargs=argparse.REMAINDER)
    sp.set_defaults(func=cmd_sim)

    from . import cli_control

    cli_control.register(sub, common)
    try:
        from . import hookcli
    except ImportError:
        hookcli = None  # type: ignore[assignment]
    if hookcli is not None and hasattr(hookcli, "register"):
        hookcli.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SntakeoverError as exc:
        print(f"sntakeover {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
