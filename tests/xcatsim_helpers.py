"""Helpers for the simulator tests: run generated bin commands like a shell would."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Res:
    rc: int
    out: str
    err: str


def run(cluster: Path, *argv: str, stdin: str | None = None) -> Res:
    env = dict(os.environ)
    env["PATH"] = f"{cluster / 'bin'}:{env.get('PATH', '')}"
    p = subprocess.run(list(argv), capture_output=True, text=True, env=env, input=stdin, timeout=60)
    return Res(p.returncode, p.stdout, p.stderr)
