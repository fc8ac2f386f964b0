"""Aggregation operators, grouped once per series and reduced with numpy over (group, step).

Sums follow Prometheus' order of operations exactly (Kahan-Neumaier, in input order, one
series at a time), so the reduction loops over the rank of a series inside its group and
updates every group and every step at once; its Python iterations are the size of the
largest group, never the number of samples.
"""

from __future__ import annotations

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.gofmt import format_f, format_g, quote
from kubeprom.model.labels import EMPTY, Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql import ast
from kubeprom.promql.checkpoint import EVERY, checkpoint
from kubeprom.promql.eval import group_state
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.eval.limit_hash import ratio_offset
from kubeprom.promql.functions.kahan import kahan_sum_parts
from kubeprom.promql.options import Compat
from kubeprom.promql.steps import METADATA_LABELS, compact
from kubeprom.promql.types import BoolArray
from kubeprom.promql.types import InstantSteps as Matrix  # renamed; body keeps the old name

_MAX_INT64_F = 9223372036854774784.0
_MIN_INT64_F = -9223372036854775808.0


def group_labels(lab: Labels, grouping: tuple[str, ...], without: bool) -> Labels:
    if without:
        return lab.without("__name__", *grouping)
    if grouping:
        return lab.keep(*grouping)
    return EMPTY


def assign_groups(
    labels: list[Labels], grouping: tuple[str, ...], without: bool
) -> tuple[I64Array, list[Labels]]:
    """Group id of each series (first-appearance order) and each group's labels."""
    if without or not grouping:
        index: dict[Labels, int] = {}
        ids = [index.setdefault(group_labels(lab, grouping, without), len(index)) for lab in labels]
        return np.array(ids, dtype=np.int64), list(index)
    # ``by``: key series by their values of the grouping labels; build each group's label
    # set once, not once per series.
    names = tuple(sorted(set(grouping)))
    by_values: dict[tuple[str, ...], int] = {}
    ids = [
        by_values.setdefault(tuple([value_of(lab.flat, n) for n in names]), len(by_values))
        for lab in labels
    ]
    groups = [
        Labels.from_flat(tuple(x for n, v in zip(names, key, strict=True) if v for x in (n, v)))
        for key in by_values
    ]
    return np.array(ids, dtype=np.int64), groups


def groups_of(
    ev: Evaluator, labels: list[Labels], grouping: tuple[str, ...], without: bool
) -> tuple[I64Array, list[Labels]]:
    """:func:`assign_groups`, kept in the evaluator's :class:`~kubeprom.promql.memo.Reuse`
    when it has one (a rule's aggregation groups the same series every iteration)."""
    reuse = ev.reuse
    if reuse is None:
        return assign_groups(labels, grouping, without)
    key = ("groups", tuple(labels), grouping, without)
    found = reuse.get(key)
    if found is None:
        ids, groups = assign_groups(labels, grouping, without)
        ids.flags.writeable = False
        reuse.put(key, (ids, groups), len(labels) + len(groups))
        return ids, list(groups)
    ids, groups = found  # type: ignore[misc]
    return ids, list(groups)


def value_of(flat: tuple[str, ...], name: str) -> str:
    """The value of label ``name`` in a flat ``(name, value, ...)`` tuple, or ``""``; the
    tuple's own (C) search finds it, a value spelled like the name aside."""
    try:
        i = flat.index(name)
    except ValueError:
        return ""
    if i % 2 == 0:
        return flat[i + 1]
    return Labels.from_flat(flat).get(name)


def ranks_in_group(gid: I64Array) -> I64Array:
    """The position of each series among the series of its group, in input order."""
    n = len(gid)
    if n == 0 or int(np.bincount(gid).max()) == 1:
        return np.zeros(n, dtype=np.int64)  # one series per group (often: ``by`` every label)
    order = np.argsort(gid, kind="stable")
    sorted_g = gid[order]
    # The start of the run each sorted position is in (np.r_ costs more than this work).
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    np.not_equal(sorted_g[1:], sorted_g[:-1], out=new_run[1:])
    positions = np.arange(n)
    run_start = np.maximum.accumulate(np.where(new_run, positions, 0))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = positions - run_start
    return ranks


