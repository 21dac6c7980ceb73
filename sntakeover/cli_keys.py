"""``sntakeover keys create|list``: the CURVE key pairs of a ``tcp://`` endpoint.

``keys create NAME`` writes ``NAME.key`` (public, 0644) and ``NAME.key_secret``
(secret, 0600, created with that mode: never readable by others, not even for
a moment) into ``--dir`` (default ``auth.keys_dir``, where the daemon looks for
allowed clients). ``keys create --server`` writes the daemon's own pair at
``auth.server_secret`` (its public half, ``server.key``, goes to every client).
The files have the format of ``zmq.auth.create_certificates``. ``keys list``
shows the allowed keys and which of them are admins.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import zmq

from .clicommon import load_config
from .exitcodes import FAILED, OK, USAGE

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _text(public: bytes, secret: bytes | None) -> str:
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [f"#   ****  Generated on {when} by sntakeover keys create  ****",
             "#   ZeroMQ CURVE " + ("**Secret** Certificate: DO NOT PROVIDE THIS FILE TO OTHER USERS"
                                   if secret else "Public Certificate"),
             "#   Exchange securely, or use a secure mechanism to verify the contents", "",
             "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def create_pair(directory: Path, name: str, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``NAME.key`` (0644) and ``NAME.key_secret`` (0600) into ``directory``; returns their paths.

    :raises FileExistsError: either file exists and ``force`` is false.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    public_file, secret_file = directory / f"{name}.key", directory / f"{name}.key_secret"
    existing = [str(p) for p in (public_file, secret_file) if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); --force replaces the pair")
    for p in (public_file, secret_file):
        p.unlink(missing_ok=True)
    public, secret = zmq.curve_keypair()
    _write(secret_file, _text(public, secret), 0o600)
    _write(public_file, _text(public, None), 0o644)
    return public_file, secret_file


def cmd_create(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if args.server:
        secret = Path(cfg.get("auth", "server_secret"))
        if not secret.name.endswith(".key_secret"):
            print(f"sntakeover keys: auth.server_secret {secret} must end in .key_secret", file=sys.stderr)
            return USAGE
        directory, name = Path(args.dir) if args.dir else secret.parent, secret.name[: -len(".key_secret")]
    else:
        if not args.name or not NAME.fullmatch(args.name):
            print(f"sntakeover keys: give a key NAME (letters, digits, '.', '_', '-'; at most 64), got {args.name!r}",
                  file=sys.stderr)
            return USAGE
        directory, name = Path(args.dir or cfg.get("auth", "keys_dir")), args.name
    try:
        public_file, secret_file = create_pair(directory, name, force=args.force)
    except OSError as exc:
        print(f"sntakeover keys: {exc}", file=sys.stderr)
        return FAILED
    print(f"public key: {public_file} (0644)")
    print(f"secret key: {secret_file} (0600)")
    if args.server:
        print(f"give {public_file} to every client (--server-key / $SNTAKEOVER_SERVER_KEY)")
    else:
        print(f"the client uses --client-key {secret_file.name} (copy it to the client host, then remove it here); "
              f"the daemon allows the key while {public_file.name} is in auth.keys_dir")
    return OK


def cmd_list(args: argparse.Namespace) -> int:
    from .auth import KeyRing
    from .errors import ConfigError

    cfg = load_config(args)
    directory = args.dir or cfg.get("auth", "keys_dir")
    admins = set(cfg.get("auth", "admins"))
    try:
        keys = KeyRing(directory).load()
    except ConfigError as exc:
        print(f"sntakeover keys: {exc}", file=sys.stderr)
        return FAILED
    rows: list[dict[str, Any]] = [{"name": name, "public_key": key.decode(), "admin": name in admins}
                                  for key, name in sorted(keys.items(), key=lambda kv: kv[1])]
    if args.json:
        print(json.dumps({"keys_dir": str(directory), "keys": rows}, indent=2))
        return OK
    print(f"{len(rows)} key(s) in {directory}" + (":" if rows else " (a tcp:// endpoint would refuse to start)"))
    for r in rows:
        print(f"  {r['name']:<20} {r['public_key']}  {'admin (status, control verbs)' if r['admin'] else 'events only'}")
    for name in sorted(admins - {r["name"] for r in rows}):
        print(f"  warning: auth.admins names {name!r}, which has no key here")
    return OK


def register(sub: Any, common: Any) -> None:
    sp = sub.add_parser("keys", help="CURVE key pairs for a tcp:// endpoint: create, list")
    verbs = sp.add_subparsers(dest="verb", metavar="VERB", required=True)
    c = verbs.add_parser("create", help="make a key pair (NAME.key 0644, NAME.key_secret 0600)")
    common(c)
    c.add_argument("name", nargs="?", metavar="NAME", help="the client's name (recorded on each of its events)")
    c.add_argument("--server", action="store_true", help="make the daemon's own pair, at auth.server_secret")
    c.add_argument("--dir", help="where to write it (default: auth.keys_dir; with --server: beside auth.server_secret)")
    c.add_argument("--force", action="store_true", help="replace an existing pair of that name")
    c.set_defaults(func=cmd_create)
    ls = verbs.add_parser("list", help="the client keys the daemon allows, and which are admins")
    common(ls)
    ls.add_argument("--dir", help="default: auth.keys_dir")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
