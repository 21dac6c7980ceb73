"""What every ``sntakeover`` command shares: the configuration, the endpoint, the store
(read-only), logging, the common options, and a quiet end when the reader of
standard output went away (``sntakeover show 7 | head``)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from typing import Callable

from .errors import SntakeoverError
from .pgstore import redact


def setup_logging(level: str = "info") -> None:
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    from .printable import OneLineFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(fmt))  # one line per record, whatever the text in it
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)


def load_config(args: argparse.Namespace):
    from .config import load

    return load(getattr(args, "config", None))


def endpoint(args: argparse.Namespace) -> str:
    if getattr(args, "endpoint", None):
        return args.endpoint
    if os.environ.get("SNTAKEOVER_ENDPOINT"):
        return os.environ["SNTAKEOVER_ENDPOINT"]
    return load_config(args).endpoint


def client_keys(args: argparse.Namespace):
    """CURVE keys for a ``tcp://`` endpoint: ``--client-key``/``--server-key``, the environment, ``[auth]``."""
    from .auth import client_keys as resolve

    ep = endpoint(args)
    if not ep.startswith("tcp://"):
        return None
    cfg = None
    if not (getattr(args, "client_key", None) and getattr(args, "server_key", None)):
        cfg = load_config(args)
    return resolve(ep, getattr(args, "client_key", None), getattr(args, "server_key", None), cfg)


def open_store(args: argparse.Namespace):
    """The store, read-only (commands never write it: the daemon owns it)."""
    from .store import Store, store_exists

    cfg = load_config(args)
    if not store_exists(cfg.store_path):
        raise SntakeoverError(f"no store at {redact(str(cfg.store_path))} "
                              "(has the daemon ever run with this configuration?)")
    return Store(cfg.store_path, readonly=True)


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0 (``-1`` or ``nan`` would wait forever)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value


def whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give at least {minimum}")
        return value
    return parse


#: how many times to try: at least once
attempts = whole(1)


def common(sp: argparse.ArgumentParser, endpoint: bool = False) -> None:
    """The options every command has (``--config``), and those of commands that ask the daemon."""
    sp.add_argument("--config", "-c", help="configuration file (default: $SNTAKEOVER_CONFIG or /etc/sntakeover/config.toml)")
    if endpoint:
        sp.add_argument("--endpoint", help="daemon endpoint (default: from the configuration, or $SNTAKEOVER_ENDPOINT)")
        sp.add_argument("--timeout", type=seconds, default=2.5, help="seconds to wait for a reply per attempt")
        sp.add_argument("--retries", type=attempts, default=3, help="attempts before giving up")
        key_options(sp)


def key_options(sp: argparse.ArgumentParser, *, from_config: bool = True) -> None:
    """``--client-key`` and ``--server-key``: CURVE keys for a ``tcp://`` endpoint.

    ``from_config=False``: the command reads no configuration (the hooks, the bridge).
    """
    client = ", else auth.client_key" if from_config else ""
    server = ", else auth.server_public" if from_config else ""
    sp.add_argument("--client-key", metavar="FILE",
                    help=f"tcp:// endpoint: this client's NAME.key_secret file (default: $SNTAKEOVER_CLIENT_KEY{client})")
    sp.add_argument("--server-key", metavar="FILE",
                    help=f"tcp:// endpoint: the daemon's public key file, server.key (default: "
                         f"$SNTAKEOVER_SERVER_KEY{server})")


def quiet_on_closed_pipe(run: Callable[[], int]) -> int:
    """Run a command; if whoever reads standard output stopped reading, end quietly (no traceback)."""
    from .exitcodes import BROKEN_PIPE

    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail too
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return BROKEN_PIPE



def since_time(text: str) -> str:
    """``--since``: a span back from now (``90m``, ``24h``, ``7d``) or a time (``2026-12-01T06:00:00Z``)."""
    import re
    from datetime import datetime, timedelta, timezone

    from .clock import iso, parse

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if m:
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return iso(datetime.now(timezone.utc) - timedelta(seconds=seconds))
    try:
        return iso(parse(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a span back from now (90m, 24h, 7d) nor a time (2026-12-01T06:00:00Z)") from None
