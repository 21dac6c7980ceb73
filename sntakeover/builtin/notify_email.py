"""Built-in notifier ``email``: a short mail per incident change over SMTP (``[plugins.email]``).

Off unless the table exists. Options: ``to`` (list of addresses, required),
``from`` (default ``sntakeover@<this host>``), ``host`` (default ``localhost``),
``port`` (default 25; 465 with ``ssl``), ``starttls``, ``ssl``, ``username`` and
``password_file`` (login after TLS), ``timeout`` (seconds for each network
step, default 10), ``states``. Subject ``sntakeover: sn1 done (16 moved, 0
failed) - incident 7``; the body says what happened, which nodes moved or
failed, what the incident waits for and ``sntakeover show 7``.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sntakeover import hookimpl
from sntakeover.notifytext import COMMON_SCHEMA, message, options, wanted

log = logging.getLogger(__name__)

NAME = "email"
ADDRESS = {"type": "string", "pattern": "^[^@\\s<>]+@[^@\\s<>]+$", "x-expected": "an e-mail address (user@host)"}


@hookimpl
def sntakeover_options_schema():
    return {f"plugins.{NAME}": {
        "type": "object", "additionalProperties": False, "required": ["to"],
        "properties": {**COMMON_SCHEMA,
                       "to": {"type": "array", "items": ADDRESS, "minItems": 1},
                       "from": ADDRESS,
                       "host": {"type": "string", "minLength": 1},
                       "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                       "starttls": {"type": "boolean"},
                       "ssl": {"type": "boolean"},
                       "username": {"type": "string", "minLength": 1},
                       "password_file": {"type": "string", "minLength": 1}},
        "dependentRequired": {"username": ["password_file"]},
        # ssl (port 465) and starttls exclude each other
        "if": {"required": ["ssl"], "properties": {"ssl": {"const": True}}},
        "then": {"properties": {"starttls": {"const": False}}},
    }}


def build_mail(opts: dict, msg: dict) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = msg["subject"]
    mail["From"] = opts.get("from") or f"sntakeover@{socket.getfqdn()}"
    mail["To"] = ", ".join(opts["to"])
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid("sntakeover")
    mail["X-Sntakeover-Incident"] = str(msg["incident"])
    mail["X-Sntakeover-State"] = msg["state"]
    mail.set_content(msg["text"])
    return mail


def send(opts: dict, mail: EmailMessage) -> None:
    timeout = float(opts.get("timeout", 10.0))
    host = opts.get("host", "localhost")
    if opts.get("ssl"):
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, opts.get("port", 465), timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, opts.get("port", 25), timeout=timeout)
    with smtp:
        if opts.get("starttls"):
            smtp.starttls(context=ssl.create_default_context())
        if opts.get("username"):
            with open(opts["password_file"], encoding="utf-8") as f:
                smtp.login(opts["username"], f.read().strip())
        smtp.send_message(mail)


@hookimpl
def sntakeover_notify(incident, transition, ctx):
    opts = options(ctx, NAME)
    if opts is None or not wanted(opts, transition):
        return
    send(opts, build_mail(opts, message(incident, transition)))
