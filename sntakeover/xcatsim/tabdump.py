"""tabdump, as xCAT's tabutils.pm prints it (xCAT-server/lib/xcat/plugins/tabutils.pm, ``tabdump`` and
``output_table``).

``tabdump TABLE``: a header ``#col1,col2,...`` in the schema's column order,
then one line per row (insertion order): each non-empty value in double
quotes with embedded ``"`` doubled, empty and NULL values empty. ``tabdump``
alone lists the tables. Tables the simulator does not hold answer ``No such
table: X`` (exit 1), like a table name xCAT does not know; ``-d`` and ``-w``
are not simulated.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .db import q
from .options import GetoptError, getopt_bundling
from .state import TABLES, XCAT_VERSION

log = logging.getLogger(__name__)

USAGE = ["Usage: tabdump [-d] [table]",
         "       tabdump      [table]",
         "       tabdump [-f <filename>]  [table]",
         "       tabdump [-n <# of records>]  [auditlog | eventlog]",
         "       tabdump [-w attr==val [-w attr=~val] ...] [table]",
         "       tabdump [-w attr==val [-w attr=~val] ...] [-f <filename>] [table]",
         "       tabdump [-?|-h|--help]",
         "       tabdump {-v|--version}",
         "       tabdump "]

OPTIONS = {"help": (("h", "?", "help"), False), "version": (("v", "version"), False),
           "lines": (("n", "lines"), True), "desc": (("d",), False), "file": (("f",), True),
           "where": (("w",), True)}


def _usage(ctx: Any, code: int) -> None:
    for line in USAGE:
        ctx.data(line)
    ctx.rc |= code


def lines(db: Any, table: str) -> list[str]:
    """The header and the rows of ``table`` in xCAT's CSV form."""
    cols = TABLES[table]
    out = ["#" + ",".join(cols)]
    for row in db.conn.execute(f"SELECT {', '.join(q(c) for c in cols)} FROM {q(table)} ORDER BY rowid"):
        out.append(",".join('"' + v.replace('"', '""') + '"' if v else "" for v in row))
    return out


def tabdump(ctx: Any, args: list[str]) -> None:
    try:
        o, pos = getopt_bundling(args, OPTIONS)
    except GetoptError as e:
        log.debug("tabdump: %s", e)
        _usage(ctx, 1)
        return
    if o.get("version"):
        ctx.data(XCAT_VERSION)
        return
    if o.get("help"):
        _usage(ctx, 0)
        return
    for flag, word in (("desc", "-d"), ("where", "-w"), ("file", "-f")):
        if o.get("lines") and o.get(flag):
            ctx.error(f"You  cannot use the -n and {word} flag together. ", 1)
            return
    if len(pos) > 1:
        _usage(ctx, 1)
        return
    if not pos:
        if o.get("file"):
            ctx.error("table name missing from the command input. ", 1)
        elif o.get("desc"):
            ctx.error("tabdump -d is not simulated.", 1)
        else:
            for t in sorted(TABLES):
                ctx.data(t)
        return
    table = pos[0]
    if o.get("lines") and not table.startswith(("auditlog", "eventlog")):
        ctx.error(f"{table} table is not supported in tabdump -n. You may only use this option on the auditlog "
                  "or the eventlog.", 1)
        return
    if table.startswith("x_teal"):
        ctx.error(f"{table} table is not supported in tabdump. Use Teal maintenance commands. ", 1)
        return
    if o.get("desc") or o.get("where"):
        ctx.error(f"tabdump {'-d' if o.get('desc') else '-w'} is not simulated.", 1)
        return
    if table not in TABLES:
        ctx.error(f"No such table: {table}", 1)
        return
    text = lines(ctx.db, table)
    target = o.get("file")
    if not target:
        for line in text:
            ctx.data(line)
        return
    path = target if str(target).startswith("/") else os.path.join(os.getcwd(), str(target))
    try:
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in text))
    except OSError:
        ctx.error(f"Error on tabdump of {table} to {path}. Unable to open the file for write. ", 1)
