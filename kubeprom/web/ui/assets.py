"""Files the UI serves: its own (``static/``, package data) and third-party ones read from
the installed distributions that ship them, so no third-party code lives in this repository.

:data:`VENDOR` is the literal registry of third-party files: the distribution (a dependency
in ``pyproject.toml``) and the file's path inside it, found through the distribution's
installed file list, without importing it.
"""

from __future__ import annotations

import importlib.metadata
import posixpath
import re
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


_IMPORT = re.compile(r"""^import\b[^"']*?from\s+["'](\.{1,2}/[^"']+)["']""", re.MULTILINE)


def module_imports(files: dict[str, Path], module: str) -> list[str]:
    """Every module ``module`` (a key of :func:`static_files`) imports, directly or not,
    itself excluded, in a stable order: what a page should preload so the browser fetches
    its modules at once rather than one import level at a time."""
    seen: dict[str, None] = {}
    todo = [module]
    while todo:
        name = todo.pop(0)
        base = posixpath.dirname(name)
        for rel in _IMPORT.findall(files[name].read_text(encoding="utf-8")):
            dep = posixpath.normpath(posixpath.join(base, rel))
            if dep != module and dep not in seen and dep in files:
                seen[dep] = None
                todo.append(dep)
    return list(seen)


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix, "application/octet-stream")