def evaluate(ev: Evaluator, e: ast.Aggregate, ts: I64Array) -> Matrix:
    op = e.op
    if op == "count_values":
        return count_values(ev, e, ts)
    param: F64Array | None = None
    if e.param is not None and op != "count_values":
        param = ev.eval_scalar(e.param, ts).values
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        return select_k(ev, e, ev.eval_vector(e.expr, ts), _required(op, param))
    # The output keeps only grouping labels: pending name removals need no label rewrite.
    by_metadata = any(n in METADATA_LABELS for n in e.grouping)
    inp = (ev.eval_vector if by_metadata else ev.eval_vector_for_grouping)(e.expr, ts)
    if op == "quantile":
        _check_quantile(ev, e, _required(op, param))
    if not inp.labels:
        return Matrix.empty(len(ts))
    gid, glabels = groups_of(ev, inp.labels, e.grouping, e.without)
    n_groups, n_steps = len(glabels), len(ts)
    v2_stddev = Compat.V2_STDDEV in ev.options.compat
    values, present = reduce(op, inp, gid, n_groups, n_steps, param, v2_stddev=v2_stddev)
    drop = np.zeros(n_groups, dtype=bool)
    if len(gid):
        np.logical_or.at(drop, gid, inp.drop_name)
    ev.hold(int(present.sum()))
    return compact(Matrix(glabels, np.where(present, values, np.nan), present, drop))


def _required(op: str, param: F64Array | None) -> F64Array:
    """The parameter of ``topk``, ``quantile``, ...; the parser rejects a call without one."""
    if param is None:
        raise EvalError(
            f"wrong number of arguments for aggregate expression provided, expected 2, got 1 ({op})"
        )
    return param


def _check_quantile(ev: Evaluator, e: ast.Aggregate, q: F64Array) -> None:
    pos = e.param.pos if e.param is not None else e.pos
    if np.isnan(q).any():
        ev.warn("quantile value should be between 0 and 1, got NaN", pos)
    finite = q[~np.isnan(q)]
    if finite.size and finite.max() > 1:
        ev.warn(f"quantile value should be between 0 and 1, got {format_g(finite.max())}", pos)
    if finite.size and finite.min() < 0:
        ev.warn(f"quantile value should be between 0 and 1, got {format_g(finite.min())}", pos)


def reduce(
    op: str,
    inp: Matrix,
    gid: I64Array,
    n_groups: int,
    n_steps: int,
    param: F64Array | None,
    *,
    v2_stddev: bool = False,
) -> tuple[F64Array, BoolArray]:
    """The aggregate ``op`` of each group at each step, and where a group had input.

    ``v2_stddev``: Prometheus 2.x's stddev/stdvar (differential testing only)."""
    pres = inp.present
    present = np.zeros((n_groups, n_steps), dtype=bool)
    if len(gid):
        np.logical_or.at(present, gid, pres)
    if op in ("count", "group"):
        counts = np.zeros((n_groups, n_steps))
        if len(gid):
            np.add.at(counts, gid, pres.astype(np.float64))
        return (counts if op == "count" else np.ones_like(counts)), present
    if op == "quantile":
        return _quantile(inp, gid, n_groups, _required(op, param)), present
    ranks = ranks_in_group(gid) if len(gid) else np.empty(0, dtype=np.int64)
    if op in ("sum", "avg") and len(gid):
        fast = _kahan_reduce(op, inp, gid, ranks, n_groups, n_steps)
        if fast is not None:
            return fast, present
    state = group_state.GroupState(op, n_groups, n_steps, v2_stddev=v2_stddev)
    order = np.argsort(ranks, kind="stable")
    bounds = np.searchsorted(ranks[order], np.arange(int(ranks.max(initial=-1)) + 2))
    for r in range(len(bounds) - 1):
        if r % EVERY == 0:
            checkpoint()  # one pass per rank: a group of a million series loops a million times
        rows = order[bounds[r] : bounds[r + 1]]
        state.add(gid[rows], inp.values[rows], pres[rows])
    return state.result(), present


# sum/avg over a (groups, steps, rank) matrix when it is at most this many cells.
_KAHAN_MATRIX_CELLS = 1 << 22


