"""Times as the store keeps them: UTC, ISO 8601 with milliseconds and a ``Z``.

Strings in this one format compare in time order, so the store can select on
them directly (``wake_at <= now``).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    return iso(datetime.now(timezone.utc))


def after(seconds: float) -> str:
    """The time ``seconds`` from now."""
    return iso(datetime.now(timezone.utc) + timedelta(seconds=seconds))


def plus(text: str, seconds: float) -> str:
    """The time ``seconds`` after the stored time ``text``."""
    return iso(parse(text) + timedelta(seconds=seconds))


def parse(text: str) -> datetime:
    """Parse an RFC 3339 time (``Z`` or an offset); a naive time is taken as UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def age(text: str, reference: str | None = None) -> float:
    """Seconds from ``text`` to ``reference`` (default: now); negative for a time in the future."""
    ref = parse(reference) if reference else datetime.now(timezone.utc)
    return (ref - parse(text)).total_seconds()


def seconds_until(text: str) -> float:
    return -age(text)


def span(seconds: float) -> str:
    """A duration in words an admin reads at a glance: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    s = int(round(abs(seconds)))
    if s < 120:
        return f"{s} s"
    m = s // 60
    if m < 120:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def monotonic() -> float:
    return time.monotonic()
