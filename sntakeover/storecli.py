"""``sntakeover store``: the store's schema version, and its migration.

``sntakeover store version`` prints the version of the configured store and of
this sntakeover; ``sntakeover store migrate`` brings an older store to this
version (idempotent; one transaction). A daemon opens an older SQLite store by
migrating it; it refuses an older shared PostgreSQL store until ``store migrate``
has run (stop or upgrade every daemon sharing it first), and any store newer than
itself.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .errors import StoreError

log = logging.getLogger(__name__)


def cmd_store(args: argparse.Namespace) -> int:
    from .config import load
    from .store import SCHEMA_VERSION, Store, store_exists

    cfg = load(args.config)
    location = cfg.store_path
    try:
        if args.action == "version":
            if not store_exists(location):
                print(f"no store at {location}; this sntakeover writes schema version {SCHEMA_VERSION}")
                return 1
            store = Store(location, readonly=True)
            version = store.schema_version()
            store.close()
            print(f"store {store}: schema version {version if version is not None else '(empty)'}; "
                  f"this sntakeover: {SCHEMA_VERSION}")
            return 0 if version == SCHEMA_VERSION else 1
        store = Store(location, migrate=True)  # opening migrates (after the newer-than-us check)
        version = store.schema_version()
        store.close()
        print(f"store {store}: schema version {version}")
        return 0
    except StoreError as exc:
        print(f"sntakeover store {args.action}: {exc}", file=sys.stderr)
        return 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("store", help="the store's schema version; migrate an older store",
                              description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("version", "migrate"))
    p.add_argument("--config", "-c", help="configuration file")
    p.set_defaults(func=cmd_store)
