"""Files the UI serves: its own (``static/``, package data) and third-party ones read from
the installed distributions that ship them, so no third-party code lives in this repository.

:data:`VENDOR` is the literal registry of third-party files: the distribution (a dependency
in ``pyproject.toml``) and the file's path inside it, found through the distribution's
installed file list, without importing it. :func:`bundle` joins a page's module with those
it imports, so a page loads one script.
"""

from __future__ import annotations

import importlib.metadata
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class VendorFile:
    distribution: str
    path: str  # inside the distribution, as its RECORD lists it


_UPLOT_DIR = "metaflow_extensions/card_uplot/plugins/cards/uplot/uplot"

# uPlot (MIT), the chart library Prometheus 3.x's UI draws with, as the PyPI distribution
# metaflow-card-uplot ships it (uPlot 1.6.18, minified; the distribution has no dependencies).
VENDOR = {
    "uPlot.iife.min.js": VendorFile("metaflow-card-uplot", f"{_UPLOT_DIR}/uPlot.iife.min.js"),
    "uPlot.min.css": VendorFile("metaflow-card-uplot", f"{_UPLOT_DIR}/uPlot.min.css"),
}


def vendor_file(name: str) -> Path | None:
    """Where the installed distribution keeps the file ``name`` of :data:`VENDOR`; None when
    the name is unknown or the distribution (or the file) is not installed."""
    spec = VENDOR.get(name)
    if spec is None:
        return None
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(spec.path)))
    return path if path.is_file() else None


def static_files() -> dict[str, Path]:
    """The UI's own files by their path under ``static/`` (``pages/query.js``)."""
    return {
        p.relative_to(STATIC_DIR).as_posix(): p
        for p in sorted(STATIC_DIR.rglob("*"))
        if p.is_file() and p.suffix in CONTENT_TYPES
    }


# The module forms the UI's files use, and the only ones :func:`bundle` accepts: named
# imports from a relative path, and exported declarations.
# Names only: ``{ a as b }`` would become invalid destructuring, so it is refused below.
_IMPORT = re.compile(
    r"""^import \{\s*([\w$]+(?:\s*,\s*[\w$]+)*)\s*,?\s*\} from "(\.{1,2}/[^"]+)";[ \t]*\n""",
    re.MULTILINE,
)
_EXPORT = re.compile(r"^export (?=(?:async function|function|class|const) ([\w$]+))", re.MULTILINE)
_OTHER = re.compile(r"^(?:import|export)\b|\bimport\s*\(", re.MULTILINE)


def bundle(sources: Mapping[str, str], module: str) -> str:
    """The module ``module`` (a key of ``sources``: path under ``static/`` -> text) and every
    module it imports, joined into one module, so that a page is one request rather than one
    per module and import level. Each module becomes a function scope run once, in the order
    the browser would evaluate them (imports first, depth first), that returns its exports;
    its imports read those of the modules before it. Raises ValueError on any other form
    (``export default``, ``import * as``, dynamic ``import()``) and on a cycle: the files
    are the package's own, so that is a bug the UI's tests catch."""
    order: list[str] = []
    parsed: dict[str, tuple[list[tuple[str, str]], str]] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in parsed:
            return
        if name in visiting:
            raise ValueError(f"import cycle through {name!r}")
        if name not in sources:
            raise ValueError(f"no module {name!r}")
        visiting.add(name)
        text = sources[name]
        base = posixpath.dirname(name)
        imports = [
            (names, posixpath.normpath(posixpath.join(base, rel)))
            for names, rel in _IMPORT.findall(text)
        ]
        for other in _OTHER.finditer(text):
            at = other.start()
            if not (_IMPORT.match(text, at) or _EXPORT.match(text, at)):
                line = text.count("\n", 0, at) + 1
                raise ValueError(f"{name}:{line}: cannot join {text[at:].splitlines()[0]!r}")
        body = _EXPORT.sub("", _IMPORT.sub("", text))
        for _, dep in imports:
            visit(dep)
        visiting.discard(name)
        parsed[name] = (imports, body)
        order.append(name)

    visit(module)
    scope = {name: f"m{i}" for i, name in enumerate(order)}
    parts = []
    for name in order:
        imports, body = parsed[name]
        exports = _EXPORT.findall(sources[name])
        head = "".join(f"const {{{names.strip()}}} = {scope[dep]};\n" for names, dep in imports)
        parts.append(
            f"// {name}\nconst {scope[name]} = (() => {{\n{head}{body}"
            f"return {{ {', '.join(exports)} }};\n}})();\n"
        )
    return "".join(parts)


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix, "application/octet-stream")
