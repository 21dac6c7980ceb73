"""regnotif / unregnotif and table-change notification.

A registered command (any file not ending in ``.pm``) is started with no
arguments in a new session, with the change on STDIN, and not waited for::

    u
    noderes
    [old data]
    node,servicenode,...          all column names
    cn1,sn1,sn2,...               the old row, joined with ',' unquoted
    [new data]
    node,servicenode,xcatmaster   key + changed columns
    cn1,sn2,sn1,10.1.0.2

For an add the old section is empty; a delete has an empty new section.
Registrations naming a ``.pm`` module are stored but not run; as in xCAT the
first ``.pm`` for a table stops the notification of later registrations.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from typing import Any

from . import state as st

log = logging.getLogger(__name__)

def regnotif(ctx: Any, args: list[str]) -> None:
    ops = "a,d,u"
    rest: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("-o", "--operation") and i + 1 < len(args):
            ops = args[i + 1]
            i += 2
            continue
        rest.append(args[i])
        i += 1
    if len(rest) < 2:
        ctx.data("Usage: regnotif [-h|--help]\n       regnotif [-v|--version]\n       regnotif filename tablename[,tablename]... [-o|--operation actions]")
        return
    bad = [o for o in ops.split(",") if o not in ("a", "d", "u")]
    if bad:
        ctx.E("Invalid table operations: " + ",".join(bad))
        return
    with ctx.db.write():
        ctx.db.delete_row("notification", rest[0])
        ctx.db.put_row("notification", {"filename": rest[0], "tables": rest[1], "tableops": ops, "comments": "",
                                        "disable": ""})


def unregnotif(ctx: Any, args: list[str]) -> None:
    if not args:
        ctx.data("Usage: unregnotif [-h|--help]\n       unregnotif [-v|--version]\n       unregnotif filename")
        return
    ctx.db.delete_row("notification", args[0])


def registrations(db: Any) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "_rowid"} for r in db.list_rows("notification")]


def columns(table: str) -> list[str]:
    return st.TABLES.get(table) or ["node"]


def format_change(action: str, table: str, key: str, old: dict[str, str], new: dict[str, str]) -> str:
    cols = columns(table)
    lines = [action, table, "[old data]"]
    if action in ("u", "d"):
        lines.append(",".join(cols))
        oldrow = dict(old)
        oldrow.setdefault(cols[0], key)
        lines.append(",".join(str(oldrow.get(c, "") or "") for c in cols))
    lines.append("[new data]")
    if action in ("a", "u"):
        newrow = {cols[0]: key, **new}
        lines.append(",".join(newrow))
        lines.append(",".join(str(v) for v in newrow.values()))
    return "\n".join(lines) + "\n"


def fire(registrations: list[dict[str, str]], changes: list[tuple[str, str, str, dict, dict]]) -> None:
    for action, table, key, old, new in changes:
        for reg in registrations:
            if reg.get("disable") in ("1", "yes"):
                continue
            if table not in reg.get("tables", "").split(","):
                continue
            if reg["filename"].endswith(".pm"):
                break
            if action not in reg.get("tableops", "a,d,u").split(","):
                continue
            _spawn(reg["filename"], format_change(action, table, key, old, new))


def _spawn(path: str, data: str) -> None:
    with tempfile.TemporaryFile() as f:
        f.write(data.encode())
        f.seek(0)
        try:
            subprocess.Popen([path], stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, close_fds=True, env=dict(os.environ))
        except OSError as e:
            log.warning("notification command %s failed to start: %s", path, e)
