"""Binary operators: scalar/scalar, vector/scalar and vector/vector with label matching.

Vector matching computes each series' match signature once (a Python loop over series, not
samples); the per-step pairing is then index arithmetic on (signature, step) arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql import ast
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.options import Compat
from kubeprom.promql.steps import compact, merge_same_labels
from kubeprom.promql.types import BoolArray, Scalar
from kubeprom.promql.types import InstantSteps as Matrix  # renamed; body keeps the old name

ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})


_ARITH: dict[str, Callable[[F64Array, F64Array], F64Array]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
    "%": np.fmod,
    "atan2": np.arctan2,
}
_COMPARE: dict[str, Callable[[F64Array, F64Array], BoolArray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}


def elem(op: str, lhs: F64Array, rhs: F64Array) -> tuple[F64Array, BoolArray]:
    """Prometheus' ``vectorElemBinop`` on floats: the value and whether the sample is kept.

    Comparisons keep the left value; arithmetic always keeps."""
    if op in ARITHMETIC:
        with np.errstate(all="ignore"):
            out = np.asarray(_ARITH[op](lhs, rhs), dtype=np.float64)
        return out, np.ones(out.shape, dtype=bool)
    # Comparisons raise no floating-point warnings, NaN operands included.
    keep = np.asarray(_COMPARE[op](lhs, rhs), dtype=bool)
    return np.broadcast_to(lhs, keep.shape).astype(np.float64), keep


def evaluate(ev: Evaluator, e: ast.Binary, ts: I64Array) -> Matrix | Scalar:
    lt, rt = e.lhs.type, e.rhs.type
    if lt is ast.ValueType.SCALAR and rt is ast.ValueType.SCALAR:
        a = ev.eval_scalar(e.lhs, ts).values
        b = ev.eval_scalar(e.rhs, ts).values
        value, keep = elem(e.op, a, b)
        if e.op in ast.COMPARISON_OPS:
            value = keep.astype(np.float64)
        return Scalar(value)
    if lt is ast.ValueType.VECTOR and rt is ast.ValueType.SCALAR:
        return vector_scalar(ev, e, ev.eval_vector(e.lhs, ts), ev.eval_scalar(e.rhs, ts), False)
    if lt is ast.ValueType.SCALAR and rt is ast.ValueType.VECTOR:
        s = ev.eval_scalar(e.lhs, ts)
        return vector_scalar(ev, e, ev.eval_vector(e.rhs, ts), s, True)
    lhs = ev.eval_vector(e.lhs, ts)
    rhs = ev.eval_vector(e.rhs, ts)
    matching = e.matching or ast.VectorMatching(ast.Card.ONE_TO_ONE, False, ())
    if e.op in ast.SET_OPS:
        if e.op == "and" and not (lhs.labels and rhs.labels):
            return Matrix.empty(len(ts))
        return set_op(ev, e.op, lhs, rhs, matching)
    no_fill = matching.fill_lhs is None and matching.fill_rhs is None
    if no_fill and not (lhs.labels and rhs.labels):
        return Matrix.empty(len(ts))  # nothing to match, so no match to complain about
    return vector_vector(ev, e, lhs, rhs, matching)


def vector_scalar(ev: Evaluator, e: ast.Binary, vec: Matrix, s: Scalar, swap: bool) -> Matrix:
    if not vec.labels:
        return vec
    sv = s.values[None, :]
    if swap:
        value, keep = elem(e.op, np.broadcast_to(sv, vec.values.shape), vec.values)
        if e.op in ast.COMPARISON_OPS:
            value = vec.values
    else:
        value, keep = elem(e.op, vec.values, sv)
    if e.return_bool:
        value = keep.astype(np.float64)
        present = vec.present.copy()
    else:
        present = vec.present & keep
    drop = vec.drop_name
    if _drops_name(ev, e.op) or e.return_bool:
        drop = np.ones(len(vec.labels), dtype=bool)
    return compact(Matrix(vec.labels, np.where(present, value, np.nan), present, drop))


def signatures(labels: list[Labels], matching: ast.VectorMatching) -> list[Labels]:
    """Each series' match signature: the ``on`` labels, or all but the ``ignoring`` ones and
    the metric name."""
    if matching.on:
        names = matching.labels
        return [lab.keep(*names) for lab in labels]
    drop = ("__name__", *matching.labels)
    return [lab.without(*drop) for lab in labels]


def ordinals_of(
    ev: Evaluator, left: list[Labels], right: list[Labels], matching: ast.VectorMatching
) -> tuple[I64Array, I64Array, int]:
    """Each side's match signature as a number (first-appearance order over both sides)
    and how many there are; kept in the evaluator's :class:`~kubeprom.promql.memo.Reuse`
    when it has one (a rule matches the same series every iteration)."""
    reuse = ev.reuse
    if reuse is None:
        return _ordinals(signatures(left, matching), signatures(right, matching))
    key = ("ordinals", tuple(left), tuple(right), matching.on, matching.labels)
    found = reuse.get(key)
    if found is None:
        lo, ro, n = _ordinals(signatures(left, matching), signatures(right, matching))
        lo.flags.writeable = False
        ro.flags.writeable = False
        reuse.put(key, (lo, ro, n), len(left) + len(right))
        return lo, ro, n
    return found  # type: ignore[return-value]


def _ordinals(lsig: list[Labels], rsig: list[Labels]) -> tuple[I64Array, I64Array, int]:
    index: dict[Labels, int] = {}
    lo = np.array([index.setdefault(s, len(index)) for s in lsig], dtype=np.int64)
    ro = np.array([index.setdefault(s, len(index)) for s in rsig], dtype=np.int64)
    return lo, ro, len(index)


def _sig_presence(sig: I64Array, present: BoolArray, n_sigs: int) -> I64Array:
    """How many series of each signature are present at each step: (n_sigs, steps)."""
    n_steps = present.shape[1]
    rows, cols = np.nonzero(present)
    flat = np.bincount(sig[rows] * n_steps + cols, minlength=n_sigs * n_steps)
    return flat.astype(np.int64, copy=False).reshape(n_sigs, n_steps)


def set_op(
    ev: Evaluator, op: str, lhs: Matrix, rhs: Matrix, matching: ast.VectorMatching
) -> Matrix:
    lo, ro, n = ordinals_of(ev, lhs.labels, rhs.labels, matching)
    if op in ("and", "unless"):
        rhs_here = _sig_presence(ro, rhs.present, n) > 0
        hit = rhs_here[lo] if len(lo) else np.zeros_like(lhs.present)
        present = lhs.present & (hit if op == "and" else ~hit)
        out = Matrix(lhs.labels, np.where(present, lhs.values, np.nan), present, lhs.drop_name)
        return compact(out)
    lhs_here = _sig_presence(lo, lhs.present, n) > 0
    rpresent = rhs.present & ~lhs_here[ro] if len(ro) else rhs.present
    out = Matrix(
        lhs.labels + rhs.labels,
        np.concatenate([lhs.values, np.where(rpresent, rhs.values, np.nan)]),
        np.concatenate([lhs.present, rpresent]),
        np.concatenate([lhs.drop_name, rhs.drop_name]),
    )
    return merge_same_labels(compact(out))


def _match_labels(lab: Labels, matching: ast.VectorMatching) -> Labels:
    if matching.on:
        return lab.keep(*matching.labels)
    return lab.without("__name__", *matching.labels)


def _drops_name(ev: Evaluator, op: str) -> bool:
    if op == "atan2" and Compat.V2_ATAN2_NAME in ev.options.compat:
        return False
    return op in ARITHMETIC


def _result_labels(
    many: Labels, one: Labels, drop_name: bool, matching: ast.VectorMatching
) -> Labels:
    lab = many
    if drop_name:
        lab = lab.without("__name__", "__type__", "__unit__")
    if matching.card is ast.Card.ONE_TO_ONE:
        lab = lab.keep(*matching.labels) if matching.on else lab.without(*matching.labels)
    if matching.include:
        updates = {n: one.get(n) for n in matching.include}
        lab = lab.with_labels(updates)
    return lab


def vector_vector(
    ev: Evaluator, e: ast.Binary, lhs: Matrix, rhs: Matrix, matching: ast.VectorMatching
) -> Matrix:
    swap = matching.card is ast.Card.ONE_TO_MANY
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    fill_one, fill_many = matching.fill_rhs, matching.fill_lhs
    n_steps = lhs.values.shape[1]
    mo, oo, n_sigs = ordinals_of(ev, many.labels, one.labels, matching)

    one_count = _sig_presence(oo, one.present, n_sigs)
    # Prometheus matches nothing, and so checks nothing, at a step where a side is empty
    # (unless a fill value stands in for it).
    if fill_one is None and fill_many is None:
        one_count = one_count * np.asarray(many.present.any(axis=0), dtype=bool)[None, :]
    if (one_count > 1).any():
        _duplicate_error(one, oo, one_count, matching, "left" if swap else "right")
    # The present "one" series of each signature at each step, or -1.
    one_at = np.full((n_sigs, n_steps), -1, dtype=np.int64)
    rows, cols = np.nonzero(one.present)
    one_at[oo[rows], cols] = rows

    # Pairs (many row, one row) present together at some step; -1 stands for a fill value.
    pair_m: list[I64Array] = []
    pair_o: list[I64Array] = []
    pair_cols: list[I64Array] = []
    rows, cols = np.nonzero(many.present)
    partner = one_at[mo[rows], cols] if len(rows) else np.empty(0, dtype=np.int64)
    use = partner >= 0 if fill_one is None else np.ones(len(rows), dtype=bool)
    pair_m.append(rows[use])
    pair_o.append(partner[use])
    pair_cols.append(cols[use])
    if fill_many is not None:
        many_count = _sig_presence(mo, many.present, n_sigs)
        orow, ocol = np.nonzero(one.present)
        lonely = many_count[oo[orow], ocol] == 0
        pair_m.append(np.full(int(lonely.sum()), -1, dtype=np.int64))
        pair_o.append(orow[lonely])
        pair_cols.append(ocol[lonely])
    pm, po, pc = np.concatenate(pair_m), np.concatenate(pair_o), np.concatenate(pair_cols)

    # Values, in the operator's own left/right order.
    mval = np.where(
        pm >= 0, _take2(many.values, pm, pc), np.nan if fill_many is None else fill_many
    )
    oval = np.where(po >= 0, _take2(one.values, po, pc), np.nan if fill_one is None else fill_one)
    lval, rval = (oval, mval) if swap else (mval, oval)
    value, keep = elem(e.op, lval, rval)
    if e.return_bool:
        value = keep.astype(np.float64)
        keep = np.ones_like(keep)
    # Pairs a comparison filters out still count as matches (upstream operators.test,
    # "many-to-one vector matching errors even when ... filtered away"); Prometheus 2.x
    # skipped them before these checks.
    if Compat.V2_FILTERED_MATCHES in ev.options.compat:
        kept_pairs = keep.astype(bool)
    else:
        kept_pairs = np.ones(len(keep), dtype=bool)
    if matching.card is ast.Card.ONE_TO_ONE and kept_pairs.any():
        # Each signature may match at most once per step.
        kp, ko, kc = pm[kept_pairs], po[kept_pairs], pc[kept_pairs]
        sig_of = np.where(kp >= 0, _take(mo, kp), _take(oo, ko))
        counts = np.zeros((n_sigs, n_steps), dtype=np.int64)
        np.add.at(counts, (sig_of, kc), 1)
        if (counts > 1).any():
            raise EvalError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)"
            )

    # Result labels per distinct pair: a loop over series pairs, not over samples.
    pair_key = pm * (len(one.labels) + 1) + (po + 1)
    uniq, inverse = np.unique(pair_key, return_inverse=True)
    out_labels, row_of_pair, drop_out = pair_labels_of(ev, e, many, one, uniq, matching)
    out_rows = row_of_pair[inverse] if len(inverse) else np.empty(0, dtype=np.int64)
    n_out = len(out_labels)
    if matching.card is not ast.Card.ONE_TO_ONE and kept_pairs.any():
        counts = np.zeros((n_out, n_steps), dtype=np.int64)
        np.add.at(counts, (out_rows[kept_pairs], pc[kept_pairs]), 1)
        if (counts > 1).any():
            raise EvalError(
                "multiple matches for labels: grouping labels must ensure unique matches"
            )
    values = np.full((n_out, n_steps), np.nan)
    present = np.zeros((n_out, n_steps), dtype=bool)
    kept = keep.astype(bool)
    values[out_rows[kept], pc[kept]] = value[kept]
    present[out_rows[kept], pc[kept]] = True
    if kept.any():
        hits = np.zeros((n_out, n_steps), dtype=np.int64)
        np.add.at(hits, (out_rows[kept], pc[kept]), 1)
        if (hits > 1).any():
            raise EvalError("vector cannot contain metrics with the same labelset")
    drop = np.array(drop_out, dtype=bool)
    return compact(Matrix(out_labels, values, present, drop))


def pair_labels_of(
    ev: Evaluator,
    e: ast.Binary,
    many: Matrix,
    one: Matrix,
    pairs: I64Array,
    matching: ast.VectorMatching,
) -> tuple[list[Labels], I64Array, list[bool]]:
    """:func:`pair_labels`, kept in the evaluator's :class:`~kubeprom.promql.memo.Reuse`
    when it has one (a rule pairs the same series every iteration)."""
    drops = _drops_name(ev, e.op)
    reuse = ev.reuse
    if reuse is None:
        return pair_labels(many, one, pairs, matching, drops, e.return_bool)
    key = (
        "pairs",
        tuple(many.labels),
        tuple(one.labels),
        pairs.tobytes(),
        many.drop_name.tobytes(),
        matching,
        drops,
        e.return_bool,
    )
    found = reuse.get(key)
    if found is None:
        labels, rows, drop = pair_labels(many, one, pairs, matching, drops, e.return_bool)
        rows.flags.writeable = False
        reuse.put(key, (labels, rows, drop), len(many.labels) + len(one.labels) + len(labels))
        return list(labels), rows, list(drop)
    labels, rows, drop = found  # type: ignore[misc]
    return list(labels), rows, list(drop)


def pair_labels(
    many: Matrix,
    one: Matrix,
    pairs: I64Array,
    matching: ast.VectorMatching,
    drops_name: bool,
    return_bool: bool,
) -> tuple[list[Labels], I64Array, list[bool]]:
    """The result series of each distinct (many row, one row) pair key in ``pairs``
    (``m * (len(one) + 1) + o + 1``, -1 standing for a fill value): the output label sets,
    each pair's output row, and whether each output row still drops its name. A loop over
    series pairs, not over samples."""
    out_index: dict[tuple[Labels, bool], int] = {}
    out_labels: list[Labels] = []
    row_of_pair = np.empty(len(pairs), dtype=np.int64)
    # A filtering comparison keeps the "many" side's series, and with it a pending name
    # drop (``rate(x[1m]) > y`` has no name); ``bool`` and arithmetic drop it anyway.
    drop_out: list[bool] = []
    for k, key in enumerate(pairs.tolist()):
        m_i, o_i = divmod(int(key), len(one.labels) + 1)
        o_i -= 1
        m_lab = many.labels[m_i] if m_i >= 0 else _match_labels(one.labels[o_i], matching)
        o_lab = one.labels[o_i] if o_i >= 0 else _match_labels(m_lab, matching)
        lab = _result_labels(m_lab, o_lab, drops_name, matching)
        slot = out_index.setdefault((lab, bool(return_bool)), len(out_labels))
        if slot == len(out_labels):
            out_labels.append(lab)
            drop_out.append(bool(return_bool) or (m_i >= 0 and bool(many.drop_name[m_i])))
        row_of_pair[k] = slot
    return out_labels, row_of_pair, drop_out


def _take(arr: I64Array, idx: I64Array) -> I64Array:
    """``arr[idx]`` where ``idx >= 0`` (anything elsewhere), safe for an empty ``arr``."""
    if len(arr) == 0:
        return np.zeros(len(idx), dtype=arr.dtype)
    return arr[np.maximum(idx, 0)]


def _take2(values: F64Array, rows: I64Array, cols: I64Array) -> F64Array:
    if values.shape[0] == 0:
        return np.zeros(len(rows))
    return values[np.maximum(rows, 0), cols]


def _duplicate_error(
    one: Matrix, oo: I64Array, counts: I64Array, matching: ast.VectorMatching, side: str
) -> None:
    sig, step = (int(x) for x in np.argwhere(counts > 1)[0])
    rows = [i for i in range(len(one.labels)) if oo[i] == sig and one.present[i, step]]
    pair = sorted([one.labels[rows[0]], one.labels[rows[1]]])
    group = _match_labels(one.labels[rows[0]], matching)
    raise EvalError(
        f"found duplicate series for the match group {group.braced()} on the {side} "
        f"hand-side of the operation: [{pair[0].braced()}, {pair[1].braced()}]"
        ";many-to-many matching not allowed: matching labels must be unique on one side"
    )
