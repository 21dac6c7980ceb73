"""The installed (non-editable) package finds its schemas, and the README matches the code."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sntakeover.config import reference_markdown

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_installed_wheel_finds_the_schemas(tmp_path):
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(dist), str(REPO)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel = next(dist.glob("sntakeover-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    code = ("import sntakeover, sntakeover.validation as v; print(sntakeover.__file__); "
            "print(' '.join(sorted(v.load_validators().names())))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    where, names = r.stdout.splitlines()
    assert str(venv) in where and str(REPO) not in where
    assert "event.v1" in names.split() and "request.v1" in names.split()
    from sntakeover import xcatsim

    bindir = xcatsim.bin_dir(xcatsim.init_cluster(tmp_path / "cluster", nodes=4, sns=("sn1", "sn2")))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[xcat]\npath = ["{bindir}"]\n')
    r = subprocess.run([str(venv / "bin" / "sntakeover"), "check-config", "--config", str(cfg)], capture_output=True,
                       text=True, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0 and "event.v1" in r.stdout, r.stderr


def test_readme_carries_the_configuration_reference():
    readme = (REPO / "README.md").read_text()
    assert reference_markdown() in readme, "regenerate the reference: python -c 'from sntakeover.config import reference_markdown as r; print(r())'"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", readme, re.S)
    install, tests = blocks[0].strip(), blocks[1].strip()
    assert install == "pip install . && sntakeover demo"
    assert tests in (REPO / ".ci" / "run").read_text().splitlines()
