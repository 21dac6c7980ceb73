"""Helpers shared by the adapters: names, times, ids.

Every adapter turns one raw payload into a list of ``event.v1`` dicts. The
helpers here keep the rules in one place:

* a service node name is taken from the tool, mapped through the adapter's
  ``map`` option (tool name -> xCAT name), optionally stripped of its domain
  (``strip_domain = true``) and then checked against the xCAT name pattern, so
  a tool's host name can never reach an xCAT command line unchecked;
* times are RFC 3339 in UTC;
* ids are ``<tool>:<parts...>`` with every part reduced to printable ASCII
  without spaces, and bounded to the 200 characters event.v1 allows.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Iterable

from ..errors import EventRejected
from ..xcatout import valid_name

SEVERITY = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_IDPART = re.compile(r"[^!-~]")
_CTRL = re.compile(r"[\x00-\x1f\x7f]")


#: an xCAT node name, as event.v1 has it (what a map gives or a list names reaches xCAT commands)
XCAT_NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(?![\\s\\S])",
             "x-expected": "an xCAT name: 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"}
#: options every adapter understands (see sn_name)
COMMON_OPTIONS: dict[str, Any] = {
    "map": {"description": "tool name -> xCAT name", "type": "object", "additionalProperties": XCAT_NAME},
    "strip_domain": {"description": "sn1.example.com -> sn1", "type": "boolean"},
}
NAME_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
SN_LIST = {"type": "array", "items": XCAT_NAME, "uniqueItems": True}
STATE_TYPE = {"enum": ["hard", "soft"]}


def options_schema(source: str, **extra: Any) -> dict[str, dict[str, Any]]:
    """The ``sntakeover_options_schema`` answer of an adapter: ``[adapters.<source>]``."""
    return {
        f"adapters.{source}": {
            "type": "object",
            "additionalProperties": False,
            "properties": {**COMMON_OPTIONS, **extra},
        }
    }


def sn_name(raw: Any, options: dict[str, Any], path: str) -> str:
    """Return the xCAT name of a service node reported by a tool as ``raw``."""
    if not isinstance(raw, str) or not raw.strip():
        raise EventRejected(path, "no service node name")
    name = raw.strip()
    mapping = options.get("map") or {}
    if isinstance(mapping, dict) and name in mapping:
        name = str(mapping[name])
    elif options.get("strip_domain") and "." in name and not _looks_like_ip(name):
        name = name.split(".", 1)[0]
    if not valid_name(name):
        raise EventRejected(path, f"{name!r} is not a valid xCAT node name")
    return name


def _looks_like_ip(name: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+", name))


def utc_from_epoch(value: Any, path: str) -> str:
    try:
        ts = float(value)
    except (TypeError, ValueError):
        raise EventRejected(path, f"{value!r} is not a Unix time") from None
    if not 0 <= ts < 253402300800:  # year 10000
        raise EventRejected(path, f"{value!r} is out of range")
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def make_id(tool: str, *parts: Any) -> str:
    """Build an idempotency key; long keys keep a readable head and a hash tail."""
    text = ":".join([tool, *(_IDPART.sub("_", str(p)) for p in parts)])
    if len(text) <= 200:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"{text[:160]}~{digest}"


def clean_text(value: Any, limit: int = 4096) -> str:
    """A one-line-safe, bounded text for ``detail``."""
    text = "" if value is None else str(value)
    text = _CTRL.sub(" ", text).strip()
    return text[:limit]


def clean_severity(value: Any) -> str | None:
    if value is None:
        return None
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value).strip()).strip("_")[:32]
    return text or None


def digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def event(
    *,
    id: str,
    kind: str,
    servicenode: str,
    tool: str,
    time: str,
    host: str | None = None,
    ref: str | None = None,
    state_type: str | None = None,
    severity: str | None = None,
    in_downtime: bool | None = None,
    detail: str | None = None,
    nodes: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Assemble an event dict, leaving out what is unknown."""
    source: dict[str, Any] = {"tool": tool}
    if host:
        source["host"] = clean_text(host, 255)
    if ref:
        source["ref"] = clean_text(ref, 200)
    ev: dict[str, Any] = {"id": id, "kind": kind, "servicenode": servicenode, "source": source, "time": time}
    if nodes:
        ev["nodes"] = list(dict.fromkeys(nodes))
    if state_type:
        ev["state_type"] = state_type
    if severity:
        ev["severity"] = severity
    if in_downtime is not None:
        ev["in_downtime"] = bool(in_downtime)
    if detail:  # kept as the tool said it (bounded): every display escapes it (sntakeover.printable)
        ev["detail"] = str(detail).strip()[:4096]
    return ev
