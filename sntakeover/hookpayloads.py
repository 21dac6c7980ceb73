"""The raw payloads of ``sntakeover hook <tool>``: each tool's arguments, environment or
standard input, as that tool's schema (``schemas/<tool>.v1.json``) has them.

One builder per tool (``nagios_payload``...), taking the parsed arguments; a
builder raises :class:`UsageError` for arguments the tool could not have meant.
``hook monit`` and ``hook xcatmon`` remember in a small state file when the
current direction of each service began (:func:`direction_since`), so every
repeat of one outage carries the same id. Sending is :mod:`sntakeover.hookcli`'s.
"""

from __future__ import annotations

import argparse
import fcntl
import math
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

MAX_STDIN = 1024 * 1024


class UsageError(Exception):
    pass


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v not in (None, ""):
            return v
    return None


def _int(value: Any, what: str, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(_finite(value, what))
    except OverflowError:
        raise UsageError(f"{what} must be a number, got {value!r}") from None


def _finite(value: Any, what: str) -> float:
    """A number as the tools write them (``1772619300.5``); ``inf``/``nan`` are no time or count."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"{what} must be a finite number, got {value!r}")
    return number


def _attempts(attempt: Any, max_attempts: Any) -> tuple[int | None, int | None]:
    """Accept ``3`` or ``3/5`` ($HOSTATTEMPT$/$MAXHOSTATTEMPTS$)."""
    if isinstance(attempt, str) and "/" in attempt:
        a, _, m = attempt.partition("/")
        return _int(a, "--attempt"), _int(m, "--attempt")
    return _int(attempt, "--attempt"), _int(max_attempts, "--max-attempts")


def _state_type(value: Any) -> str:
    v = str(value or "").strip().upper()
    return {"0": "SOFT", "1": "HARD"}.get(v, v)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# -- payload builders -----------------------------------------------------------


#: Nagios environment macros (enable_environment_macros=1) for a host and a service handler
NAGIOS_MACROS = {
    False: {"state": "HOSTSTATE", "state_type": "HOSTSTATETYPE", "attempt": "HOSTATTEMPT",
            "max_attempts": "MAXHOSTATTEMPTS", "downtime": "HOSTDOWNTIME", "problem_id": "HOSTPROBLEMID",
            "last_problem_id": "LASTHOSTPROBLEMID", "last_state_change": "LASTHOSTSTATECHANGE",
            "output": "HOSTOUTPUT"},
    True: {"state": "SERVICESTATE", "state_type": "SERVICESTATETYPE", "attempt": "SERVICEATTEMPT",
           "max_attempts": "MAXSERVICEATTEMPTS", "downtime": "SERVICEDOWNTIME", "problem_id": "SERVICEPROBLEMID",
           "last_problem_id": "LASTSERVICEPROBLEMID", "last_state_change": "LASTSERVICESTATECHANGE",
           "output": "SERVICEOUTPUT"},
}


def nagios_payload(a: argparse.Namespace) -> dict[str, Any]:
    """From the command line, else NAGIOS_* (enable_environment_macros=1).

    A service handler (``--service``, or ``NAGIOS_SERVICEDESC`` set) reads the
    SERVICE macros: the host's are those of the SN's host object, whose state
    type, attempt and problem id say nothing about the service's outage.
    """
    host = a.host or _env("NAGIOS_HOSTNAME")
    service = a.service or _env("NAGIOS_SERVICEDESC")
    m = {k: f"NAGIOS_{v}" for k, v in NAGIOS_MACROS[bool(service)].items()}
    state = a.state or _env(m["state"])
    if not host or not state:
        what = "$SERVICESTATE$" if service else "$HOSTSTATE$"
        raise UsageError(f"--host and --state are required ($HOSTNAME$ and {what})")
    attempt, maxa = _attempts(a.attempt or _env(m["attempt"]), a.max_attempts or _env(m["max_attempts"]))
    return _drop_none(
        {
            "host": host,
            "address": a.address or _env("NAGIOS_HOSTADDRESS"),
            "service": service,
            "state": state.strip().upper(),
            "state_type": _state_type(a.state_type or _env(m["state_type"])),
            "attempt": attempt,
            "max_attempts": maxa,
            "downtime": max(_int(a.downtime or _env(m["downtime"]), "--downtime", 0),
                            # a service handler: the host's downtime (the SN's maintenance) counts too
                            _int(a.host_downtime or _env("NAGIOS_HOSTDOWNTIME"), "--host-downtime", 0)
                            if service else 0),
            "problem_id": _int(a.problem_id or _env(m["problem_id"]), "--problem-id"),
            "last_problem_id": _int(a.last_problem_id or _env(m["last_problem_id"]), "--last-problem-id"),
            "last_state_change": _int(a.last_state_change or _env(m["last_state_change"]), "--last-state-change"),
            "time": _int(a.time or _env("NAGIOS_TIMET"), "--time", int(time.time())),
            "output": a.output or _env(m["output"]),
            "reporter": socket.gethostname(),
        }
    )


def icinga2_payload(a: argparse.Namespace) -> dict[str, Any]:
    """From the arguments and/or the SN_* variables of the EventCommand's env dictionary."""
    host = a.host or _env("SN_HOST")
    state = a.state or _env("SN_STATE")
    if not host or not state:
        raise UsageError("the host and state are required (--host/--state or SN_HOST/SN_STATE in env)")
    attempt, maxa = _attempts(a.attempt or _env("SN_ATTEMPT"), a.max_attempts or _env("SN_MAX_ATTEMPTS"))
    lsc = a.last_state_change or _env("SN_LAST_STATE_CHANGE")
    lsc_f = _finite(lsc, "--last-state-change (a Unix time)") if lsc not in (None, "") else None
    return _drop_none(
        {
            "host": host,
            "service": a.service or _env("SN_SERVICE"),
            "state": state.strip().upper(),
            "state_type": _state_type(a.state_type or _env("SN_STATE_TYPE")),
            "attempt": attempt,
            "max_attempts": maxa,
            "downtime": _int(a.downtime or _env("SN_DOWNTIME"), "--downtime", 0),
            "last_state_change": lsc_f,
            "check_source": a.check_source or _env("SN_CHECK_SOURCE"),
            "time": _int(a.time or _env("SN_TIME"), "--time", int(time.time())),
            "output": a.output or _env("SN_OUTPUT"),
            "reporter": socket.gethostname(),
        }
    )


def zabbix_payload(a: argparse.Namespace) -> dict[str, Any]:
    value = str(a.value).strip()
    if value not in ("0", "1"):
        raise UsageError(f"--value must be 0 or 1 ({{EVENT.VALUE}}), got {a.value!r}")
    return _drop_none(
        {
            "host": a.host,
            "event_id": str(a.event).strip(),
            "value": int(value),
            "severity": a.severity,
            "status": a.status,
            "recovery_id": a.recovery_id or None,
            "trigger": a.trigger,
            "time": _int(a.time, "--time", int(time.time())),
            "reporter": socket.gethostname(),
        }
    )


#: a remembered direction older than this (seconds since it was last seen) starts a new outage
MAX_GAP = 3600


def direction_since(state_dir: Path | None, key: str, direction: str, now: int, max_gap: int = MAX_GAP) -> int:
    """Return when the current direction of ``key`` began, remembering it in ``state_dir``.

    A repeated ``down`` (monit's ``repeat every N cycles``, xcatmon's cron) gets
    the time of the first one, so all repeats of one outage share an id. A
    change of direction, or a gap of more than ``max_gap`` seconds since the
    same direction was last reported (the recovery in between was never seen),
    starts a new one. Without a usable state directory every call is its own
    (``now``): repeats are then separate events, but two outages never share
    an id.
    """
    if state_dir is not None:
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)[:100]
            with open(state_dir / f"{safe}.state", "a+", encoding="ascii") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                f.seek(0)
                prev = f.read().split()
                nums = [int(x) for x in prev[1:3] if x.isdigit()]
                last = nums[-1] if nums else None
                if prev[:1] == [direction] and last is not None and now - last <= max_gap:
                    since = nums[0]  # a repeat of the current outage (or recovery)
                else:  # a new one; never the 'since' of an earlier one, even within one second
                    since = now if last is None else max(now, last + 1)
                f.seek(0)
                f.truncate()
                f.write(f"{direction} {since} {max(now, since)}\n")
                return since
        except OSError:
            pass
    return now


