"""``sntakeover hook <tool> ...`` and ``sntakeover webhook``: what monitoring tools run.

Each ``hook`` variant builds the tool's raw payload from its arguments,
environment or standard input and sends it to the daemon (``op: raw``) with the
Lazy Pirate client. Exit codes:

* 0 -- the daemon stored the payload (its events may be duplicates);
* 2 -- bad arguments;
* 3 -- no daemon answered (the message says which endpoint), or the daemon
  could not store the event (``retry: true`` on every attempt);
* 4 -- the daemon rejected the payload (``ok: false``; the message has the JSON path),
  or some of its items (the others were stored; each rejected item is printed);
* 5 -- the daemon's reply was not understood.

These are the codes of every ``sntakeover`` command (:mod:`sntakeover.exitcodes`).

``hook monit`` is special: monit never waits for the program it execs, so the
hook gives up after a short, bounded time and reports that on stderr and in
syslog (monit throws the hook's output away).
"""

from __future__ import annotations

import argparse
import json
import sys
import syslog
from typing import Any, Callable

from . import exitcodes
from .client import DEFAULT_ENDPOINT, DEFAULT_RETRIES, DEFAULT_TIMEOUT, BadReply, NoDaemon, default_endpoint, send_raw
from .errors import SntakeoverError
from .hookpayloads import (MAX_GAP, UsageError, icinga2_payload, monit_payload, nagios_payload,
                           regnotif_payload, xcatmon_payload, zabbix_payload)

EXIT_OK, EXIT_USAGE, EXIT_NODAEMON, EXIT_REJECTED, EXIT_BADREPLY = (exitcodes.OK, exitcodes.USAGE, exitcodes.NO_DAEMON,
                                                                    exitcodes.REFUSED, exitcodes.BAD_REPLY)
#: monit: at most this many seconds in total before giving up
MONIT_TIMEOUT, MONIT_RETRIES = 1.5, 2


