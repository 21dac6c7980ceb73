"""A real OpenSSH sshd on 127.0.0.1 for the SSH runner tests.

Unprivileged configuration (``-f /dev/null``, every path in a 0700 temporary
directory, keys made by ``ssh-keygen``). sshd can only log in as the user that
runs it, so the runner logs in as that user. sshd does not take port 0, so a
free port is picked first and the start is retried if someone took it.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
from pathlib import Path

from realtools_support import free_port, need
from support import descendants

from sntakeover.poll import PollTimeout, wait_until


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True,
                   timeout=30)
    return path


def key_line(pub: Path) -> str:
    """``type base64`` of a public key file."""
    return " ".join(pub.read_text().split()[:2])


def fingerprint(pub: Path) -> str:
    """ssh-keygen's own SHA256 fingerprint of a public key."""
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]


class Sshd:
    def __init__(self, top: Path) -> None:
        self.sshd = need("sshd")
        self.dir = top / "sshd"
        self.dir.mkdir(mode=0o700)
        self.hostkey = keygen(self.dir / "host_ed25519")
        self.clientkey = keygen(self.dir / "client_ed25519")
        self.authorized = self.dir / "authorized_keys"
        self.authorized.write_text(self.clientkey.with_suffix(".pub").read_text())
        self.known_hosts = self.dir / "known_hosts"
        self.user = getpass.getuser()
        self.log = self.dir / "sshd.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        if os.geteuid() == 0:  # sshd started as root wants its privilege separation directory
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    @property
    def host_pub(self) -> Path:
        return self.hostkey.with_suffix(".pub")

    def trust(self) -> None:
        """Write the server's real host key into the dedicated known_hosts file."""
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {key_line(self.host_pub)}\n")

    def start(self, port: int | None = None) -> "Sshd":
        for _ in range(5):
            self.port = port or free_port()
            seen = len(self.output())
            argv = [self.sshd, "-D", "-e", "-f", "/dev/null", "-o", f"Port={self.port}", "-o", "ListenAddress=127.0.0.1",
                    "-o", f"HostKey={self.hostkey}", "-o", f"PidFile={self.dir / 'sshd.pid'}",
                    "-o", f"AuthorizedKeysFile={self.authorized}", "-o", "StrictModes=no",
                    "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no", "-o", "UsePAM=no",
                    "-o", "PermitRootLogin=prohibit-password", "-o", "LogLevel=VERBOSE"]
            self.proc = subprocess.Popen(argv, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                         start_new_session=True)
            try:
                wait_until(lambda: f"Server listening on 127.0.0.1 port {self.port}" in self.output()[seen:],
                           timeout=15, alive=lambda: self.proc.poll() is None, what="sshd listening")
                return self
            except PollTimeout:
                pass
            self.stop()
            if port:
                break
        raise RuntimeError("sshd did not start:\n" + self.output())

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Stop the listener and every connection it serves (each runs in its own session)."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in [self.proc.pid, *descendants(self.proc.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)
        self.proc = None

    def runner(self, **kw):
        from sntakeover.sshrunner import SSHRunner

        kw.setdefault("timeout", 60.0)
        return SSHRunner(host="127.0.0.1", port=self.port, user=self.user, key_file=str(self.clientkey),
                         known_hosts=str(self.known_hosts), **kw)

    def config(self) -> tuple[str, str]:
        """(``[xcat]`` lines, ``[ssh]`` table) for a daemon that runs xCAT through this sshd."""
        return ('runner = "ssh"\n',
                f'[ssh]\nhost = "127.0.0.1"\nport = {self.port}\nuser = "{self.user}"\n'
                f'key_file = "{self.clientkey}"\nknown_hosts = "{self.known_hosts}"\n')
