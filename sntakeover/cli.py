"""The ``sntakeover`` command: the parser, and the commands that start or drive things
(``serve``, ``send``, ``check-config``, ``plugins``, ``demo``, ``sim``).

The commands that read the record live in :mod:`cli_records`, the control
verbs in :mod:`cli_control`, the monitoring hooks in :mod:`hookcli`; exit
codes are the one table in :mod:`exitcodes`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from . import __version__, clicommon, exitcodes
from .clicommon import common, endpoint, load_config, setup_logging
from .errors import SntakeoverError
from .printable import printable

log = logging.getLogger(__name__)

KINDS = ("sn.down", "sn.up", "node.unreachable", "takeover.request", "takeover.cancel")


# -- serve -------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from .daemon import Daemon

    cfg = load_config(args)
    setup_logging(args.log_level or cfg.get("daemon", "log_level"))
    return Daemon(cfg).serve()


# -- send --------------------------------------------------------------------------


def build_event(args: argparse.Namespace) -> dict[str, Any]:
    if args.json:
        try:
            text = sys.stdin.read() if args.json == "-" else open(args.json, encoding="utf-8").read()
        except OSError as exc:
            raise SntakeoverError(f"{args.json}: cannot be read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise SntakeoverError(f"{args.json}: not UTF-8 text: {exc}") from None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise SntakeoverError(f"{args.json}: not valid JSON: {exc}") from None
        except RecursionError:
            raise SntakeoverError(f"{args.json}: JSON nested too deeply to be an event") from None
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
    from .client import BadReply, NoDaemon, send_event

    try:
        ev = build_event(args)
    except SntakeoverError as exc:
        print(f"sntakeover send: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        reply = send_event(ev, endpoint=endpoint(args), timeout=args.timeout, retries=args.retries,
                           keys=clicommon.client_keys(args))
    except NoDaemon as exc:
        print(f"sntakeover send: {exc}; the event was NOT delivered", file=sys.stderr)
        return exitcodes.NO_DAEMON
    except BadReply as exc:
        print(f"sntakeover send: {exc}", file=sys.stderr)
        return exitcodes.BAD_REPLY
    print(json.dumps(reply))
    if not reply.get("ok"):
        print(printable(f"sntakeover send: rejected by the daemon: {reply.get('error')}"), file=sys.stderr)
        return exitcodes.REFUSED
    return exitcodes.OK


def cmd_check_config(args: argparse.Namespace) -> int:
    from .config import check_options
    from .plugins import Hooks, get_plugin_manager, plugin_names
    from .validation import load_validators

    cfg = load_config(args)
    validators = load_validators()
    pm = get_plugin_manager(load_entrypoints=cfg.get("daemon", "load_entrypoints"),
                            blocked=cfg.get("daemon", "plugins_blocked"))
    for name, why in sorted(pm.failures.items()):
        print(f"warning: plugin {name} is not loaded: {why}", file=sys.stderr)
    hooks = Hooks(pm)
    for warning in check_options(cfg, hooks.options_schemas()):
        print(f"warning: {warning}", file=sys.stderr)
    from .auth import server_setup
    from .pgstore import redact
    from .preflight import missing_commands, unknown_strategy, unusable_dirs, where_commands_run

    server_setup(cfg)  # a tcp:// endpoint: its keys, as the daemon checks them at start (raises ConfigError)
    missing = missing_commands(cfg, hooks)
    strategy = unknown_strategy(cfg, hooks)
    if strategy:
        missing.append(strategy)
    missing += unusable_dirs(cfg)
    for line in missing:
        print(f"sntakeover check-config: {line}", file=sys.stderr)
    if missing:
        return exitcodes.FAILED
    print(f"configuration {cfg.source}: OK")
    print(f"  endpoint {cfg.endpoint}")
    print(f"  store    {redact(str(cfg.store_path))}")
    print(f"  schemas  {', '.join(sorted(validators.names()))}")
    print(f"  plugins  {', '.join(plugin_names(pm))}")
    print(f"  xCAT commands {where_commands_run(cfg)}")
    return exitcodes.OK


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

    sp = sub.add_parser("check-config", help="validate the configuration, schemas and plugins without starting")
    common(sp)
    sp.set_defaults(func=cmd_check_config)

    sp = sub.add_parser("plugins", help="list the plugins the daemon loads and the hooks each implements")
    common(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_plugins)

    from .retention import register as register_prune

    register_prune(sub)

    from .storecli import register as register_store

    register_store(sub)

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

    from . import cli_control, cli_keys, cli_records, hookcli

    cli_records.register(sub, common)
    cli_control.register(sub, common)
    cli_keys.register(sub, common)
    hookcli.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    def run() -> int:
        args = build_parser().parse_args(argv)  # --help, too, may meet a closed pipe
        try:
            return int(args.func(args) or 0)
        except SntakeoverError as exc:
            for line in str(exc).splitlines() or [""]:  # several configuration errors: one line each
                print(printable(f"sntakeover {args.command}: {line}"), file=sys.stderr)
            return exitcodes.FAILED
        except BrokenPipeError:
            raise
        except OSError as exc:  # a directory that cannot be made, a file this user may not read...
            where = f"{exc.filename}: " if exc.filename else ""
            print(printable(f"sntakeover {args.command}: {where}{exc.strerror or exc}"), file=sys.stderr)
            return exitcodes.FAILED

    try:
        return clicommon.quiet_on_closed_pipe(run)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
