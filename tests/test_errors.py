"""The error tree of kubeprom/errors.py: every exception kubeprom defines derives from
KubepromError, the docstring's drawing names them all, and no ``assert`` guards anything."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import kubeprom
import kubeprom.errors
from kubeprom.errors import KubepromError

PACKAGE_DIR = Path(kubeprom.__file__).resolve().parent

# Internal signals that never leave the module that raises them; each is caught there and
# turned into a user-facing error (or a log line) that does derive from KubepromError.
INTERNAL = {
    # a line-level parse failure without a position; the body parser re-raises it as an
    # ExpositionError naming the source and line
    "kubeprom.scraper.exposition.errors.MalformedLine",
    # bad bytes at an offset of a WAL file; replay logs it and truncates (or, read-only,
    # stops) there, never raises it to a caller
    "kubeprom.tsdb.walcodec.Fault",
    # one promqltest eval that did not give what the file expects: the runner records it as
    # a failed outcome with file:line, it is a test result rather than an error
    "kubeprom.promql.promqltest.EvalFailure",
    # Go's strconv.ParseFloat failing inside a template function; the function reports it
    # as Go does, through the executor's TemplateError
    "kubeprom.model.goprintf.ParseFloatError",
    # the template engine's parse and execution failures, with Go's wording; the engine's
    # entry points (rules.template.expand) raise them as TemplateError
    "kubeprom.rules.template.parser.GoParseError",
    "kubeprom.rules.template.exec.GoExecError",
    "kubeprom.rules.template.exec.FuncError",
    "kubeprom.rules.template.promfuncs._NaNOrInf",
    "kubeprom.rules.template.golit.UnquoteError",
    # {{break}} and {{continue}}: control flow inside a range, never an error
    "kubeprom.rules.template.exec._Break",
    "kubeprom.rules.template.exec._Continue",
}


def _module_names() -> list[str]:
    names = ["kubeprom"]
    for info in pkgutil.walk_packages(kubeprom.__path__, "kubeprom."):
        names.append(info.name)
    return sorted(names)


def _classes(owner: object) -> Iterator[type]:
    for value in vars(owner).values():
        if inspect.isclass(value):
            yield value
            yield from _classes(value)  # classes nested in classes


def exception_classes() -> dict[str, type[BaseException]]:
    """``module.qualname`` -> class, for every exception class defined in kubeprom."""
    found: dict[str, type[BaseException]] = {}
    for name in _module_names():
        module = importlib.import_module(name)
        for cls in _classes(module):
            if issubclass(cls, BaseException) and cls.__module__ == name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_the_walk_sees_exceptions_across_the_package() -> None:
    """Guards the check below against walking nothing."""
    found = exception_classes()
    assert {
        "kubeprom.errors.ConfigError",
        "kubeprom.errors.APIError",
        "kubeprom.tsdb.walcodec.Fault",
        "kubeprom.scraper.loop._LimitError",
    } <= set(found)
    assert len({name.rsplit(".", 2)[0] for name in found}) >= 5


def test_every_exception_derives_from_kubeprom_error() -> None:
    outside = sorted(
        name
        for name, cls in exception_classes().items()
        if not issubclass(cls, KubepromError) and name not in INTERNAL
    )
    assert outside == []


def test_the_internal_allow_list_is_current() -> None:
    found = exception_classes()
    assert sorted(INTERNAL - set(found)) == []  # a renamed or removed class leaves the list
    assert [n for n in sorted(INTERNAL) if issubclass(found[n], KubepromError)] == []


def test_errors_defined_in_errors_py_are_all_in_the_drawing() -> None:
    doc = kubeprom.errors.__doc__ or ""
    drawn = set(re.findall(r"[─ ]([A-Z][A-Za-z]+)(?:\(|\s|$)", doc, re.M))
    defined = {
        cls.__name__
        for cls in _classes(kubeprom.errors)
        if issubclass(cls, KubepromError) and cls.__module__ == "kubeprom.errors"
    }
    assert defined - drawn == set()
    assert "KubepromError" in drawn


def test_the_drawing_shows_each_parent() -> None:
    """Each class sits under the class it derives from in the docstring's tree."""
    doc = kubeprom.errors.__doc__ or ""
    stack: list[tuple[int, str]] = []
    checked = 0
    for line in doc.splitlines():
        m = re.match(r"^(\s*)(?:[│ ]*[├└]── )?([A-Z][A-Za-z]+)\b", line)
        if m is None or not hasattr(kubeprom.errors, m[2]):
            continue
        depth = line.find(m[2])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        cls = getattr(kubeprom.errors, m[2])
        if stack:
            assert cls.__bases__[0] is getattr(kubeprom.errors, stack[-1][1]), line
            checked += 1
        stack.append((depth, m[2]))
    assert checked >= 20


def asserts_in(source: str) -> list[int]:
    """Line numbers of the ``assert`` statements in ``source``."""
    return [node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assert)]


def test_no_assert_statements_in_kubeprom() -> None:
    """``assert`` vanishes under ``python -O``: input is validated with explicit checks and
    an impossible state raises explicitly too (no allow-list)."""
    found = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{line}"
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        for line in asserts_in(path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("assert x\n", [1]),
        ("def f():\n    if y:\n        assert x, 'why'\n", [3]),
        ("x = 'assert y'\n# assert z\n", []),
    ],
    ids=["statement", "nested", "text-only"],
)
def test_assert_finder(source: str, want: list[int]) -> None:
    assert asserts_in(source) == want
