"""Grouping for ``histogram_quantile`` / ``histogram_fraction`` over classic buckets.

The bucket series of one histogram are those whose labels are equal but for ``le``; each
series' ``le`` is parsed once. The maths per (histogram, step) is the registry's
``bucket_quantile`` / ``bucket_fraction``.
"""

from __future__ import annotations

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.gofmt import format_openmetrics_float
from kubeprom.model.labels import Labels
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast, functions
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.steps import compact, merge_same_labels
from kubeprom.promql.types import Annotations, InstantSteps


def parse_le(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` on an ``le`` value, ``None`` if it does not parse."""
    if not text or text != text.strip() or "_" in text:
        return None
    body = text.lstrip("+-")
    try:
        if body[:2].lower() == "0x":
            value = float.fromhex(body)
            return -value if text.startswith("-") else value
        return float(text)
    except ValueError:
        return None


def _buckets(
    ev: Evaluator, m: InstantSteps, arg: ast.Expr
) -> tuple[np.ndarray, I64Array, list[Labels], list[int]]:
    """Parsed ``le`` per kept row, each kept row's histogram id, the histograms' labels
    and the kept rows; rows with a bad ``le`` are warned about and left out."""
    index: dict[Labels, int] = {}
    ubs: list[float] = []
    gids: list[int] = []
    rows: list[int] = []
    for i, lab in enumerate(m.labels):
        le = parse_le(lab.get("le"))
        if le is None:
            if m.present[i].any():
                name = lab.name
                suffix = f' for metric name "{name}"' if name else ""
                ev.warn(
                    f'bucket label "le" is missing or has a malformed value of '
                    f'"{lab.get("le")}"{suffix}',
                    arg.pos,
                )
            continue
        ubs.append(le)
        gids.append(index.setdefault(lab.without("le"), len(index)))
        rows.append(i)
    return np.array(ubs, dtype=np.float64), np.array(gids, dtype=np.int64), list(index), rows


def histogram_quantile(ev: Evaluator, e: ast.Call, ts: I64Array) -> InstantSteps:
    q = ev.eval_scalar(e.args[0], ts).values
    m = ev.eval_vector(e.args[1], ts)
    ubs, gids, glabels, rows = _buckets(ev, m, e.args[1])
    notes = Annotations.new()
    idx = np.asarray(rows, dtype=np.int64)
    values, present = functions.bucket_quantile(
        q,
        ubs,
        gids,
        m.values[idx] if len(idx) else np.empty((0, len(ts))),
        m.present[idx] if len(idx) else np.empty((0, len(ts)), dtype=bool),
        len(glabels),
        notes,
        [lab.name for lab in glabels],
        step_times=ts,
    )
    for text in notes.warnings:
        ev.warn(text, e.args[0].pos)
    for text in notes.infos:
        ev.info(text, e.args[1].pos)
    present = np.asarray(present, dtype=bool)
    out = InstantSteps(
        glabels, np.where(present, values, np.nan), present, np.ones(len(glabels), dtype=bool)
    )
    return compact(out)


def histogram_fraction(ev: Evaluator, e: ast.Call, ts: I64Array) -> InstantSteps:
    lower = ev.eval_scalar(e.args[0], ts).values
    upper = ev.eval_scalar(e.args[1], ts).values
    m = ev.eval_vector(e.args[2], ts)
    ubs, gids, glabels, rows = _buckets(ev, m, e.args[2])
    idx = np.asarray(rows, dtype=np.int64)
    values, present = functions.bucket_fraction(
        lower,
        upper,
        ubs,
        gids,
        m.values[idx] if len(idx) else np.empty((0, len(ts))),
        m.present[idx] if len(idx) else np.empty((0, len(ts)), dtype=bool),
        len(glabels),
    )
    present = np.asarray(present, dtype=bool)
    out = InstantSteps(
        glabels, np.where(present, values, np.nan), present, np.ones(len(glabels), dtype=bool)
    )
    return compact(out)


def histogram_quantiles(ev: Evaluator, e: ast.Call, ts: I64Array) -> InstantSteps:
    """``histogram_quantiles(v, "label", q0, q1, ...)``: one output series per quantile."""
    m = ev.eval_vector(e.args[0], ts)
    label = ast.unwrap_parens(e.args[1])
    if not isinstance(label, ast.StringLit):
        raise EvalError("expected a string literal as histogram_quantiles' label argument")
    ubs, gids, glabels, rows = _buckets(ev, m, e.args[0])
    idx = np.asarray(rows, dtype=np.int64)
    counts = m.values[idx] if len(idx) else np.empty((0, len(ts)))
    pres = m.present[idx] if len(idx) else np.empty((0, len(ts)), dtype=bool)
    parts: list[InstantSteps] = []
    for q_expr in e.args[2:]:
        q = ev.eval_scalar(q_expr, ts).values
        notes = Annotations.new()
        values, present = functions.bucket_quantile(
            q,
            ubs,
            gids,
            counts,
            pres,
            len(glabels),
            notes,
            [lab.name for lab in glabels],
            step_times=ts,
        )
        for text in notes.warnings:
            ev.warn(text, q_expr.pos)
        for text in notes.infos:
            ev.info(text, e.args[0].pos)
        present = np.asarray(present, dtype=bool)
        # One label value per distinct q (q may vary by step when it is an expression).
        for qv in np.unique(q).tolist():
            at = (q == qv) if not np.isnan(qv) else np.isnan(q)
            p = present & at[None, :]
            labs = [lab.with_labels({label.value: format_openmetrics_float(qv)}) for lab in glabels]
            parts.append(
                InstantSteps(labs, np.where(p, values, np.nan), p, np.ones(len(labs), dtype=bool))
            )
    if not parts:
        return InstantSteps.empty(len(ts))
    out = InstantSteps(
        [lab for p in parts for lab in p.labels],
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.present for p in parts]),
        np.concatenate([p.drop_name for p in parts]),
    )
    return merge_same_labels(compact(out))
