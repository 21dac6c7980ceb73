"""Following a takeover live: ``sntakeover show ID --follow`` and ``sntakeover watch [ID|SN]``.

Reads the store only (read-only, never the daemon's socket), polls it with
:func:`sntakeover.poll.wait_until` and ends when every followed incident has
ended. On a terminal the display is redrawn in place (``rich``): per phase its
state, time and counts, the node totals, what the incident waits for and the
last timeline lines. Anywhere else (a pipe, a log file) it prints one plain
line per change, without escape codes.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Callable

from .clock import span
from .exitcodes import FAILED, OK
from .poll import PollTimeout, wait_until
from .printable import printable
from .progress import snapshot
from .store import Store

INTERVAL = 0.25


def resolve(store: Store, target: str | None) -> tuple[list[int], Callable[[], list[int]] | None]:
    """The incidents to follow: (ids now, or a check that finds the one to wait for).

    ``target``: an incident id (digits), a service node (its open incident, else its next one), or
    ``None`` (every open incident, else the next one to open).
    """
    if target is not None and target.isdigit():
        if store.incident(int(target)) is None:
            raise KeyError(int(target))
        return [int(target)], None
    sn_cond, args = ("servicenode = ? AND ", (target,)) if target else ("", ())
    open_ids = [r[0] for r in store.query(f"SELECT id FROM incidents WHERE {sn_cond}closed IS NULL ORDER BY id", args)]
    if open_ids:
        return open_ids, None
    newest = store.query("SELECT COALESCE(MAX(id), 0) FROM incidents")[0][0]

    def next_one() -> list[int]:
        rows = store.query(f"SELECT id FROM incidents WHERE {sn_cond}id > ? ORDER BY id LIMIT 1", (*args, newest))
        return [rows[0][0]] if rows else []

    return [], next_one


def node_counts(n: dict[str, int]) -> str:
    """``312 of 400 moved, 0 verified, 0 failed, 88 waiting`` (and how many snmove is moving now)."""
    moving = f", {n['moving']} being moved" if n["moving"] else ""
    return (f"{n['moved']} of {n['total']} moved, {n['verified']} verified, {n['failed'] + n['move_failed']} failed, "
            f"{n['waiting']} waiting{moving}")


class PlainLines:
    """One line per change: new timeline entries and changed node counts."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.seen: dict[int, int] = {}
        self.counts: dict[int, str] = {}

    def show(self, store: Store, snaps: list[dict[str, Any]]) -> None:
        for s in snaps:
            iid = s["id"]
            if iid not in self.seen:
                self.seen[iid] = 0
                self._say(f"incident {iid}: {s['servicenode']} {s['state']} (opened {s['opened']})")
            for t in store.query("SELECT * FROM timeline WHERE incident_id = ? AND seq > ? ORDER BY seq",
                                 (iid, self.seen[iid])):
                arrow = f"{t['from_state'] or '-'} -> {t['to_state']}" if t["to_state"] else "note"
                self._say(f"  {t['time'][11:23]}  {arrow:<26} {t['reason']}")
                self.seen[iid] = t["seq"]
            n = s["nodes"]
            counts = f"  nodes: {node_counts(n)}" if n["total"] else ""
            if counts and counts != self.counts.get(iid):
                self.counts[iid] = counts
                self._say(counts)

    def _say(self, text: str) -> None:
        print(printable(text), file=self.out, flush=True)

    def close(self) -> None:
        pass


class LiveView:
    """The display redrawn in place on a terminal."""

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=out)
        self.live = Live(console=self.console, refresh_per_second=4, auto_refresh=False)
        self.live.start()

    def show(self, store: Store, snaps: list[dict[str, Any]]) -> None:
        from rich.console import Group

        self.live.update(Group(*(panel(s) for s in snaps)), refresh=True)

    def close(self) -> None:
        self.live.stop()


STYLE = {"done": "green", "running": "bold yellow", "waiting": "bold magenta", "skipped": "dim", "to come": "dim"}


def panel(s: dict[str, Any]):
    """One incident as a rich panel: phases, node totals, what it waits for, the last timeline lines."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    end_style = "bold green" if s["state"] == "done" else "bold red" if s["terminal"] else "bold yellow"
    table = Table.grid(padding=(0, 2))
    for p in s["phases"]:
        took = "" if p["seconds"] is None else f"{p['seconds']:.1f} s" if p["seconds"] < 10 else span(p["seconds"])
        table.add_row(Text(p["name"]), Text(p["status"], style=STYLE.get(p["status"], "")), Text(took),
                      Text(printable(p["detail"])))
    n = s["nodes"]
    body = [table, Text(""),
            Text(f"nodes: {node_counts(n)}, {n['skipped']} left out"),
            Text(printable(f"summary: {s['summary']}")), Text(printable(s["why"]), style="italic"), Text("")]
    for t in s["timeline"]:
        arrow = f"{t['from_state'] or '-'} -> {t['to_state']}" if t["to_state"] else "note"
        body.append(Text(printable(f"{t['time'][11:19]}  {arrow:<26} {t['reason']}"), overflow="ellipsis",
                         no_wrap=True))
    from rich.console import Group

    title = Text.assemble(f"incident {s['id']} · {s['servicenode']} · ", (s["state"], end_style),
                          f" · {span(s['elapsed'])}")
    return Panel(Group(*body), title=title, title_align="left")


def follow(store: Store, target: str | None, *, out: IO[str] | None = None, live: bool | None = None,
           timeout: float | None = None, interval: float = INTERVAL, rounds_needed: int | None = None) -> int:
    """Follow until every followed incident has ended; 0 if all ended ``done``, else 1.

    :param live: redraw in place (default: when ``out`` is a terminal).
    :param timeout: seconds to wait in all (``None``: as long as it takes).
    :raises KeyError: ``target`` is an incident id that does not exist.
    """
    out = out or sys.stdout
    ids, find = resolve(store, target)
    if live is None:
        live = out.isatty()
    if not ids:
        what = f"the next incident of {target}" if target else "the next incident"
        print(f"waiting for {what} ...", file=out, flush=True)
        try:
            ids = wait_until(find, timeout=timeout, interval=interval, what=what)  # type: ignore[arg-type]
        except PollTimeout as exc:
            print(f"sntakeover: {exc}", file=sys.stderr)
            return FAILED
    view = LiveView(out) if live else PlainLines(out)
    final: list[dict[str, Any]] = []

    def all_ended() -> bool:
        snaps = [snapshot(store, i, rounds_needed=rounds_needed) for i in ids]
        view.show(store, snaps)
        final[:] = snaps
        return all(s["terminal"] for s in snaps)

    try:
        wait_until(all_ended, timeout=timeout, interval=interval, what="the incident to end")
    except PollTimeout as exc:
        view.close()
        print(f"sntakeover: {exc}", file=sys.stderr)
        return FAILED
    view.close()
    for s in final:
        print(printable(f"incident {s['id']} ended {s['state']}: {s['summary']}"), file=out, flush=True)
    return OK if all(s["state"] == "done" for s in final) else FAILED
