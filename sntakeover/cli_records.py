"""The commands that read what happened: ``status`` (asks the daemon), ``incidents``,
``show`` (``--follow``) and ``watch`` (read the store, read-only)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .clicommon import client_keys, endpoint, load_config, open_store, seconds, since_time, whole
from .exitcodes import FAILED, NO_DAEMON, OK
from .model import State
from .printable import printable


def say(text: str) -> None:
    """Print one line of a record, its free text escaped."""
    print(printable(text))


def cmd_status(args: argparse.Namespace) -> int:
    from .client import NoDaemon, request

    try:
        reply = request({"v": 1, "op": "status"}, endpoint=endpoint(args), timeout=args.timeout, retries=1,
                        keys=client_keys(args))
    except NoDaemon as exc:
        print(f"sntakeover status: {exc}", file=sys.stderr)
        return NO_DAEMON
    if not reply.get("ok"):
        print(printable(f"sntakeover status: refused by the daemon: {reply.get('error')}"), file=sys.stderr)
        return FAILED
    since = getattr(args, "since", None) or since_time("24h")
    st = reply.get("status", {})
    st["recent"] = [r for r in st.get("recent", []) if (r.get("closed") or "") >= since]
    if getattr(args, "json", False):
        print(json.dumps(reply, indent=2))
        return OK
    say(f"sntakeover {st.get('version')} pid {st.get('pid')} up {st.get('uptime')}s on {st.get('endpoint')}")
    say(f"store {st.get('store')}: {st.get('events')} event(s), {st.get('events_pending')} pending")
    if st.get("metrics"):
        say(f"metrics: {st['metrics']}")
    ha = st.get("leadership") or {}
    if ha.get("role") == "leader":
        say(f"HA: this daemon leads (generation {ha.get('generation')}): it applies events and drives incidents")
    elif ha.get("role") == "standby":
        last = ha.get("leader") or {}
        who = (f"the leader is {last.get('holder')} (generation {last.get('generation')}, since {last.get('since')})"
               if last else "no daemon has led yet")
        say(f"HA: standby: it acknowledges events; {who}")
    if st.get("paused"):
        p = st["paused"]
        say(f"PAUSED by {p['by']} since {p['since']}{': ' + p['reason'] if p.get('reason') else ''} -- nothing "
              "moves until `sntakeover resume`")
    if st.get("breaker"):
        b = st["breaker"]
        say(f"CIRCUIT BREAKER TRIPPED at {b['since']}: {b['reason']} -- `sntakeover breaker reset` when safe")
    for m in st.get("maintenance", []):
        say(f"maintenance: {m['servicenode']} until {m['until']} (by {m['by']}{': ' + m['reason'] if m['reason'] else ''})")
    for inc in st.get("open_incidents", []):
        say(f"  incident {inc['id']}: {inc['servicenode']} {inc['state']}: {inc.get('why', '')}")
    if not st.get("open_incidents"):
        say("  no open incident")
    if st.get("recent"):
        say(f"closed since {since[:16].replace('T', ' ')}:")
        for inc in st["recent"]:
            say(f"  incident {inc['id']}: {inc['servicenode']} {inc['state']} at {inc['closed']}: {inc.get('summary', '')}")
    for q in st.get("quarantined", []):
        say(f"  QUARANTINED event {q['id']} ({q['kind']} {q['servicenode']}, received {q['received']}): "
            f"{q['reason']}")
    for name, why in sorted(st.get("plugin_failures", {}).items()):
        say(f"  plugin {name} not loaded: {why}")
    c = st.get("counters") or reply.get("counters", {})
    say("counters: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items())))
    return OK


def cmd_incidents(args: argparse.Namespace) -> int:
    from .records import find_incidents, incident_line
    from .render import incident_row

    store = open_store(args)
    rows, more = find_incidents(store, limit=args.limit, since=args.since, state=args.state, servicenode=args.sn)
    if args.json:
        print(json.dumps([{**dict(r), "summary": incident_line(store, r)} for r in rows], indent=2))
        return OK
    if not rows:
        print("no incident")
    for r in rows:
        print(incident_row(r, incident_line(store, r)))
    if more:
        print(f"... {more} more (older); see --limit, --since, --state, --sn")
    return OK


def cmd_show(args: argparse.Namespace) -> int:
    from .records import summary
    from .render import render_incident

    store = open_store(args)
    if getattr(args, "follow", False):
        return _follow(args, store, str(args.id), then_json=args.json)
    try:
        s = summary(store, args.id)
    except KeyError:
        print(f"sntakeover show: no incident {args.id}", file=sys.stderr)
        return FAILED
    print(json.dumps(s, indent=2) if args.json else render_incident(s))
    return OK


def cmd_watch(args: argparse.Namespace) -> int:
    from .xcatout import valid_name

    if args.target is not None and not args.target.isdigit() and not valid_name(args.target):
        print(f"sntakeover watch: {args.target!r} is neither an incident number nor a service node name "
              "(an xCAT name: letters, digits, '.', '_' and '-', starting with a letter or digit)", file=sys.stderr)
        return 2
    return _follow(args, open_store(args), args.target, then_json=False)


def _follow(args: argparse.Namespace, store: Any, target: str | None, *, then_json: bool) -> int:
    """Follow; with ``--json`` nothing is drawn and the final ``show --json`` document is printed."""
    import io

    from .follow import follow
    from .records import summary

    rounds = load_config(args).get("confirm", "rounds")
    out = io.StringIO() if then_json else sys.stdout
    try:
        code = follow(store, target, out=out, live=False if then_json else None, timeout=args.timeout,
                      rounds_needed=rounds)
    except KeyError:
        print(f"sntakeover {args.command}: no incident {target}", file=sys.stderr)
        return FAILED
    if then_json:
        print(json.dumps(summary(store, int(target)), indent=2))  # type: ignore[arg-type]
    return code


def register(sub: Any, common) -> None:
    sp = sub.add_parser("status", help="ask the daemon how it is: open and recently closed incidents, counters")
    common(sp, endpoint=True)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--since", type=since_time, help="list incidents closed since then (default 24h; at most 7d)")
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("incidents", help="list incidents from the store, newest first")
    common(sp)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--limit", type=whole(1), default=50, help="at most this many (default 50)")
    sp.add_argument("--since", type=since_time, help="opened since then: 24h, 7d, 2026-12-01T00:00:00Z")
    sp.add_argument("--state", choices=[s.value for s in State], help="only incidents in this state")
    sp.add_argument("--sn", metavar="SN", help="only incidents of this service node")
    sp.set_defaults(func=cmd_incidents)

    sp = sub.add_parser("show", help="show one incident: summary, timeline, xCAT commands with durations, nodes")
    common(sp)
    sp.add_argument("id", type=int)
    sp.add_argument("--json", action="store_true", help="as JSON (with --follow: once it has ended)")
    sp.add_argument("--follow", "-f", action="store_true", help="follow it live until it ends (exit 0 if done)")
    sp.add_argument("--timeout", type=seconds, help="with --follow: give up after this many seconds")
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("watch", help="follow a takeover live: an incident, a service node's, or the next one")
    common(sp)
    sp.add_argument("target", nargs="?", metavar="ID|SN",
                    help="an incident number, or a service node (its open incident, else its next one); "
                         "default: every open incident, else the next one")
    sp.add_argument("--timeout", type=seconds, help="give up after this many seconds")
    sp.set_defaults(func=cmd_watch)
