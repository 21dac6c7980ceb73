"""Built-in notifier ``syslog``: one line per incident change to syslog (``[plugins.syslog]``).

Off unless the table exists (an empty ``[plugins.syslog]`` turns it on with the
defaults). Options: ``address`` (a local socket path, default ``/dev/log``, or
``HOST:PORT`` for UDP), ``facility`` (default ``daemon``), ``tag`` (default
``sntakeover``), ``timeout`` (seconds, default 2), ``states``. ``failed`` and
``partial`` are sent with severity warning, everything else notice. The message
is RFC 3164: ``<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: incident 7 sn1 verifying ->
done: 16 moved, 0 failed; waiting for: ...; run: sntakeover show 7``.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from sntakeover import hookimpl
from sntakeover.notifytext import COMMON_SCHEMA, message, options, wanted

log = logging.getLogger(__name__)

NAME = "syslog"
FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
              "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, **{f"local{i}": 16 + i for i in range(8)}}
WARNING, NOTICE = 4, 5
LOUD = {"failed", "partial"}


@hookimpl
def sntakeover_options_schema():
    return {f"plugins.{NAME}": {
        "type": "object", "additionalProperties": False,
        "properties": {**COMMON_SCHEMA,
                       "address": {"type": "string", "minLength": 1},
                       "facility": {"enum": sorted(FACILITIES)},
                       "tag": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,32}$",
                               "x-expected": "1 to 32 letters, digits, '.', '_' or '-'"}},
    }}


def datagram(opts: dict, severity: int, text: str) -> bytes:
    pri = FACILITIES[opts.get("facility", "daemon")] * 8 + severity
    t = time.localtime()
    stamp = f"{time.strftime('%b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)}"  # RFC 3164: "Nov  3 ..."
    host = socket.gethostname().split(".")[0]
    return f"<{pri}>{stamp} {host} {opts.get('tag', 'sntakeover')}[{os.getpid()}]: {text}".encode()[:8192]


def send(opts: dict, payload: bytes) -> None:
    address = opts.get("address", "/dev/log")
    timeout = float(opts.get("timeout", 2.0))
    if address.startswith("/"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.connect(address)
            s.send(payload)
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"plugins.syslog.address must be a socket path or HOST:PORT, got {address!r}")
    infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_DGRAM)
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.settimeout(timeout)
        s.sendto(payload, addr)


@hookimpl
def sntakeover_notify(incident, transition, ctx):
    opts = options(ctx, NAME)
    if opts is None or not wanted(opts, transition):
        return
    msg = message(incident, transition)
    send(opts, datagram(opts, WARNING if transition["to"] in LOUD else NOTICE, msg["line"]))
