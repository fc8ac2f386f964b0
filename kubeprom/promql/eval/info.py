"""The experimental ``info(v, [data-label-selector])`` function.

Each series of ``v`` is enriched with the data labels of the info series (``target_info``
unless the selector names others by ``__name__``) that share its identifying labels
(``instance``, ``job``), as Prometheus' ``promql/info.go`` does. When several info series
of one metric match at a step, the one with the newest sample wins. Loops run over series
and over the distinct info matches of a series, never over samples.
"""

from __future__ import annotations

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast
from kubeprom.promql.eval import selectors
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.steps import compact, merge_same_labels
from kubeprom.promql.types import InstantSteps

TARGET_INFO = "target_info"
IDENTIFYING = ("instance", "job")


def _quote_meta(value: str) -> str:
    special = set("\\.+*?()|[]{}^$")
    return "".join("\\" + c if c in special else c for c in value)


def evaluate(ev: Evaluator, e: ast.Call, ts: I64Array) -> InstantSteps:
    base = ev.eval_vector(e.args[0], ts)
    data: dict[str, list[Matcher]] = {}
    name_matchers: list[Matcher] = []
    if len(e.args) > 1:
        sel = ast.unwrap_parens(e.args[1])
        if not isinstance(sel, ast.VectorSel):
            raise EvalError("expected a label selector as the second argument of info()")
        for m in sel.matchers:
            data.setdefault(m.name, []).append(m)
            if m.name == "__name__":
                name_matchers.append(m)
    else:
        name_matchers = [Matcher(MatchType.EQUAL, "__name__", TARGET_INFO)]

    # Info series themselves are not enriched: a base series is one if its name passes
    # every __name__ matcher and at least one of them is positive.
    positive = any(m.type in (MatchType.EQUAL, MatchType.REGEX) for m in name_matchers)
    ignored = np.array(
        [positive and all(m.matches(lab.name) for m in name_matchers) for lab in base.labels],
        dtype=bool,
    )
    id_values: dict[str, set[str]] = {}
    for lab, ign in zip(base.labels, ignored.tolist(), strict=True):
        if ign:
            continue
        for name in IDENTIFYING:
            v = lab.get(name)
            if v:
                id_values.setdefault(name, set()).add(v)
    select_matchers = [
        Matcher(MatchType.REGEX, name, "|".join(_quote_meta(v) for v in sorted(vals)))
        for name, vals in id_values.items()
    ]
    has_name = any(m.name == "__name__" for ms in data.values() for m in ms)
    select_matchers += [m for ms in data.values() for m in ms]
    data = {n: [m for m in ms if m.name != "__name__"] for n, ms in data.items()}
    data = {n: ms for n, ms in data.items() if ms}
    if not has_name:
        select_matchers.insert(0, Matcher(MatchType.EQUAL, "__name__", TARGET_INFO))
    elif not positive:
        # Only negative name matchers: they narrow the info metrics, they do not widen the
        # choice to every metric.
        select_matchers.insert(0, Matcher(MatchType.REGEX, "__name__", ".+_info"))
    if id_values:
        ref = reference_times(ev, e.args[0], ts)
        lookback = ev.options.lookback_ms
        ss = ev.querier.select(select_matchers, int(ref.min()) - lookback + 1, int(ref.max()))
        idx, valid = selectors.latest(ev, ss, ref)
        info = InstantSteps(
            list(ss.labels),
            np.where(valid, ss.v[idx], np.nan),
            valid,
            np.zeros(len(ss.labels), dtype=bool),
        )
        info_t = ss.t[idx]
    else:
        info, info_t = InstantSteps.empty(len(ts)), np.empty((0, len(ts)), dtype=np.int64)
    return _combine(base, ignored, info, info_t, data)