monit_since = direction_since


def monit_payload(a: argparse.Namespace) -> dict[str, Any]:
    service = a.service or _env("MONIT_SERVICE")
    if not service:
        raise UsageError("MONIT_SERVICE is not set (run from a monit 'exec' action) and no --service given")
    now = int(time.time())
    sd = a.state_dir or _env("SNTAKEOVER_HOOK_STATE") or "/var/tmp/sntakeover-monit"
    return _drop_none(
        {
            "service": service,
            "direction": a.direction,
            "since": direction_since(Path(sd) if sd != "-" else None, service, a.direction, now, a.max_gap),
            "time": now,
            "event": _env("MONIT_EVENT"),
            "description": _env("MONIT_DESCRIPTION"),
            "monit_host": _env("MONIT_HOST"),
            "monit_date": _env("MONIT_DATE"),
        }
    )


def _read_stdin() -> str:
    data = sys.stdin.buffer.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise UsageError(f"standard input is larger than {MAX_STDIN} bytes")
    return data.decode("utf-8", errors="replace")


def regnotif_payload(a: argparse.Namespace) -> dict[str, Any]:
    text = _read_stdin()
    if not text.strip():
        raise UsageError("nothing on standard input (xcatd writes the table change there)")
    return {"text": text, "time": int(time.time()), "reporter": socket.gethostname(), "nonce": os.urandom(8).hex()}


STATUS_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*:\s*(?:nodelist\.status\s*:\s*)?(.*?)\s*$")


def xcatmon_payload(a: argparse.Namespace) -> dict[str, Any]:
    from .adapters.xcatmon import direction

    statuses: list[dict[str, Any]] = []
    unread = a.__dict__.setdefault("unread", [])  # lines this hook could not read: reported by the sender
    if a.node:
        if not a.status:
            raise UsageError("--node needs --status")
        statuses.append(_drop_none({"node": a.node, "status": a.status, "statustime": a.statustime}))
    else:
        for n, line in enumerate(_read_stdin().splitlines(), 1):
            m = STATUS_LINE.match(line)
            if m and m.group(2):
                statuses.append({"node": m.group(1), "status": m.group(2)[:255]})
            elif line.strip():  # reported after the others are delivered (exit 4)
                unread.append(f"line {n} not read (not 'node: status'): {line[:200]!r}")
    if not statuses and not unread:
        raise UsageError("no 'node: status' lines on standard input and no --node/--status")
    now = int(time.time())
    sd = a.state_dir or _env("SNTAKEOVER_HOOK_STATE") or "/var/tmp/sntakeover-xcatmon"
    state_dir = Path(sd) if sd != "-" else None
    for entry in statuses:
        d = direction(entry["status"])
        if d is not None and state_dir is not None:
            entry["since"] = direction_since(state_dir, entry["node"], d, now, a.max_gap)
    return {"statuses": statuses, "time": now, "reporter": socket.gethostname()}
