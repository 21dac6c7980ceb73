"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary directory, on 127.0.0.1.

The server runs as an unprivileged user (``nobody`` when the tests run as root:
PostgreSQL refuses to run as root), trusts local TCP connections, and is removed
with its directory by :meth:`PgServer.stop`. Each test gets a database of its own
(:meth:`PgServer.database`).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def pg_bin() -> Path | None:
    """Directory of the server binaries (Debian puts them under /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    USER = "sntakeover"

    def __init__(self, *, fsync: bool = False) -> None:
        """:param fsync: the server's ``fsync`` (off for the tests: nothing there must survive a crash of the machine)."""
        self.fsync = fsync
        self.bin = pg_bin()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl)")
        self.dir = Path(tempfile.mkdtemp(prefix="sntakeover-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.runas = "nobody" if os.getuid() == 0 else None
        if self.runas:
            pw = pwd.getpwnam(self.runas)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self._names = itertools.count(1)
        self._run("initdb", "-D", str(self.data), "-U", self.USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def _run(self, prog: str, *args: str) -> subprocess.CompletedProcess:
        argv = [str(self.bin / prog), *args]
        if self.runas:
            argv = ["runuser", "-u", self.runas, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True, cwd="/")

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync={'on' if self.fsync else 'off'} -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")

    def pause(self) -> None:
        """Stop the server at once (clients see their connections cut); :meth:`start` brings it back."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{db}"

    def sql(self, statement: str, db: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as c:
            cur = c.execute(statement)
            return cur.fetchall() if cur.description else []

    def database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            # a slow machine: end the postmaster itself (SIGQUIT = immediate shutdown), by its pid
            try:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGQUIT)
                for _ in range(600):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except (OSError, ValueError, IndexError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
