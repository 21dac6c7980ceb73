"""xCAT ``regnotif`` table-change notification -> events.

xcatd runs a registered command with the change on standard input
(``perl-xCAT/xCAT/NotifHandler.pm::notify``)::

    u
    noderes
    [old data]
    node,servicenode,netboot,...            column names (only for u/d)
    cn1,sn1,sn2,pxe,...                     one line per old row
    [new data]
    servicenode,xcatmaster                  keys of the new-values hash, any order
    sn2,sn1,10.1.0.2                        their values, in the same order

Values are joined with ``,`` and never quoted, so ``servicenode=sn2,sn1`` makes
a line hold more fields than there are columns. A line is split back by the
expected column count: the surplus fields belong to the columns that can hold
commas (``LIST_COLUMNS``); every possible distribution is checked against what
each column may contain, and among the ones that fit, the surplus goes to the
most likely column first (``servicenode`` before ``comments``). When more than
one distribution fits, the event says so in ``detail``.

Events (tables other than ``noderes`` and ``nodelist`` are recorded only):

* ``nodelist``: a service node (listed in the ``servicenodes`` option, or a
  member of the ``sn_group`` option's group, default ``service``) whose
  ``status`` turns ``unreachable``/``noping`` -> ``sn.down`` (``state_type``
  option, default ``hard``: one failed ping from ``nodestat -u`` is only a
  candidate, the daemon confirms with its own probes); turning reachable
  again -> ``sn.up``. Compute nodes -> nothing.
* ``noderes``: a change of ``servicenode``, ``xcatmaster``, ``tftpserver``,
  ``nfsserver`` or ``monserver`` (someone's snmove or chdef) -> ``xcat.change``
  for the node's *previous* first service node, which the daemon records on
  that SN's open incident and never acts on.

The id is ``regnotif:<table>:<action>:<node>:<hash>`` where the hash covers the
whole text, the hook's time and its per-run ``nonce``, so the same
notification resent by the client is a duplicate while the same change made
again (even within the same second) is not. Options: ``servicenodes``,
``sn_group``, ``state_type``, ``map``, ``strip_domain``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from sntakeover import hookimpl

from ..errors import EventRejected
from ..xcatout import valid_name
from ._common import SN_LIST, STATE_TYPE, clean_text, digest, event, make_id, options_schema, sn_name, utc_from_epoch
from .xcatmon import direction

SOURCE = "regnotif"

#: column order in xCAT's perl-xCAT/xCAT/Schema.pm (xcat2/xcat-core master)
COLUMNS: dict[str, tuple[str, ...]] = {
    "noderes": (
        "node", "servicenode", "netboot", "tftpserver", "tftpdir", "nfsserver", "monserver", "nfsdir",
        "installnic", "primarynic", "discoverynics", "cmdinterface", "xcatmaster", "current_osimage",
        "next_osimage", "nimserver", "routenames", "nameservers", "proxydhcp", "syslog", "comments", "disable",
    ),
    "nodelist": (
        "node", "groups", "status", "statustime", "appstatus", "appstatustime", "primarysn", "hidden",
        "updatestatus", "updatestatustime", "zonename", "comments", "disable",
    ),
}

#: columns whose value may contain commas, most likely first
LIST_COLUMNS: dict[str, tuple[str, ...]] = {
    "noderes": ("servicenode", "monserver", "nameservers", "routenames", "discoverynics", "comments"),
    "nodelist": ("groups", "appstatus", "comments"),
}

_NAME = re.compile(r"^[A-Za-z0-9_.:-]*$")  # a host name, an IP (v4 or v6), or empty
_NAMES = re.compile(r"^[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$")
_WORD = re.compile(r"^[A-Za-z0-9_.+/:@-]*$")
_TIME = re.compile(r"^([0-9]{2}-[0-9]{2}-[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2})?$")
_APPSTATUS = re.compile(r"^[^,=]+=[^,=]*(,[^,=]+=[^,=]*)*$")
_PATH = re.compile(r"^(|/[^,]*)$")
_SYSLOG = re.compile(r"^[A-Za-z0-9_.:-]*$")
_ANY: Callable[[str], bool] = lambda v: True  # noqa: E731


def _re(rx: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda v: bool(rx.match(v))


def _list(rx: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda v: v == "" or bool(rx.match(v))


#: what a value of each column may look like; a column not listed accepts a
#: single field of anything (it cannot absorb surplus fields anyway)
CHECKS: dict[str, dict[str, Callable[[str], bool]]] = {
    "noderes": {
        "node": _re(_NAME),
        "servicenode": _list(_NAMES),
        "netboot": _re(re.compile(r"^(|pxe|xnba|yaboot|elilo|grub2|grub2-tftp|grub2-http|petitboot|onie|nimol)$")),
        "tftpserver": _re(_NAME),
        "tftpdir": _re(_PATH),
        "nfsserver": _re(_NAME),
        "monserver": _list(_NAMES),
        "nfsdir": _re(_PATH),
        "installnic": _re(_WORD),
        "primarynic": _re(_WORD),
        "discoverynics": _list(_NAMES),
        "xcatmaster": _re(_NAME),
        "current_osimage": _re(_WORD),
        "next_osimage": _re(_WORD),
        "cmdinterface": _re(_WORD),
        "nimserver": _re(_NAME),
        "routenames": _list(_NAMES),
        "nameservers": _list(re.compile(r"^[A-Za-z0-9_.:<>-]+(,[A-Za-z0-9_.:<>-]+)*$")),
        "proxydhcp": _re(re.compile(r"^(|yes|no|1|0|y|n)$", re.I)),
        "syslog": _re(_SYSLOG),
        "comments": _ANY,
        "disable": _re(re.compile(r"^(|yes|no|1|0)$", re.I)),
    },
    "nodelist": {
        "node": _re(_NAME),
        "groups": _list(re.compile(r"^[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*$")),
        "status": _re(re.compile(r"^[A-Za-z0-9_.()-]*$")),
        "statustime": _re(_TIME),
        "appstatus": lambda v: v == "" or bool(_APPSTATUS.match(v)),
        "appstatustime": _re(_TIME),
        "primarysn": _re(_NAME),
        "hidden": _re(re.compile(r"^(|0|1)$")),
        "updatestatus": _re(_WORD),
        "updatestatustime": _re(_TIME),
        "zonename": _re(_WORD),
        "comments": _ANY,
        "disable": _re(re.compile(r"^(|yes|no|1|0)$", re.I)),
    },
}

WATCHED_NODERES = ("servicenode", "xcatmaster", "tftpserver", "nfsserver", "monserver")
MAX_FIELDS = 512


@dataclass
class Split:
    values: dict[str, str]
    ambiguous: bool = False


@dataclass
class Notification:
    action: str
    table: str
    old_columns: list[str] = field(default_factory=list)
    old_rows: list[Split] = field(default_factory=list)
    new: Split | None = None

    @property
    def ambiguous(self) -> bool:
        return any(r.ambiguous for r in self.old_rows) or bool(self.new and self.new.ambiguous)


def split_row(table: str, columns: list[str], line: str) -> Split:
    """Split one comma-joined line into ``columns``, resolving surplus commas."""
    fields = line.split(",")
    n, m = len(columns), len(fields)
    if m < n:
        raise EventRejected("$.text", f"{table}: a line has {m} values for {n} columns: {line[:200]!r}")
    if m > MAX_FIELDS:
        raise EventRejected("$.text", f"{table}: a line has more than {MAX_FIELDS} values")
    checks = CHECKS.get(table, {})
    if m == n:
        return Split(dict(zip(columns, fields)))
    surplus = m - n
    absorbing = [c for c in LIST_COLUMNS.get(table, ()) if c in columns]
    if not absorbing:
        raise EventRejected("$.text", f"{table}: {surplus} value(s) too many and no column that holds lists")
    fits: list[dict[str, str]] = []
    for extra in _distributions(surplus, len(absorbing)):
        width = dict(zip(absorbing, extra))
        values: dict[str, str] = {}
        pos = 0
        ok = True
        for col in columns:
            k = 1 + width.get(col, 0)
            value = ",".join(fields[pos : pos + k])
            pos += k
            check = checks.get(col)
            if check is not None and not check(value):
                ok = False
                break
            values[col] = value
        if ok:
            fits.append(values)
            if len(fits) > 1:
                break  # the first one is the preferred one; we only need to know there are others
    if not fits:
        raise EventRejected("$.text", f"{table}: cannot split {line[:200]!r} into {n} columns")
    return Split(fits[0], ambiguous=len(fits) > 1)


def _distributions(total: int, slots: int):
    """All ways to put ``total`` surplus fields into ``slots`` columns, most to the first column first."""
    if slots == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _distributions(total - first, slots - 1):
            yield (first, *rest)


def parse(text: str) -> Notification:
    """Parse regnotif standard input."""
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 3:
        raise EventRejected("$.text", "expected an action, a table name and an '[old data]' section")
    action, table = lines[0].strip(), lines[1].strip()
    if action not in ("a", "u", "d"):
        raise EventRejected("$.text", f"action must be a, u or d, got {action[:20]!r}")
    if not valid_name(table):
        raise EventRejected("$.text", f"bad table name {table[:40]!r}")
    try:
        o = lines.index("[old data]", 2)
        nw = lines.index("[new data]", o + 1)
    except ValueError:
        raise EventRejected("$.text", "missing '[old data]' or '[new data]' line") from None
    note = Notification(action, table)
    if table not in COLUMNS:
        return note  # recorded only: nothing to split
    old = [ln for ln in lines[o + 1 : nw] if ln != ""]
    if old:
        note.old_columns = old[0].split(",")
        note.old_rows = [split_row(table, note.old_columns, ln) for ln in old[1:]]
    new = lines[nw + 1 :]
    if new and new[0] != "":
        keys = new[0].split(",")
        valline = new[1] if len(new) > 1 else ""
        note.new = split_row(table, keys, valline)
    return note


def _is_sn(node: str, groups: str, options: dict[str, Any]) -> bool:
    sns = options.get("servicenodes")
    if sns:
        return node in sns
    group = options.get("sn_group", "service")
    return group in [g.strip() for g in groups.split(",")]


def _first(servicenode: str) -> str:
    return servicenode.split(",", 1)[0].strip()


@hookimpl
def sntakeover_options_schema() -> dict[str, dict[str, Any]]:
    return options_schema(
        SOURCE,
        servicenodes={**SN_LIST, "description": "the service nodes (default: members of sn_group)"},
        sn_group={"description": "xCAT group of the service nodes", "type": "string", "minLength": 1},
        state_type=STATE_TYPE,
    )


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    if source != SOURCE:
        return None
    note = parse(payload["text"])
    if note.table not in COLUMNS:
        return []
    when = utc_from_epoch(payload["time"], "$.time")
    tag = digest(payload["text"], payload["time"], payload.get("nonce", ""))
    new = note.new.values if note.new else {}
    olds = [r.values for r in note.old_rows] or [{}]
    events: list[dict[str, Any]] = []
    for old in olds:
        node = old.get("node") or new.get("node")
        if not node:
            continue
        caveat = " (ambiguous commas; read by column count)" if note.ambiguous else ""
        base = {"tool": SOURCE, "host": payload.get("reporter"), "time": when}
        if note.table == "nodelist":
            if "status" not in new:
                continue
            groups = new.get("groups", old.get("groups", ""))
            if not _is_sn(node, groups, options):
                continue
            d_new = direction(new["status"])
            d_old = direction(old["status"]) if old.get("status") else None
            if d_new is None or d_new == d_old:
                continue
            sn = sn_name(node, options, "$.text")
            events.append(
                event(
                    id=make_id(SOURCE, note.table, note.action, node, tag),
                    kind="sn.down" if d_new == "down" else "sn.up",
                    servicenode=sn,
                    ref=f"nodelist.status={clean_text(new['status'], 64)}",
                    state_type=options.get("state_type", "hard") if d_new == "down" else None,
                    detail=f"regnotif: nodelist.status of {node}: "
                    f"{old.get('status', '?') or '(empty)'} -> {new['status'] or '(empty)'}{caveat}",
                    **base,
                )
            )
        else:  # noderes
            changes = []
            for col in WATCHED_NODERES:
                if note.action == "d":
                    before, after = old.get(col, ""), ""
                elif col in new:
                    before, after = old.get(col, ""), new[col]
                else:
                    continue
                if before != after:
                    changes.append(f"{col} {before!r} -> {after!r}")
            if not changes:
                continue
            was = _first(old.get("servicenode", "")) or _first(new.get("servicenode", ""))
            if not was or not valid_name(was) or not valid_name(node):
                continue  # served by the MN itself, or not a name we could ever act on
            events.append(
                event(
                    id=make_id(SOURCE, note.table, note.action, node, tag),
                    kind="xcat.change",
                    servicenode=sn_name(was, options, "$.text"),
                    nodes=[node],
                    ref=f"noderes.{node}",
                    detail=f"regnotif: noderes {note.action} {node}: {'; '.join(changes)}{caveat}",
                    **base,
                )
            )
    return events
