"""JSON Schemas: found, checked and compiled once at start-up.

The schema files live in the repository's top-level ``schemas/`` directory and
are installed as the ``sntakeover.schemas`` package data, so an installed
(non-editable) package finds them through :mod:`importlib.resources`. A source
checkout that was never installed falls back to ``<repo>/schemas``.

Validity is checked first, and explained only on failure: the fast check is
jsonschema-rs (compiled once per schema), with every ``format`` the schemas use
answered by the very same checker functions :mod:`jsonschema` uses, so both
accept and refuse the same instances (``tests/test_validation_equivalence.py``
checks that on generated instances). The reference is :mod:`jsonschema`: its
``iter_errors`` + ``best_match`` give the JSON path and message of a rejection,
and when the two ever disagreed, its verdict wins.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

import jsonschema
from jsonschema.exceptions import best_match

try:  # the fast check; without it every check runs in pure Python
    import jsonschema_rs
except ImportError:  # pragma: no cover - a declared dependency
    jsonschema_rs = None
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from .errors import EventRejected

log = logging.getLogger(__name__)

#: formats the schemas rely on; each must have a real checker installed.
REQUIRED_FORMATS = ("date-time",)


def schema_texts() -> dict[str, str]:
    """Return ``{file name: text}`` for every ``*.json`` schema file."""
    out: dict[str, str] = {}
    try:
        root = resources.files("sntakeover.schemas")
        for entry in root.iterdir():
            if entry.name.endswith(".json"):
                out[entry.name] = entry.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    if not out:
        src = Path(__file__).resolve().parent.parent / "schemas"
        for p in sorted(src.glob("*.json")):
            out[p.name] = p.read_text(encoding="utf-8")
    if not out:
        raise FileNotFoundError("no JSON schema files found (package sntakeover.schemas or ./schemas)")
    return out


def schema_text(name: str) -> str:
    """The text of one schema file (``config.v1.json``...)."""
    try:
        return resources.files("sntakeover.schemas").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return (Path(__file__).resolve().parent.parent / "schemas" / name).read_text(encoding="utf-8")


def _check_formats() -> None:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    missing = [f for f in REQUIRED_FORMATS if f not in checker.checkers]
    if missing:
        raise RuntimeError(
            f"format checker(s) {', '.join(missing)} not available; install rfc3339-validator "
            "(without it 'time' would not be checked)"
        )


def _format_functions() -> dict[str, Callable[[Any], bool]]:
    """jsonschema's own format checkers as plain predicates, for jsonschema-rs."""
    out: dict[str, Callable[[Any], bool]] = {}
    for fmt, (func, raises) in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers.items():

        def check(instance: Any, func: Callable[[Any], Any] = func, raises: Any = raises) -> bool:
            try:
                return bool(func(instance))
            except raises:
                return False

        out[fmt] = check
    return out


def _fast_validator(schema: dict[str, Any], formats: dict[str, Callable[[Any], bool]]) -> Any:
    if jsonschema_rs is None:
        return None
    try:
        return jsonschema_rs.validator_for(schema, validate_formats=True, formats=formats)
    except Exception as exc:  # noqa: BLE001 - fall back to the reference validator
        log.warning("schema %s: no fast validator (%s); using jsonschema only", schema.get("$id"), exc)
        return None


def error_message(err: jsonschema.ValidationError) -> str:
    """The error in words. A value that does not match a ``pattern`` is described by the
    schema's ``x-expected`` (or its ``description``), never by the regular expression."""
    if err.validator == "pattern":
        schema = err.schema if isinstance(err.schema, dict) else {}
        expected = schema.get("x-expected") or schema.get("description")
        shown = repr(err.instance) if len(repr(err.instance)) <= 80 else repr(err.instance)[:77] + "..."
        return f"{shown} is not {expected}" if expected else f"{shown} is not in the form expected here"
    if err.validator in _SIZES and isinstance(err.instance, (str, list, dict)):
        # by its size: the value itself may be megabytes, and its end is what a cut message loses
        unit, bound = _SIZES[err.validator]
        said = f"{len(err.instance)} {unit}, {bound.format(err.validator_value)}"
        if isinstance(err.instance, str):
            said += f": {err.instance[:40]!r}..."
        return said
    return err.message


#: validators about a size, described by the size (``9043 characters, more than the 8192 allowed here``)
_SIZES = {"maxLength": ("characters", "more than the {} allowed here"),
          "minLength": ("characters", "fewer than the {} needed here"),
          "maxItems": ("items", "more than the {} allowed here"),
          "minItems": ("items", "fewer than the {} needed here"),
          "maxProperties": ("properties", "more than the {} allowed here"),
          "minProperties": ("properties", "fewer than the {} needed here")}


@dataclass(frozen=True)
class Validators:
    """Compiled validators keyed by short name (``event.v1``, ``alertmanager.v4``...)."""

    by_name: dict[str, jsonschema.protocols.Validator]
    by_id: dict[str, str]  # $id -> short name
    fast: dict[str, Any] = field(default_factory=dict)  # short name -> jsonschema-rs validator

    def names(self) -> Iterable[str]:
        return self.by_name.keys()

    def validate(self, name: str, instance: Any) -> None:
        """Raise :class:`EventRejected` with the JSON path and message of the best error."""
        if self.is_valid(name, instance):
            return
        err = self.explain(name, instance)
        if err is not None:
            raise EventRejected(err.json_path, error_message(err))
        log.warning("schema %s: the fast check refused what jsonschema accepts; accepted", name)

    def explain(self, name: str, instance: Any) -> jsonschema.ValidationError | None:
        """The reference validator's best error for ``instance``, or ``None``."""
        return best_match(self.by_name[name].iter_errors(instance))

    def errors(self, name: str, instance: Any) -> list[jsonschema.ValidationError]:
        """Every error the reference validator finds (empty when valid)."""
        if self.is_valid(name, instance):
            return []
        return list(self.by_name[name].iter_errors(instance))

    def is_valid(self, name: str, instance: Any) -> bool:
        fast = self.fast.get(name)
        if fast is not None:
            return bool(fast.is_valid(instance))
        return self.by_name[name].is_valid(instance)

    def reference_is_valid(self, name: str, instance: Any) -> bool:
        """The pure-Python verdict (what the fast check must agree with)."""
        return self.by_name[name].is_valid(instance)


def load_validators() -> Validators:
    """Read every schema, check it against its meta-schema, and build the validators."""
    _check_formats()
    schemas: dict[str, dict[str, Any]] = {}
    for fname, text in schema_texts().items():
        try:
            schemas[fname.removesuffix(".json")] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"schema {fname} is not valid JSON: {exc}") from exc
    for name, s in schemas.items():
        if "$id" not in s or not str(s["$id"]).startswith("urn:"):
            raise RuntimeError(f"schema {name} has no urn: $id")
        jsonschema.Draft202012Validator.check_schema(s)
    registry: Registry = Registry().with_resources(
        (s["$id"], DRAFT202012.create_resource(s)) for s in schemas.values()
    ).crawl()
    cls = jsonschema.Draft202012Validator
    by_name = {
        name: cls(s, registry=registry, format_checker=cls.FORMAT_CHECKER) for name, s in schemas.items()
    }
    formats = _format_functions()
    fast = {name: v for name, s in schemas.items() if (v := _fast_validator(s, formats)) is not None}
    log.debug("loaded schemas: %s", ", ".join(sorted(by_name)))
    return Validators(by_name=by_name, by_id={s["$id"]: n for n, s in schemas.items()}, fast=fast)
