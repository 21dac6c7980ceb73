"""lsdef, chdef and nodels against the simulated tables (node objects only)."""

from __future__ import annotations

import logging
import re
from typing import Any

from . import noderange
from . import state as st

log = logging.getLogger(__name__)

_SEL = re.compile(r"^([\w.]+?)(==|!=|=~|!~|=)(.*)$")


def _match(value: str, op: str, want: str) -> bool:
    if not value:
        return False
    if op in ("==", "="):
        return value == want
    if op == "!=":
        return value != want
    rx = want[1:-1] if len(want) > 1 and want.startswith("/") and want.endswith("/") else want
    found = re.search(rx, value) is not None
    return found if op == "=~" else not found


def _bad_attr(attr: str) -> str:
    return f"'{attr}' is not a valid attribute name for an object type of 'node'."


def lsdef(ctx: Any, args: list[str]) -> None:
    db = ctx.db
    names: list[str] = []
    attrs: list[str] | None = None
    where: list[str] = []
    longf = compress = False
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-t", "--type", "-o", "--objects", "-i", "-w") and i + 1 < len(args):
            v = args[i + 1]
            if a in ("-t", "--type") and v != "node":
                ctx.E(f"Object type '{v}' is not supported by this simulator.")
                return
            if a in ("-o", "--objects"):
                names.append(v)
            elif a == "-i":
                attrs = (attrs or []) + [x for x in v.split(",") if x]
            elif a == "-w":
                where.append(v)
            i += 2
            continue
        if a in ("-l", "--long"):
            longf = True
        elif a in ("-c", "--compress"):
            compress = True
        elif not a.startswith("-"):
            names.append(a)
        i += 1
    nodes: list[str] = []
    for nr in names:
        found, missing = noderange.expand(db, nr)
        if not found and not missing:
            ctx.E(f"No node in '{nr}', check the noderange syntax.")
        for m in missing:
            ctx.E(f"Could not find an object named '{m}' of type 'node'.")
        nodes.extend(n for n in found if n not in nodes)
    if not names:
        nodes = db.all_nodes()
    if attrs:
        for a in attrs:
            if a not in st.NODE_ATTRS and a != "objtype":
                ctx.E(_bad_attr(a))
        attrs = sorted(a for a in set(attrs) if a in st.NODE_ATTRS or a == "objtype")
    for w in where:
        m = _SEL.match(w)
        if not m:
            ctx.E(f"Incorrect selection string: {w}")
            return
        if m[1] in st.NODE_ATTRS:
            vals = db.node_attrs(nodes, [m[1]])
            nodes = [n for n in nodes if _match(vals[n][m[1]], m[2], m[3])]
        else:
            nodes = []
    if not nodes:
        if not ctx.rc:
            ctx.info("No object definitions have been found")
        return
    nodes = sorted(nodes)
    if not (longf or attrs is not None or names):
        for n in nodes:
            ctx.data(f"{n}  (node)")
        return
    wanted = [a for a in attrs if a in st.NODE_ATTRS] if attrs is not None else list(st.NODE_ATTRS)
    values = db.node_attrs(nodes, wanted)
    for n in nodes:
        d = {**values[n], "objtype": "node"}
        if not compress:
            ctx.data(f"Object name: {n}")
        keys = attrs if attrs is not None else sorted(k for k, v in d.items() if v)
        for k in keys:
            ctx.data(f"{n}: {k}={d.get(k, '')}" if compress else f"    {k}={d.get(k, '')}")