def _kahan_reduce(
    op: str, inp: Matrix, gid: I64Array, ranks: I64Array, n_groups: int, n_steps: int
) -> F64Array | None:
    """sum/avg of every group at once: Kahan sums along the rank axis, bit-exactly as the
    series-by-series fold (absent samples add 0.0, which leaves Kahan's state unchanged).

    None when the matrix would be too large, or when a sum overflowed and upstream's avg
    switched to its incremental mean: the fold handles those.
    """
    width = int(ranks.max()) + 1
    if n_groups * n_steps * width > _KAHAN_MATRIX_CELLS:
        return None
    if width == 1:
        # One addend per group: Kahan's sum is 0.0 + x with a zero compensation (+0.0 for
        # -0.0 too), and x / 1 for avg; an infinite addend goes to the fold as below.
        one = np.zeros((n_groups, n_steps))
        one[gid] = np.where(inp.present, inp.values, 0.0)
        if np.isinf(one).any():
            return None
        one += 0.0
        return one
    x = np.zeros((n_groups, n_steps, width))
    x[gid, :, ranks] = np.where(inp.present, inp.values, 0.0)
    total, comp, overflowed = kahan_sum_parts(x, np.full((n_groups, n_steps), width))
    if overflowed.any():
        return None
    if op == "sum":
        out: F64Array = total + comp
        return out
    count = np.zeros((n_groups, n_steps))
    np.add.at(count, gid, inp.present.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg: F64Array = total / count + comp / count
    return avg


def _quantile(inp: Matrix, gid: I64Array, n_groups: int, q: F64Array) -> F64Array:
    n_steps = inp.values.shape[1]
    out = np.full((n_groups, n_steps), np.nan)
    for g in range(n_groups):
        rows = np.nonzero(gid == g)[0]
        vals, pres = inp.values[rows], inp.present[rows]
        out[g] = quantile_columns(vals, pres, q)
    return out


def quantile_columns(vals: F64Array, pres: BoolArray, q: F64Array) -> F64Array:
    """Prometheus' ``quantile`` of each column's present values (NaNs sort first)."""
    n = pres.sum(axis=0)
    is_nan = np.isnan(vals) & pres
    nan_count = is_nan.sum(axis=0)
    arr = np.sort(np.where(pres & ~is_nan, vals, np.inf), axis=0, kind="stable")
    nf = n.astype(np.float64)
    with np.errstate(invalid="ignore"):
        rank = q * (nf - 1)
        lower = np.maximum(0, np.floor(rank))
        upper = np.minimum(nf - 1, lower + 1)
        weight = rank - np.floor(rank)
    cols = np.arange(vals.shape[1])

    def at(pos: F64Array) -> F64Array:
        p = np.nan_to_num(pos, nan=0).astype(np.int64)
        real = np.clip(p - nan_count, 0, max(arr.shape[0] - 1, 0))
        got = arr[real, cols] if arr.shape[0] else np.full(len(cols), np.nan)
        return np.where(p < nan_count, np.nan, got)

    with np.errstate(invalid="ignore"):
        result = at(lower) * (1 - weight) + at(upper) * weight
    result = np.where(q < 0, -np.inf, result)
    result = np.where(q > 1, np.inf, result)
    result = np.where(np.isnan(q) | (n == 0), np.nan, result)
    return np.asarray(result, dtype=np.float64)


def select_k(ev: Evaluator, e: ast.Aggregate, inp: Matrix, param: F64Array) -> Matrix:
    """topk, bottomk, limitk and limit_ratio: input series, k of them per group and step."""
    op = e.op
    n_rows, n_steps = inp.values.shape
    if op == "limit_ratio":
        if (param == 0).all():
            return Matrix.empty(n_steps)
        if np.isnan(param).any():
            raise EvalError("Ratio value is NaN")
        pos = e.param.pos if e.param is not None else e.pos
        hi, lo = float(param.max()), float(param.min())
        if hi > 1.0:
            ev.warn(
                f"ratio value should be between -1 and 1, got {format_g(hi)}, capping to 1", pos
            )
        if lo < -1.0:
            ev.warn(
                f"ratio value should be between -1 and 1, got {format_g(lo)}, capping to -1", pos
            )
        r = np.clip(param, -1.0, 1.0)
        offs = np.array([ratio_offset(lab) for lab in inp.labels], dtype=np.float64)
        o = offs[:, None]
        chosen = ((r >= 0) & (o < r)) | ((r < 0) & (o >= 1.0 + r))
        present = inp.present & chosen & (r != 0)[None, :]
        return compact(
            Matrix(inp.labels, np.where(present, inp.values, np.nan), present, inp.drop_name)
        )
    if param.max() < 1:  # NaN-propagating: a NaN k goes on to the error below
        return Matrix.empty(n_steps)
    if np.isnan(param).any():
        raise EvalError("Parameter value is NaN")
    if param.min() <= _MIN_INT64_F:
        raise EvalError(f"Scalar value {format_g(param.min())} underflows int64")
    if param.max() >= _MAX_INT64_F:
        raise EvalError(f"Scalar value {format_g(param.max())} overflows int64")
    if n_rows == 0:
        return Matrix.empty(n_steps)
    k = np.minimum(np.trunc(param), n_rows).astype(np.int64)
    gid, _ = groups_of(ev, inp.labels, e.grouping, e.without)
    if n_steps > 1 and int(np.bincount(gid).max()) <= int(k.min()):
        # No group has more series than k at any step: every point is kept, as ranking
        # them would find (often: ``topk by (every label) (1, ...)``, a deduplication).
        ev.hold(int(inp.present.sum()))
        kept = np.where(inp.present, inp.values, np.nan)
        return compact(Matrix(inp.labels, kept, inp.present, inp.drop_name))
    rows, cols = np.nonzero(inp.present)
    vals = inp.values[rows, cols]
    nan = np.isnan(vals)
    if op == "topk":
        key = np.where(nan, 0.0, -vals)
    elif op == "bottomk":
        key = np.where(nan, 0.0, vals)
    else:
        key = np.zeros(len(vals))
        nan = np.zeros(len(vals), dtype=bool)
    order = np.lexsort((rows, key, nan, gid[rows], cols))
    g_sorted, c_sorted = gid[rows][order], cols[order]
    new_run = np.empty(len(order), dtype=bool)
    new_run[:1] = True
    new_run[1:] = (g_sorted[1:] != g_sorted[:-1]) | (c_sorted[1:] != c_sorted[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(len(order)), 0))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - run_start
    chosen = rank < k[cols]
    present = np.zeros_like(inp.present)
    present[rows[chosen], cols[chosen]] = True
    out = Matrix(inp.labels, np.where(present, inp.values, np.nan), present, inp.drop_name)
    if n_steps == 1 and len(rows):
        # An instant result lists groups in order, each sorted as the heap leaves it.
        best = np.full(n_rows, np.iinfo(np.int64).max)
        best[rows] = rank
        idx = np.lexsort((best, gid))
        out = Matrix(
            [inp.labels[i] for i in idx], out.values[idx], out.present[idx], out.drop_name[idx]
        )
    ev.hold(int(present.sum()))
    return compact(out)


def count_values(ev: Evaluator, e: ast.Aggregate, ts: I64Array) -> Matrix:
    if not isinstance(e.param, ast.StringLit):
        raise EvalError("expected type string in aggregation parameter, got another expression")
    label = e.param.value
    if not label or not _valid_utf8(label):
        raise EvalError(f"invalid label name {quote(label)}")
    inp = ev.eval_vector(e.expr, ts)
    grouping = e.grouping if e.without else (*e.grouping, label)
    n_steps = len(ts)
    rows, cols = np.nonzero(inp.present)
    vals = inp.values[rows, cols]
    # Distinct (series, value) pairs get their labels once; samples only index into them.
    uniq_vals, val_id = np.unique(vals, return_inverse=True)
    pair_key = rows * max(len(uniq_vals), 1) + val_id.reshape(-1)
    pairs, pair_of_sample = np.unique(pair_key, return_inverse=True)
    out: dict[Labels, int] = {}
    group_of_pair = np.empty(len(pairs), dtype=np.int64)
    texts = [format_f(float(v)) for v in uniq_vals.tolist()]
    for k, key in enumerate(pairs.tolist()):
        if k % EVERY == 0:
            ev.check_size(len(out) * n_steps)
        r, vid = divmod(int(key), max(len(uniq_vals), 1))
        lab = inp.labels[r].with_labels({label: texts[vid]})
        g = group_labels(lab, grouping, e.without)
        group_of_pair[k] = out.setdefault(g, len(out))
    ev.check_size(len(out) * n_steps)
    values = np.zeros((len(out), n_steps))
    if len(rows):
        np.add.at(values, (group_of_pair[pair_of_sample.reshape(-1)], cols), 1.0)
    present = values > 0
    return Matrix(list(out), values, present, np.zeros(len(out), dtype=bool))


def _valid_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
