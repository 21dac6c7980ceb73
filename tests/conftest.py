"""Shared fixtures: ``sim`` builds a simulated xCAT cluster, ``daemon`` runs ``sntakeover serve``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import DaemonProc, Sim  # noqa: E402


@pytest.fixture(autouse=True)
def _no_simulator_left_running():
    """Every simulated cluster's listener agent started during a test ends with it."""
    yield
    from sntakeover.xcatsim import stop_all

    stop_all()


@pytest.fixture
def sim(tmp_path: Path):
    made: list[Sim] = []

    def make(**kw: Any) -> Sim:
        kw.setdefault("nodes", 16)
        kw.setdefault("sns", ("sn1", "sn2", "sn3", "sn4"))
        made.append(Sim(tmp_path / "cluster", **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


@pytest.fixture
def daemon(tmp_path: Path):
    made: list[DaemonProc] = []

    def make(sim: Sim | None = None, extra: str = "", start: bool = True, xcat: str = "") -> DaemonProc:
        d = DaemonProc(tmp_path if not made else tmp_path / f"d{len(made)}", sim, extra, xcat)
        d.tmp.mkdir(parents=True, exist_ok=True)
        made.append(d)
        return d.start() if start else d

    yield make
    for d in made:
        d.cleanup()


@pytest.fixture(scope="session")
def adapt():
    """Run a raw payload through the daemon's own steps (raw schema, adapter, event schema);
    returns the event dicts."""
    from sntakeover.config import build
    from sntakeover.intake import Intake
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.validation import load_validators

    intake = Intake(build({}), None, load_validators(), Hooks(get_plugin_manager(load_entrypoints=False)))

    def run(source: str, payload: Any, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [e.to_dict() for e in intake.adapt(source, payload, options or {})]

    return run


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the whole session (skipped without one, failed under
    SNTAKEOVER_REQUIRE_REAL_TOOLS=1)."""
    import os

    from pgserver import PgServer, pg_bin

    try:
        import psycopg  # noqa: F401
    except ImportError:
        psycopg = None
    if pg_bin() is None or psycopg is None:
        what = "psycopg 3" if psycopg is None else "PostgreSQL's initdb/pg_ctl"
        if os.environ.get("SNTAKEOVER_REQUIRE_REAL_TOOLS"):
            pytest.fail(f"{what} not installed")
        pytest.skip(f"{what} not installed")
    server = PgServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path: Path):
    """A fresh store location of each kind: an SQLite file, a database on the test PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "store.db"
    return request.getfixturevalue("pg_server").database()
