"""Meta-tests: every hookspec is documented (each parameter, its calling convention, its result)
and has a test named for it (``test_hook_<name>...``), and the facade's isolation list matches the specs."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from sntakeover import hookspecs
from sntakeover.pluginload import ISOLATED_HOOKS

TESTS = Path(__file__).resolve().parent
SPECS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("sntakeover_") and inspect.isfunction(f))
CONVENTIONS = ("Decision hook", "Collecting hook", "Notification hook")


def spec_opts(name: str) -> dict:
    return getattr(getattr(hookspecs, name), "sntakeover_spec")


def test_there_are_hookspecs():
    assert "sntakeover_notify" in SPECS and "sntakeover_verify" in SPECS and len(SPECS) >= 9


@pytest.mark.parametrize("name", SPECS)
def test_every_hookspec_documents_each_parameter_its_convention_and_its_result(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    convention = doc.split(":", 1)[0]
    assert convention in CONVENTIONS, f"{name}: the docstring must start with one of {CONVENTIONS}"
    firstresult = spec_opts(name)["firstresult"]
    assert (convention == "Decision hook") == firstresult, f"{name}: 'Decision hook' iff firstresult=True"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name}: parameter {param!r} is not documented with :param {param}:"
    documented = {line.split(":param ", 1)[1].split(":", 1)[0] for line in doc.splitlines() if ":param " in line}
    assert documented <= set(inspect.signature(fn).parameters), f"{name}: documents parameters it does not have"
    returns = inspect.signature(fn).return_annotation
    if returns not in ("None", None):
        assert ":returns:" in doc, f"{name} returns {returns}: say what with :returns:"


def test_the_facade_isolates_exactly_the_hooks_that_are_not_decisions():
    assert ISOLATED_HOOKS == {n for n in SPECS if not spec_opts(n)["firstresult"]}


def _test_names() -> set[str]:
    names = set()
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


@pytest.mark.parametrize("name", SPECS)
def test_every_hookspec_has_a_test_named_for_it(name):
    assert any(t.startswith(f"test_hook_{name}") for t in _test_names()), \
        f"no test named test_hook_{name}... in tests/"
