"""One line per incident, the same everywhere (``show``, ``incidents``, notifications, the log):
``400 moved to sn2 in 41 s, 3 failed: cn17,cn230-cn231``.

Pure: it works from plain facts, so notifiers (which see only the hook
arguments) and the store readers say exactly the same thing.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .clock import age, span
from .noderange import shorten

TERMINAL = {"done", "partial", "failed", "cancelled", "suppressed"}


def summary_line(state: str, *, verified: Iterable[str] = (), failed: Iterable[str] = (),
                 skipped: Iterable[str] = (), pending: Iterable[str] = (), moved_to: Mapping[str, int] | None = None,
                 opened: str | None = None, committed: str | None = None, closed: str | None = None,
                 limit: int = 120) -> str:
    """The incident in one line.

    :param verified: nodes verified on their backup; ``moved_to`` says how many per backup.
    :param pending: planned and not moved yet; once the incident has ended, these are
        named with the ``skipped`` ones as not moved.
    :param committed: when fencing or moving began (the takeover time counts from there).
    :param closed: when it ended (``None``: still open, the time counts to now).
    """
    ok, bad, left, todo = list(verified), list(failed), list(skipped), list(pending)
    ended = state in TERMINAL
    if ended:  # what it planned and never moved is not moved either, whatever the reason
        left, todo = left + todo, []
    took = f" in {_span(committed, closed)}" if committed and _span(committed, closed) else ""
    parts: list[str] = []
    if ok or bad or todo:
        where = _backups(moved_to or {})
        if ended:
            parts.append(f"{len(ok)} moved{where}{took}")
        else:
            so_far = f" so far ({took[4:]})" if took else " so far"
            parts.append(f"{len(ok)} of {len(ok) + len(bad) + len(todo)} moved{where}{so_far}")
        if bad:
            parts.append(f"{len(bad)} failed: {shorten(bad, limit)}")
    elif ended:
        parts.append("nothing to move" if state == "done" else f"nothing moved ({state})")
    else:
        since = f" (open {_span(opened, closed)})" if opened and _span(opened, closed) else ""
        parts.append(f"{state}{since}")
    if left:
        parts.append(f"{len(left)} not moved: {shorten(left, limit)}")
    return ", ".join(parts)


def _backups(moved_to: Mapping[str, int]) -> str:
    if not moved_to:
        return ""
    if len(moved_to) == 1:
        return f" to {next(iter(moved_to))}"
    return " to " + ", ".join(f"{b} ({n})" for b, n in sorted(moved_to.items()))


def _span(start: str, end: str | None) -> str:
    """``41 s`` from ``start`` to ``end`` (default now); empty when a time cannot be read."""
    try:
        return span(age(start, end) if end else age(start))
    except ValueError:
        return ""
