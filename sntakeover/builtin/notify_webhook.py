"""Built-in notifier ``webhook``: the incident change as JSON, POSTed and signed (``[plugins.webhook]``).

Off unless the table exists. Options: ``url`` (http:// or https://,
required), ``secret_file`` (a file holding the HMAC key), ``ca_file`` (CA
bundle for an https URL with a private CA), ``timeout`` (seconds for the connect
and for each read, default 10),
``states``. The body is :func:`sntakeover.notifytext.message` as JSON
(``servicenode``, ``state``, ``from``, ``moved``/``failed`` with ``count`` and
``nodes``, ``waiting_for``, ``show``, ``text``...). With a secret, the header
``X-Sntakeover-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body
bytes; the receiver recomputes it and compares with :func:`hmac.compare_digest`.
Any answer other than 2xx is a failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
import urllib.error
import urllib.request

from sntakeover import __version__, hookimpl
from sntakeover.notifytext import COMMON_SCHEMA, message, options, wanted

log = logging.getLogger(__name__)

NAME = "webhook"
SIGNATURE_HEADER = "X-Sntakeover-Signature"


@hookimpl
def sntakeover_options_schema():
    return {f"plugins.{NAME}": {
        "type": "object", "additionalProperties": False, "required": ["url"],
        "properties": {**COMMON_SCHEMA,
                       "url": {"type": "string", "pattern": "^https?://[^\\s]+$",
                               "x-expected": "an http:// or https:// URL without spaces"},
                       "secret_file": {"type": "string", "minLength": 1},
                       "ca_file": {"type": "string", "minLength": 1}},
    }}


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def post(opts: dict, payload: dict) -> int:
    """POST ``payload``; return the HTTP status. Raises on a non-2xx answer or a network error."""
    body = json.dumps(payload, sort_keys=True).encode()
    req = urllib.request.Request(opts["url"], data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"sntakeover/{__version__}",
        "X-Sntakeover-Incident": str(payload["incident"]), "X-Sntakeover-State": payload["state"]})
    if opts.get("secret_file"):
        with open(opts["secret_file"], "rb") as f:
            req.add_header(SIGNATURE_HEADER, signature(f.read().strip(), body))
    context = ssl.create_default_context(cafile=opts.get("ca_file")) if opts["url"].startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=float(opts.get("timeout", 10.0)), context=context) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"webhook {opts['url']} answered {exc.code} {exc.reason}") from None


@hookimpl
def sntakeover_notify(incident, transition, ctx):
    opts = options(ctx, NAME)
    if opts is None or not wanted(opts, transition):
        return
    payload = message(incident, transition)
    post(opts, payload)