def chdef(ctx: Any, args: list[str]) -> None:
    db = ctx.db
    mode = ""
    names: list[str] = []
    assigns: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-t", "-o") and i + 1 < len(args):
            if a == "-o":
                names.append(args[i + 1])
            i += 2
            continue
        if a in ("-p", "--plus"):
            mode = "p"
        elif a in ("-m", "--minus"):
            mode = "m"
        elif "=" in a:
            k, _, v = a.partition("=")
            assigns.append((k, v))
        elif not a.startswith("-"):
            names.append(a)
        i += 1
    errors = False
    for k, _ in assigns:
        if k not in st.NODE_ATTRS:
            ctx.E(_bad_attr(k))
            errors = True
    if errors or not names:
        if not names:
            ctx.E("No object names were provided.")
        ctx.E("One or more errors occured when attempting to create or modify xCAT object definitions.")
        return
    targets: list[str] = []
    for nr in names:
        found, missing = noderange.expand(db, nr)
        targets.extend(found + missing)
    created: list[str] = []
    modified = 0
    with db.write():
        for n in targets:
            if not db.is_node(n):
                if "groups" not in dict(assigns):
                    ctx.E(f"Attribute 'groups' is not specified for node '{n}', skipping to the next node.")
                    errors = True
                    continue
                db.add_node(n)
                created.append(n)
            per_table: dict[str, dict[str, str]] = {}
            for k, v in assigns:
                t, c = st.NODE_ATTRS[k]
                cur = db.node_attr(n, k)
                if mode == "p":
                    items = [x for x in cur.split(",") if x]
                    v = ",".join(items + [x for x in v.split(",") if x and x not in items])
                elif mode == "m":
                    drop = set(v.split(","))
                    v = ",".join(x for x in cur.split(",") if x and x not in drop)
                per_table.setdefault(t, {})[c] = v
            changed = False
            for t, vals in per_table.items():
                own = db.row(t, n) or {}
                diff = {c: v for c, v in vals.items() if own.get(c, "") != v}
                if diff:
                    changed = True
                    db.set_node_attrs(n, t, diff)
            if changed or n in created:
                modified += 1
    if errors:
        ctx.E("One or more errors occured when attempting to create or modify xCAT object definitions.")
        return
    if created:
        ctx.info(f"New object definitions '{','.join(created)}' have been created.")
    if modified:
        ctx.info(f"{modified} object definitions have been created or modified.")
    else:
        ctx.info("No object definitions have been created or modified.")


def nodels(ctx: Any, args: list[str]) -> None:
    db = ctx.db
    header = "-H" in args or "--with-fieldname" in args
    blame = "-b" in args or "--blame" in args
    rest = [a for a in args if not a.startswith("-")]
    nr = "all"
    # the first argument is the noderange unless it names a column of a node table (noderes.servicenode...):
    # a node called sn.2 is a noderange
    spec = re.match(r"^(\w+)\.\w+", rest[0]) if rest else None
    if rest and not (spec and spec[1] in st.NODE_TABLES):
        nr = rest.pop(0)
    cols: list[tuple[str, str]] = []
    filters: list[tuple[str, str, str, str]] = []
    for spec in rest:
        m = re.match(r"^(\w+)\.(\w+)(==|!=|=~|!~)?(.*)$", spec)
        if not m or m[1] not in st.NODE_TABLES or m[2] not in st.NODE_TABLES[m[1]]:
            col = spec.split("=")[0].split("!")[0]
            ctx.E(f"{col} not a valid table.column description")
            return
        if m[3]:
            filters.append((m[1], m[2], m[3], m[4]))
        else:
            cols.append((m[1], m[2]))
    nodes, missing = noderange.expand(db, nr)
    if missing:
        ctx.error("Invalid nodes and/or groups in noderange: " + ",".join(missing), 1)
        return
    for t, c, op, want in filters:
        vals = db.get_attrs(nodes, t, [c])
        nodes = [n for n in nodes if _match(vals[n][c], op, want)]
    values: dict[str, dict[str, dict]] = {}
    for t in dict.fromkeys(t for t, _ in cols):
        values[t] = db.get_attrs(nodes, t, sorted({c for tt, c in cols if tt == t}), origin=True)
    for n in sorted(nodes, key=noderange.natural_key):
        if not cols:
            ctx.data(n)
            continue
        for t, c in cols:
            v, origin = values[t][n][c]
            tail = f" (inherited from group {origin})" if blame and origin else ""
            if header or len(cols) > 1:
                ctx.data(f"{n}: {t}.{c}: {v}{tail}")
            else:
                ctx.data(f"{n}: {v}{tail}")
