"""Naive transcriptions of Prometheus' ``promql/functions.go`` and ``quantile.go``.

One window (a list of ``(t_ms, value)``) at a time, in plain Python floats, following the
Go source line by line: the vectorised functions must agree with these bit for bit.
``None`` means "no sample" (upstream returns nothing for that series and step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from kubeprom.promql.functions.kahan import kahan_inc_scalar as kahan_inc

Window = Sequence[tuple[int, float]]
INF = math.inf


def div(a: float, b: float) -> float:
    """Go's float division: x/0 is +-Inf or NaN instead of an exception."""
    if b != 0:
        return a / b
    if math.isnan(a) or a == 0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def go_seconds(ms: int) -> float:
    d = ms * 1_000_000
    return float(d // 1_000_000_000) + float(d % 1_000_000_000) / 1e9


def extrapolated_rate(
    w: Window, range_start: int, range_end: int, range_ms: int, is_counter: bool, is_rate: bool
) -> float | None:
    if len(w) < 2:
        return None
    first_t, last_t = w[0][0], w[-1][0]
    result = w[-1][1] - w[0][1]
    if is_counter:
        for i in range(1, len(w)):
            if w[i][1] < w[i - 1][1]:
                result += w[i - 1][1]
    duration_to_start = float(first_t - range_start) / 1000
    duration_to_end = float(range_end - last_t) / 1000
    sampled = float(last_t - first_t) / 1000
    average = sampled / float(len(w) - 1)
    threshold = average * 1.1
    if duration_to_start >= threshold:
        duration_to_start = average / 2
    if is_counter:
        duration_to_zero = duration_to_start
        if result > 0 and w[0][1] >= 0:
            duration_to_zero = sampled * (w[0][1] / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    if duration_to_end >= threshold:
        duration_to_end = average / 2
    factor = (sampled + duration_to_start + duration_to_end) / sampled
    if is_rate:
        factor /= go_seconds(range_ms)
    return result * factor


def instant_value(w: Window, is_rate: bool) -> float | None:
    if len(w) < 2:
        return None
    (t0, v0), (t1, v1) = w[-2], w[-1]
    result = v1
    if not is_rate or not v1 < v0:
        result = v1 - v0
    if is_rate:
        result /= float(t1 - t0) / 1000
    return result


def count_pairs(w: Window, flagged: Callable[[float, float], bool]) -> float | None:
    if not w:
        return None
    return float(sum(1 for i in range(1, len(w)) if flagged(w[i - 1][1], w[i][1])))


def resets(w: Window) -> float | None:
    return count_pairs(w, lambda prev, cur: cur < prev)


def changes(w: Window) -> float | None:
    return count_pairs(
        w, lambda prev, cur: cur != prev and not (math.isnan(cur) and math.isnan(prev))
    )


def linear_regression(w: Window, intercept_time: int) -> tuple[float, float]:
    n = 0.0
    sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    init_y = w[0][1]
    const_y = True
    for i, (t, v) in enumerate(w):
        if const_y and i > 0 and v != init_y:
            const_y = False
        n += 1.0
        x = float(t - intercept_time) / 1e3
        sx, cx = kahan_inc(x, sx, cx)
        sy, cy = kahan_inc(v, sy, cy)
        sxy, cxy = kahan_inc(x * v, sxy, cxy)
        sx2, cx2 = kahan_inc(x * x, sx2, cx2)
    if const_y:
        if math.isinf(init_y):
            return math.nan, math.nan
        return 0.0, init_y
    sx += cx
    sy += cy
    sxy += cxy
    sx2 += cx2
    cov_xy = sxy - sx * sy / n
    var_x = sx2 - sx * sx / n
    slope = div(cov_xy, var_x)
    return slope, sy / n - slope * sx / n


def deriv(w: Window) -> float | None:
    return linear_regression(w, w[0][0])[0] if len(w) >= 2 else None


def predict_linear(w: Window, eval_ms: int, duration: float) -> float | None:
    if len(w) < 2:
        return None
    slope, intercept = linear_regression(w, eval_ms)
    return slope * duration + intercept


def sum_over_time(w: Window) -> float | None:
    if not w:
        return None
    total = c = 0.0
    for _, v in w:
        total, c = kahan_inc(v, total, c)
    return total if math.isinf(total) else total + c


def avg_over_time(w: Window) -> float | None:
    if not w:
        return None
    total, count = w[0][1], 1.0
    mean = c = 0.0
    incremental = False
    for i, (_, v) in enumerate(w[1:]):
        count = float(i + 2)
        if not incremental:
            new_total, new_c = kahan_inc(v, total, c)
            if not math.isinf(new_total):
                total, c = new_total, new_c
                continue
            incremental = True
            mean = total / (count - 1)
            c /= count - 1
        q = (count - 1) / count
        mean, c = kahan_inc(v / count, q * mean, q * c)
    if incremental:
        return mean + c
    return total / count + c / count


def variance(w: Window) -> float | None:
    if not w:
        return None
    count = mean = c_mean = aux = c_aux = 0.0
    for _, v in w:
        count += 1
        delta = v - (mean + c_mean)
        mean, c_mean = kahan_inc(delta / count, mean, c_mean)
        aux, c_aux = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def stddev(w: Window) -> float | None:
    var = variance(w)
    if var is None:
        return None
    return math.sqrt(var) if var >= 0 else math.nan  # Go's Sqrt: NaN below zero


def compare(w: Window, better: Callable[[float, float], bool], timestamp: bool) -> float | None:
    if not w:
        return None
    kept_t, kept = w[0]
    for t, v in w:
        if better(v, kept) or math.isnan(kept):
            kept, kept_t = v, t
    return float(kept_t) / 1000 if timestamp else kept


def go_sorted(values: Sequence[float]) -> list[float]:
    """vectorByValueHeap order: NaN before everything, then ascending."""
    return sorted(values, key=lambda x: (0, 0.0) if math.isnan(x) else (1, x))


def quantile(q: float, values: Sequence[float]) -> float:
    if not values or math.isnan(q):
        return math.nan
    if q < 0:
        return -INF
    if q > 1:
        return INF
    ordered = go_sorted(values)
    n = float(len(ordered))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def mad(w: Window) -> float | None:
    if not w:
        return None
    values = [v for _, v in w]
    if any(math.isnan(v) for v in values):
        return math.nan
    median = quantile(0.5, values)
    return quantile(0.5, [abs(v - median) for v in values])


def double_exponential_smoothing(w: Window, sf: float, tf: float) -> float | None:
    if len(w) < 2:
        return None
    s0, s1 = 0.0, w[0][1]
    b = w[1][1] - w[0][1]
    for i in range(1, len(w)):
        x = sf * w[i][1]
        if i - 1 != 0:
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


# ---- classic histograms (quantile.go) ---------------------------------------------------------


def _almost_equal(a: float, b: float, eps: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    min_normal = 2.2250738585072014e-308
    if a == 0 or b == 0 or abs_sum < min_normal:
        return diff < eps * min_normal
    return diff / min(abs_sum, 1.7976931348623157e308) < eps


def _coalesce(buckets: list[list[float]]) -> list[list[float]]:
    out = [list(buckets[0])]
    for ub, c in buckets[1:]:
        if ub == out[-1][0]:
            out[-1][1] += c
        else:
            out.append([ub, c])
    return out


def _sort_buckets(buckets: Sequence[tuple[float, float]]) -> list[list[float]]:
    return [list(b) for b in sorted(buckets, key=lambda b: (math.isnan(b[0]), b[0]))]


def bucket_quantile(q: float, raw: Sequence[tuple[float, float]]) -> tuple[float, bool, float]:
    """BucketQuantile: (value, forced monotonicity, max diff)."""
    if math.isnan(q):
        return math.nan, False, 0.0
    if q < 0:
        return -INF, False, 0.0
    if q > 1:
        return INF, False, 0.0
    buckets = _sort_buckets(raw)
    if buckets[-1][0] != INF:
        return math.nan, False, 0.0
    buckets = _coalesce(buckets)
    forced, max_diff = False, 0.0
    prev = buckets[0][1]
    for b in buckets[1:]:
        curr = b[1]
        if curr == prev:
            continue
        if _almost_equal(prev, curr, 1e-12):
            b[1] = prev
            continue
        if curr < prev:
            b[1] = prev
            forced = True
            max_diff = max(max_diff, prev - curr)
            continue
        prev = curr
    if len(buckets) < 2:
        return math.nan, forced, max_diff
    observations = buckets[-1][1]
    if observations == 0:
        return math.nan, forced, max_diff
    rank = q * observations
    lo, hi = 0, len(buckets) - 1
    while lo < hi:
        h = (lo + hi) >> 1
        if not buckets[h][1] >= rank:
            lo = h + 1
        else:
            hi = h
    found = lo
    if found == len(buckets) - 1:
        return buckets[-2][0], forced, max_diff
    if found == 0 and buckets[0][0] <= 0:
        return buckets[0][0], forced, max_diff
    start, end, count = 0.0, buckets[found][0], buckets[found][1]
    if found > 0:
        start = buckets[found - 1][0]
        count -= buckets[found - 1][1]
        rank -= buckets[found - 1][1]
    return start + (end - start) * div(rank, count), forced, max_diff


def _interpolate(v: float, lb: float, ub: float, c: float, rank: float) -> float:
    if lb == -INF:
        return c
    return rank + div((c - rank) * (v - lb), ub - lb)


def bucket_fraction(lower: float, upper: float, raw: Sequence[tuple[float, float]]) -> float:
    buckets = _sort_buckets(raw)
    if buckets[-1][0] != INF:
        return math.nan
    buckets = _coalesce(buckets)
    count = buckets[-1][1]
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0
    rank = lower_rank = upper_rank = 0.0
    lower_set = upper_set = False
    lower_bound = -INF if buckets[0][0] <= 0 else 0.0
    for i, (ub, c) in enumerate(buckets):
        if i > 0:
            lower_bound = buckets[i - 1][0]

        if not lower_set and lower_bound >= lower:
            lower_rank, lower_set = rank, True
        if not upper_set and lower_bound >= upper:
            upper_rank, upper_set = rank, True
        if lower_set and upper_set:
            break
        if not lower_set and lower_bound < lower < ub:
            lower_rank, lower_set = _interpolate(lower, lower_bound, ub, c, rank), True
        if not upper_set and lower_bound < upper < ub:
            upper_rank, upper_set = _interpolate(upper, lower_bound, ub, c, rank), True
        if lower_set and upper_set:
            break
        rank = c
    if not lower_set or lower_rank > count:
        lower_rank = count
    if not upper_set or upper_rank > count:
        upper_rank = count
    return div(upper_rank - lower_rank, count)