def reference_times(ev: Evaluator, expr: ast.Expr, ts: I64Array) -> I64Array:
    """The time info series are read at for each step: the evaluation time moved by the
    ``@`` and ``offset`` modifiers on the way to the first selector of ``expr``."""
    t = ts.astype(np.int64)
    node: ast.Expr | None = expr
    while node is not None:
        if isinstance(node, ast.Subquery | ast.VectorSel):
            if node.at is not None:
                t = np.full(len(ts), ev.at_time(node.at), dtype=np.int64)
            t = t - np.int64(node.offset_ms)
            if isinstance(node, ast.VectorSel):
                break
        kids = ast.children(node)
        node = next(
            (k for k in kids if any(isinstance(n, ast.VectorSel) for n in ast.walk(k))), None
        )
        if isinstance(node, ast.MatrixSel):
            node = node.selector
    return t


def _sig(name: str, lab: Labels) -> tuple[str, ...]:
    return (name, *(lab.get(n) for n in IDENTIFYING))


def _combine(
    base: InstantSteps,
    ignored: np.ndarray,
    info: InstantSteps,
    info_t: I64Array,
    data: dict[str, list[Matcher]],
) -> InstantSteps:
    n_steps = base.values.shape[1]
    info_names = sorted({lab.name for lab in info.labels})
    sig_index: dict[tuple[str, ...], int] = {}
    info_sig = np.array(
        [sig_index.setdefault(_sig(lab.name, lab), len(sig_index)) for lab in info.labels],
        dtype=np.int64,
    )
    # The info row each signature resolves to at each step (the newest sample), or -1.
    chosen = np.full((len(sig_index), n_steps), -1, dtype=np.int64)
    newest = np.full((len(sig_index), n_steps), np.iinfo(np.int64).min)
    for r in range(len(info.labels)):
        s = info_sig[r]
        here = info.present[r]
        t = info_t[r]
        tie = here & (chosen[s] >= 0) & (t == newest[s])
        if tie.any():
            j = int(np.nonzero(tie)[0][0])
            other = info.labels[int(chosen[s, j])]
            raise EvalError(
                f"found duplicate series for info metric: existing {other} @ {int(t[j])}, "
                f"new {info.labels[r]} @ {int(t[j])}"
            )
        take = here & (t > newest[s])
        chosen[s] = np.where(take, r, chosen[s])
        newest[s] = np.where(take, t, newest[s])
    must_match = any(not m.matches("") for ms in data.values() for m in ms)

    out_labels: list[Labels] = []
    out_rows: list[int] = []
    out_masks: list[np.ndarray] = []
    for i, lab in enumerate(base.labels):
        if ignored[i]:
            out_labels.append(lab)
            out_rows.append(i)
            out_masks.append(base.present[i])
            continue
        sigs = [sig_index.get(_sig(name, lab), -1) for name in info_names]
        rows = (
            np.stack([chosen[s] if s >= 0 else np.full(n_steps, -1) for s in sigs])
            if sigs
            else np.full((0, n_steps), -1)
        )
        combos, inverse = (
            np.unique(rows.T, axis=0, return_inverse=True)
            if len(sigs)
            else (np.empty((1, 0), dtype=np.int64), np.zeros(n_steps, dtype=np.int64))
        )
        inverse = np.asarray(inverse).reshape(-1)
        for k, combo in enumerate(combos):
            mask = base.present[i] & (inverse == k)
            if not mask.any():
                continue
            matched = [int(r) for r in combo if r >= 0]
            if not matched and must_match:
                continue
            extra: dict[str, str] = {}
            for r in matched:
                for n, v in info.labels[r]:
                    if n == "__name__" or (data and n not in data):
                        continue
                    if extra.get(n, v) != v:
                        raise EvalError(f"conflicting label: {n}")
                    if lab.has(n):
                        continue
                    extra[n] = v
            out_labels.append(lab.with_labels(extra) if extra else lab)
            out_rows.append(i)
            out_masks.append(mask)
    if not out_rows:
        return InstantSteps.empty(n_steps)
    idx = np.asarray(out_rows, dtype=np.int64)
    present = np.stack(out_masks)
    values = np.where(present, base.values[idx], np.nan)
    return merge_same_labels(
        compact(InstantSteps(out_labels, values, present, base.drop_name[idx]))
    )
