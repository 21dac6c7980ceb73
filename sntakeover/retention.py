"""Store retention: what ``sntakeover prune`` (and the daemon, every ``retention.prune_interval``) removes.

* raw payloads older than ``retention.raw_days``, except those that carried an
  event an incident refers to;
* processed events older than ``retention.events_days`` that no incident refers
  to (a pruned id is no longer recognised as a duplicate, so keep events longer
  than any tool re-sends: Alertmanager's repeats are hours, not days);
* outbox rows every notification plugin is done with.

Incidents, their timeline, nodes and commands, and the events they reference,
are never removed. ``0`` days keeps that kind for ever.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from .clicommon import whole
from .errors import StoreError
from .pgstore import redact
from .store import Store, store_exists

log = logging.getLogger(__name__)

KEPT_RAW = (
    "NOT EXISTS (SELECT 1 FROM json_each(raw.event_ids) AS j JOIN events AS e ON e.id = j.value"
    " WHERE e.incident_id IS NOT NULL)"
)
SQL = {
    "raw": f"FROM raw WHERE received < :raw_cutoff AND {KEPT_RAW}",
    "events": "FROM events WHERE processed = 1 AND incident_id IS NULL AND received < :events_cutoff",
    "outbox": "FROM outbox WHERE seq <= (SELECT COALESCE(MIN(seq), 0) FROM outbox_cursor)",
}


def _cutoff(days: int) -> str:
    if days <= 0:
        return ""  # nothing is older than the empty string
    t = datetime.now(timezone.utc) - timedelta(days=days)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def prune(store: Store, *, raw_days: int, events_days: int, dry_run: bool = False) -> dict[str, int]:
    """Remove (or, with ``dry_run``, count) what retention allows; returns the count per table."""
    args = {"raw_cutoff": _cutoff(raw_days), "events_cutoff": _cutoff(events_days)}
    out: dict[str, int] = {}
    with store.tx() as db:
        for table, where in SQL.items():
            if dry_run:
                out[table] = db.execute(f"SELECT COUNT(*) {where}", args).fetchone()[0]
            else:
                out[table] = db.execute(f"DELETE {where}", args).rowcount
    if any(out.values()) and not dry_run:
        log.info("pruned %s", ", ".join(f"{n} {t} row(s)" for t, n in out.items()))
    return out


def prune_config(store: Store, config: Any, dry_run: bool = False) -> dict[str, int]:
    r = config["retention"]
    return prune(store, raw_days=r["raw_days"], events_days=r["events_days"], dry_run=dry_run)


def cmd_prune(args: argparse.Namespace) -> int:
    from .config import load

    cfg = load(args.config)
    if not store_exists(cfg.store_path):
        print(f"sntakeover prune: no store at {redact(str(cfg.store_path))}", file=sys.stderr)
        return 1
    r = cfg["retention"]
    raw_days = r["raw_days"] if args.raw_days is None else args.raw_days
    events_days = r["events_days"] if args.events_days is None else args.events_days
    try:
        counts = prune(Store(cfg.store_path), raw_days=raw_days, events_days=events_days, dry_run=args.dry_run)
    except (sqlite3.Error, StoreError) as exc:
        print(f"sntakeover prune: {exc}", file=sys.stderr)
        return 1
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {counts['raw']} raw payload(s) older than {raw_days or 'ever (kept)'} day(s)")
    print(f"{verb} {counts['events']} processed event(s) no incident refers to, older than "
          f"{events_days or 'ever (kept)'} day(s)")
    print(f"{verb} {counts['outbox']} delivered outbox row(s)")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("prune", help="remove old raw payloads and events (incidents are kept)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--config", "-c", help="configuration file")
    p.add_argument("--dry-run", "-n", action="store_true", help="only print what would be removed")
    p.add_argument("--raw-days", type=whole(0), help="override retention.raw_days")
    p.add_argument("--events-days", type=whole(0), help="override retention.events_days")
    p.set_defaults(func=cmd_prune)
