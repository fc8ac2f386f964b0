"""Functions that work on series rather than samples: label_replace, label_join, the sorts,
absent and absent_over_time. Each loops over series (never over samples or steps)."""

from __future__ import annotations

import functools
import re

import numpy as np
import re2

from kubeprom.errors import EvalError
from kubeprom.model.labels import EMPTY, Labels
from kubeprom.model.matchers import MatchType
from kubeprom.promql import ast
from kubeprom.promql.steps import merge_same_labels
from kubeprom.promql.types import BoolArray, InstantSteps, RangeWindows

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_TEMPLATE_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+)|(\$))")


def valid_label_name(name: str) -> bool:
    """Prometheus 3 (UTF-8 names): any non-empty valid UTF-8 string."""
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expand(template: str, match: re2._Match, groupindex: dict[str, int]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``.

    As in Go, ``$1x`` names the group ``1x`` (empty), not group 1 followed by ``x``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(3):
            return "$"
        name = m.group(1) if m.group(1) is not None else m.group(2)
        if name is None or name == "":
            return ""
        if name.isdigit():
            i = int(name)
            if i > match.re.groups:
                return ""
            return match.group(i) or ""
        if name in groupindex:
            return match.group(groupindex[name]) or ""
        return ""

    return _TEMPLATE_VAR.sub(sub, template)


def label_replace(m: InstantSteps, dst: str, repl: str, src: str, regex: str) -> InstantSteps:
    try:
        compiled = re2.compile("^(?s:" + regex + ")$", _RE2_OPTIONS)
    except re2.error as err:
        raise EvalError(f"invalid regular expression in label_replace(): {regex}") from err
    if not valid_label_name(dst):
        raise EvalError(f"invalid destination label name in label_replace(): {dst}")
    groupindex = dict(compiled.groupindex)
    labels = list(m.labels)
    drop = m.drop_name.copy()
    for i, lab in enumerate(labels):
        match = compiled.search(lab.get(src))
        if match is None:
            continue
        labels[i] = lab.with_labels({dst: expand(repl, match, groupindex)})
        if dst == "__name__":
            drop[i] = False
    return merge_same_labels(InstantSteps(labels, m.values, m.present, drop))


def label_join(m: InstantSteps, dst: str, sep: str, srcs: list[str]) -> InstantSteps:
    for src in srcs:
        if not valid_label_name(src):
            raise EvalError(f"invalid source label name in label_join(): {src}")
    if not valid_label_name(dst):
        raise EvalError(f"invalid destination label name in label_join(): {dst}")
    labels = [lab.with_labels({dst: sep.join(lab.get(s) for s in srcs)}) for lab in m.labels]
    drop = m.drop_name.copy()
    if dst == "__name__":
        drop[:] = False
    return merge_same_labels(InstantSteps(labels, m.values, m.present, drop))


def reorder(m: InstantSteps, order: list[int]) -> InstantSteps:
    idx = np.asarray(order, dtype=np.int64)
    return InstantSteps(
        [m.labels[i] for i in order], m.values[idx], m.present[idx], m.drop_name[idx]
    )


def sort_by_value(m: InstantSteps, *, descending: bool) -> InstantSteps:
    """Instant-query ``sort``/``sort_desc``: by value, NaN last."""
    v = m.values[:, 0] if m.values.shape[1] else np.zeros(len(m.labels))
    nan = np.isnan(v)
    key = np.where(nan, 0.0, -v if descending else v)
    order = np.lexsort((np.arange(len(v)), key, nan)).tolist()
    return reorder(m, order)


def _natural_key(s: str) -> list[tuple[int, int | str]]:
    parts = re.findall(r"\d+|\D+", s)
    return [(0, int(p)) if p.isdigit() else (1, p) for p in parts]


def sort_by_label(m: InstantSteps, names: list[str], *, descending: bool) -> InstantSteps:
    """``sort_by_label(_desc)``: natural order of the given labels, then the full label set."""

    def cmp(a: int, b: int) -> int:
        la, lb = m.labels[a], m.labels[b]
        for name in names:
            va, vb = la.get(name), lb.get(name)
            if va == vb:
                continue
            less = _natural_key(va) < _natural_key(vb)
            res = -1 if less else 1
            return -res if descending else res
        if la == lb:
            return 0
        res = -1 if la < lb else 1
        return -res if descending else res

    order = sorted(range(len(m.labels)), key=functools.cmp_to_key(cmp))
    return reorder(m, order)


def absent_labels(arg: ast.Expr) -> Labels:
    """The labels ``absent`` reports: the argument's equality matchers, once each."""
    arg = ast.unwrap_parens(arg)
    if isinstance(arg, ast.MatrixSel):
        sel = arg.selector
    elif isinstance(arg, ast.VectorSel):
        sel = arg
    else:
        return EMPTY
    values: dict[str, str] = {}
    has: set[str] = set()
    for mt in sel.matchers:
        if mt.name == "__name__":
            continue
        if mt.type is MatchType.EQUAL and mt.name not in has:
            values[mt.name] = mt.value
            has.add(mt.name)
        else:
            values.pop(mt.name, None)
    return Labels(values.items())


def absent(m: InstantSteps, arg: ast.Expr, n_steps: int) -> InstantSteps:
    return _one_row(absent_labels(arg), ~_any_row(m.present, n_steps))


def absent_over_time(w: RangeWindows, arg: ast.Expr) -> InstantSteps:
    n_steps = len(w.step_times)
    return _one_row(absent_labels(arg), ~_any_row(w.hi > w.lo, n_steps))


def _any_row(mask: BoolArray, n_steps: int) -> BoolArray:
    """Per step, whether any row is set (no rows: none)."""
    out: BoolArray = np.zeros(n_steps, dtype=bool)
    if mask.shape[0]:
        out = np.logical_or.reduce(mask, axis=0)
    return out


def _one_row(labels: Labels, present: BoolArray) -> InstantSteps:
    if not present.any():
        return InstantSteps.empty(len(present))
    values = np.where(present, 1.0, np.nan)[None, :]
    return InstantSteps([labels], values, present[None, :].astype(bool), np.ones(1, dtype=bool))