def _common(timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("daemon connection")
    g.add_argument("--endpoint", default=None, help="ZeroMQ endpoint (default: $SNTAKEOVER_ENDPOINT, else %s)" % DEFAULT_ENDPOINT)
    from .clicommon import attempts, key_options, seconds

    g.add_argument("--timeout", type=seconds, default=timeout, help="seconds to wait per attempt (default %(default)s)")
    g.add_argument("--retries", type=attempts, default=retries, help="attempts in total (default %(default)s)")

    key_options(g, from_config=False)  # type: ignore[arg-type] # hooks read no configuration
    return p


def hook_keys(a: argparse.Namespace, endpoint: str):
    """CURVE keys for a tcp:// endpoint: the options, else the environment (hooks read no configuration)."""
    from .auth import client_keys

    return client_keys(endpoint, getattr(a, "client_key", None), getattr(a, "server_key", None))


# -- sending --------------------------------------------------------------------


def as_text(value: Any) -> Any:
    """Text from the command line or the environment as UTF-8, whatever the tool's locale.

    Python reads bytes that are not UTF-8 (plugin output in a Latin-1 locale) as lone
    surrogates, which the daemon refuses; each such byte becomes U+FFFD instead, as
    the hooks that read standard input do.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                raw = value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a surrogate no byte was read as
                raw = value.encode("utf-8", "replace")
            return raw.decode("utf-8", "replace")
        return value
    if isinstance(value, dict):
        return {as_text(k): as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    return value


#: the tools' own words (plugin output, monit's event, a trigger's name): cut to what the schema
#: takes rather than losing the event over its length
FREE_TEXT = ("output", "event", "description", "trigger")


def clip_free_text(source: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Cut each free-text field of ``payload`` to the ``maxLength`` of ``<source>.v1``, ending it with '…'."""
    from .validation import schema_text

    try:
        props = json.loads(schema_text(f"{source}.v1.json")).get("properties", {})
    except (OSError, ValueError):
        return payload
    for key in FREE_TEXT:
        limit, value = props.get(key, {}).get("maxLength"), payload.get(key)
        if limit and isinstance(value, str) and len(value) > limit:
            payload[key] = value[:limit - 1] + "\u2026"
    return payload


def _send(source: str, build: Callable[[argparse.Namespace], dict[str, Any]], a: argparse.Namespace, *, quiet: bool = False) -> int:
    endpoint = a.endpoint or default_endpoint()
    try:
        payload = clip_free_text(source, as_text(build(a)))
    except UsageError as exc:
        return _fail(source, f"sntakeover hook {source}: {exc}", EXIT_USAGE, a)
    # input the builder itself could not read (xcatmon lines): reported, the rest is delivered
    unread = vars(a).get("unread", [])
    if unread and not payload.get("statuses"):
        for line in unread:
            print(f"sntakeover hook {source}: {line}", file=sys.stderr)
        return _fail(source, f"sntakeover hook {source}: {len(unread)} line(s) not read, nothing to send",
                     EXIT_REJECTED, a)
    try:
        keys = hook_keys(a, endpoint)
    except SntakeoverError as exc:
        return _fail(source, f"sntakeover hook {source}: {exc}; the {source} event was NOT delivered", EXIT_USAGE, a)
    try:
        reply = send_raw(source, payload, endpoint=endpoint, timeout=a.timeout, retries=a.retries, keys=keys)
    except NoDaemon as exc:
        return _fail(source, f"sntakeover hook {source}: {exc}; the {source} event was NOT delivered", EXIT_NODAEMON, a)
    except BadReply as exc:
        return _fail(source, f"sntakeover hook {source}: {exc}", EXIT_BADREPLY, a)
    if not reply.get("ok") and reply.get("retry"):
        return _fail(source, f"sntakeover hook {source}: the daemon could not store it ({reply.get('error')}); "
                     f"the {source} event was NOT delivered", EXIT_NODAEMON, a)
    if not reply.get("ok"):
        return _fail(source, f"sntakeover hook {source}: rejected by the daemon: {reply.get('error', reply)}", EXIT_REJECTED, a)
    events = reply.get("events") or []
    rejected = reply.get("rejected") or []
    for item in rejected:
        from .printable import printable

        print(printable(f"sntakeover hook {source}: item rejected by the daemon: {item.get('path')}: "
                        f"{item.get('error')}"), file=sys.stderr)
    if not quiet:
        if events:
            for ev in events:
                dup = " (duplicate)" if ev.get("duplicate") else ""
                print(f"sntakeover: accepted {ev.get('id')}{dup}")
        else:
            print("sntakeover: recorded, no event")
    for line in unread:
        print(f"sntakeover hook {source}: {line}", file=sys.stderr)
    if unread:
        return _fail(source, f"sntakeover hook {source}: {len(unread)} line(s) not read, {len(events)} stored",
                     EXIT_REJECTED, a)
    if rejected:
        return _fail(source, f"sntakeover hook {source}: {len(rejected)} item(s) rejected, {len(events)} stored",
                     EXIT_REJECTED, a)
    return EXIT_OK


def _fail(source: str, message: str, code: int, a: argparse.Namespace) -> int:
    from .printable import printable

    message = printable(message)  # the daemon's error may quote what was sent
    print(message, file=sys.stderr)
    if getattr(a, "syslog", False):
        try:
            syslog.openlog("sntakeover-hook", syslog.LOG_PID, syslog.LOG_DAEMON)
            syslog.syslog(syslog.LOG_ERR, message)
            syslog.closelog()
        except OSError:
            pass
    return code


# -- argparse -------------------------------------------------------------------


def _add_nagios_like(p: argparse.ArgumentParser, icinga: bool) -> None:
    p.add_argument("--host", help="$HOSTNAME$ / $host.name$: the service node")
    p.add_argument("--state", help="$HOSTSTATE$ (UP, DOWN, UNREACHABLE) or $SERVICESTATE$ with --service")
    p.add_argument("--state-type", dest="state_type", help="$HOSTSTATETYPE$: SOFT or HARD")
    p.add_argument("--attempt", help="$HOSTATTEMPT$, or $HOSTATTEMPT$/$MAXHOSTATTEMPTS$")
    p.add_argument("--max-attempts", dest="max_attempts", help="$MAXHOSTATTEMPTS$")
    p.add_argument("--downtime", help="$HOSTDOWNTIME$ / $host.downtime_depth$ (depth; > 0 = in downtime)")
    if not icinga:
        p.add_argument("--host-downtime", dest="host_downtime",
                       help="$HOSTDOWNTIME$ with --service: a service handler honours the host's downtime too")
    p.add_argument("--service", help="$SERVICEDESC$ when the handler is on a service check (e.g. xcatd); "
                   "then give the SERVICE macros ($SERVICESTATE$, $SERVICESTATETYPE$, $SERVICEPROBLEMID$...)")
    p.add_argument("--time", help="$TIMET$ (Unix time; default now)")
    p.add_argument("--output", help="$HOSTOUTPUT$")
    if icinga:
        p.add_argument("--last-state-change", dest="last_state_change", help="$host.last_state_change$")
        p.add_argument("--check-source", dest="check_source", help="$host.check_source$")
    else:
        p.add_argument("--address", help="$HOSTADDRESS$")
        p.add_argument("--problem-id", dest="problem_id", help="$HOSTPROBLEMID$ (or $SERVICEPROBLEMID$)")
        p.add_argument("--last-problem-id", dest="last_problem_id", help="$LASTHOSTPROBLEMID$ (or $LASTSERVICEPROBLEMID$)")
        p.add_argument("--last-state-change", dest="last_state_change",
                       help="$LASTHOSTSTATECHANGE$ (or $LASTSERVICESTATECHANGE$): names the outage without a problem id")


def register(subparsers: Any) -> None:
    """Add the ``hook`` and ``webhook`` subcommands to the main CLI's subparsers."""
    hook = subparsers.add_parser("hook", help="send a monitoring tool's event to the daemon (run by the tool)",
                                 description="Run by a monitoring tool or by xCAT; see the README, section \"Wiring monitoring tools\".")
    tools = hook.add_subparsers(dest="tool", metavar="TOOL", required=True)
    common = _common()

    p = tools.add_parser("nagios", parents=[common], help="Nagios event handler")
    _add_nagios_like(p, icinga=False)
    p.set_defaults(func=lambda a: _send("nagios", nagios_payload, a))

    p = tools.add_parser("icinga2", parents=[common], help="Icinga 2 EventCommand")
    _add_nagios_like(p, icinga=True)
    p.set_defaults(func=lambda a: _send("icinga2", icinga2_payload, a))

    p = tools.add_parser("zabbix", parents=[common], help="Zabbix action remote command / script media type")
    p.add_argument("--host", required=True, help="{HOST.HOST}")
    p.add_argument("--event", required=True, help="{EVENT.ID}")
    p.add_argument("--value", required=True, help="{EVENT.VALUE}: 1 problem, 0 recovery")
    p.add_argument("--severity", help="{EVENT.NSEVERITY} or {EVENT.SEVERITY}")
    p.add_argument("--status", help="{EVENT.STATUS}")
    p.add_argument("--recovery-id", dest="recovery_id", help="{EVENT.RECOVERY.ID}")
    p.add_argument("--trigger", help="{TRIGGER.NAME}")
    p.add_argument("--time", help="Unix time (default now)")
    p.set_defaults(func=lambda a: _send("zabbix", zabbix_payload, a))

    p = tools.add_parser("monit", parents=[_common(MONIT_TIMEOUT, MONIT_RETRIES)],
                         help="monit exec action: 'down' or 'up'; returns within timeout*retries seconds")
    p.add_argument("direction", choices=["down", "up"])
    p.add_argument("--service", help="default: $MONIT_SERVICE")
    p.add_argument("--state-dir", dest="state_dir",
                   help="where to remember when the current direction began (default $SNTAKEOVER_HOOK_STATE "
                   "or /var/tmp/sntakeover-monit; '-' for none)")
    p.add_argument("--max-gap", dest="max_gap", type=int, default=MAX_GAP,
                   help="seconds without a report after which a 'down' counts as a new outage (default %(default)s)")
    p.set_defaults(func=lambda a: _send("monit", monit_payload, a), syslog=True)

    p = tools.add_parser("regnotif", parents=[common], help="xCAT table-change notification (stdin)")
    p.set_defaults(func=lambda a: _send("regnotif", regnotif_payload, a, quiet=True), syslog=True)

    p = tools.add_parser("xcatmon", parents=[common], help="service node status: 'node: status' lines on stdin")
    p.add_argument("--node")
    p.add_argument("--status")
    p.add_argument("--statustime")
    p.add_argument("--state-dir", dest="state_dir",
                   help="where to remember when each node's current status began (default $SNTAKEOVER_HOOK_STATE "
                   "or /var/tmp/sntakeover-xcatmon; '-' for none)")
    p.add_argument("--max-gap", dest="max_gap", type=int, default=MAX_GAP,
                   help="seconds without a report after which a 'down' counts as a new outage (default %(default)s)")
    p.set_defaults(func=lambda a: _send("xcatmon", xcatmon_payload, a))

    _register_webhook(subparsers, _common())


def _run_webhook(args: argparse.Namespace) -> int:
    from . import webhook  # aiohttp is imported only by the bridge, never by a hook run

    return webhook.run(args)


def _register_webhook(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("webhook", parents=[common], help="HTTP bridge for Alertmanager webhooks",
                              description="Receive Alertmanager webhook POSTs and forward them to the daemon.")
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token-file", help="file holding the bearer token Alertmanager sends")
    auth.add_argument("--basic-auth-file", help="file holding user:password for basic auth")
    auth.add_argument("--no-auth", action="store_true",
                      help="accept POSTs without credentials (warned about at every start)")
    p.add_argument("--tls-cert", help="PEM certificate (chain) for HTTPS")
    p.add_argument("--tls-key", help="PEM private key for HTTPS")
    p.add_argument("--max-body", type=int, default=4 * 1024 * 1024, metavar="BYTES",
                   help="largest accepted body (default %(default)s)")
    p.add_argument("--max-connections", type=int, default=256, metavar="N",
                   help="open connections at most; one more gets 503 (default %(default)s)")
    p.set_defaults(func=_run_webhook, retries=2)



def connection_options() -> argparse.ArgumentParser:
    """The daemon-connection options (``--endpoint``, ``--timeout``, ``--retries``) as a parent parser."""
    return _common()


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m sntakeover.hookcli hook nagios ...``."""
    parser = argparse.ArgumentParser(prog="sntakeover")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    from .clicommon import quiet_on_closed_pipe

    return quiet_on_closed_pipe(lambda: int(args.func(args)))


if __name__ == "__main__":
    sys.exit(main())
