"""The store's files: permissions, existence, and the per-file write lock (SQLite)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from .pgstore import is_url

#: permission bits the store files may have (owner rw, group r)
FILE_MODE = 0o640
BUSY_TIMEOUT = 30.0


def store_exists(location: str | Path) -> bool:
    """Whether a store is there to read (a PostgreSQL URL: always; connecting tells more)."""
    return is_url(location) or Path(location).exists()


def tighten(path: Path, allowed: int) -> None:
    """Remove permission bits outside ``allowed`` from a file or directory we own."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == os.getuid() and mode & ~allowed:
        os.chmod(path, mode & allowed)


def create_private(path: Path) -> None:
    """Create the database file with :data:`FILE_MODE` if it does not exist; never open an existing one.

    A process that closes any descriptor of a file loses every POSIX (``fcntl``) lock it
    holds on that file: an SQLite connection this process has open would lose its own,
    and another process could then take itself for the last user and delete the WAL.
    """
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass


def tighten_store_files(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        tighten(p, FILE_MODE)


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(path: Path) -> threading.Lock:
    """One lock per database file and process, taken around write transactions only.

    SQLite allows one writer at a time anyway; waiting on this lock wakes the
    next writer as soon as the previous one commits, where SQLite's busy
    handler would sleep and poll (up to 100 ms a try). Readers never take it.
    """
    key = str(path.resolve())
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())
