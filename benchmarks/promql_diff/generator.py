"""A seeded generator of random, well-typed PromQL over a dataset's schema.

``Generator(schema, seed).queries(n)`` yields ``n`` :class:`Query` objects, the same ones for
the same schema and seed. Each expression is well typed (an instant vector or a scalar at
the top), and the mix covers: every matcher kind (``= != =~ !~``, empty-matching ones,
``__name__`` matchers), double-quoted, single-quoted and raw strings with escapes (``\\.``,
``\\\\``, ``\\u``, ``\\x``), ``offset`` and ``@`` (``start()``, ``end()``, a time), every
float function and aggregation Prometheus 2.42 and 3.x share, vector matching with
``on``/``ignoring``/``group_left``/``group_right``, set operators, comparisons with and
without ``bool``, subqueries and nesting. Half the queries are instant queries, half range
queries, at times inside the data.

Left out, because the two versions compared do not share them: ``holt_winters`` (renamed
in 3.x and put behind a feature flag), negative offsets (behind a flag in 2.42), and 3.x-only
functions and syntax (``mad_over_time``, ``sort_by_label``, ``limitk``, ``info``, quoted
metric names, duration arithmetic).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from benchmarks.promql_diff.answers import Query
from benchmarks.promql_diff.schema import Metric, Schema

ELEMENTWISE = (
    "abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn", "deg", "rad",
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan",
    "tanh",
)  # fmt: skip
DATE_FUNCS = (
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute",
    "month", "year",
)  # fmt: skip
OVER_TIME = (
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
)  # fmt: skip
COUNTER_FUNCS = ("rate", "irate", "increase", "resets")
GAUGE_FUNCS = ("delta", "idelta", "deriv", "changes")
AGGREGATIONS = ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar")
ARITH = ("+", "-", "*", "/", "%", "^", "atan2")
COMPARISON = ("==", "!=", ">", "<", ">=", "<=")
SET_OPS = ("and", "or", "unless")
RANGES = ("30s", "1m", "2m", "5m", "90s", "10m", "15m", "1h")
SUBQUERY = ("[5m:1m]", "[10m:30s]", "[10m:]", "[30m:5m]", "[15m:2m]", "[1h:10m]")
OFFSETS = ("1m", "5m", "30s", "10m", "1h", "2m30s")
STEPS_S = (15, 30, 60, 120, 300)
# A 2 h dataset: queries look at least this far into it, so windows have data.
WARMUP_MS = 20 * 60_000


def go_quote(text: str, rng: random.Random) -> str:
    """A PromQL string literal for ``text``: double-, single-quoted or raw, at random,
    sometimes spelling plain letters as ``\\u``/``\\x`` escapes."""
    style = rng.random()
    if style < 0.3 and "`" not in text and "\n" not in text:
        return f"`{text}`"
    quote = "'" if style < 0.45 else '"'
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + quote)
        elif ch == "\n":
            out.append("\\n")
        elif ch.isalpha() and ch.isascii() and rng.random() < 0.03:
            out.append(f"\\u{ord(ch):04x}" if rng.random() < 0.5 else f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def regex_escape(text: str) -> str:
    """RE2 escaping of the metacharacters that occur in label values."""
    return "".join("\\" + c if c in ".+*?()[]{}|^$\\" else c for c in text)


class Generator:
    def __init__(self, schema: Schema, seed: int) -> None:
        self.schema = schema
        self.rng = random.Random(seed)
        self.seed = seed

    # ---- queries -----------------------------------------------------------------------------

    def queries(self, n: int) -> Iterator[Query]:
        for _ in range(n):
            yield self.query()

    def query(self) -> Query:
        r = self.rng
        expr = self.scalar(2) if r.random() < 0.05 else self.vector(r.choice((1, 2, 2, 3)))
        lo = self.schema.start_ms + WARMUP_MS
        hi = self.schema.end_ms + 60_000
        if r.random() < 0.5:
            t = r.randrange(lo // 1000, hi // 1000) * 1000
            return Query(expr, t, t)
        step = r.choice(STEPS_S) * 1000
        steps = r.randint(3, 40)
        start = r.randrange(lo // 1000, max(lo // 1000 + 1, hi // 1000 - steps * step // 1000))
        return Query(expr, start * 1000, start * 1000 + steps * step, step)

    # ---- pieces ------------------------------------------------------------------------------

    def metric(self, counter: bool | None = None) -> Metric:
        pool = self.schema.metrics
        if counter is True:
            pool = self.schema.counters
        elif counter is False:
            pool = self.schema.gauges
        return self.rng.choice(pool)

    def matchers(self, m: Metric) -> list[str]:
        r = self.rng
        series = dict(r.choice(m.series))
        names = sorted(series)
        out = []
        for label in r.sample(names, k=min(len(names), r.choice((0, 1, 1, 2, 3)))):
            value = series[label]
            values = m.values(label)
            kind = r.random()
            if kind < 0.35:
                out.append(f"{label}={go_quote(value, r)}")
            elif kind < 0.5:
                out.append(f"{label}!={go_quote(r.choice(values), r)}")
            elif kind < 0.75:
                alts = {value, r.choice(values)}
                pattern = "|".join(regex_escape(v) for v in sorted(alts))
                if r.random() < 0.3 and len(value) > 2:
                    pattern = regex_escape(value[: len(value) // 2]) + ".*"
                out.append(f"{label}=~{go_quote(pattern, r)}")
            elif kind < 0.85:
                out.append(f"{label}!~{go_quote(regex_escape(r.choice(values)) + '|x.*', r)}")
            elif kind < 0.92:
                # Empty-matching matchers: the label is absent, or anything goes.
                out.append(r.choice((f'{label}=~".*"', f'{label}!=""', 'nonexistent=""')))
            else:
                out.append(f'{label}=~"{regex_escape(value)[:3]}.+"')
        return out

    def selector(self, counter: bool | None = None, *, modifiers: bool = True) -> str:
        r = self.rng
        m = self.metric(counter)
        ms = self.matchers(m)
        if r.random() < 0.08:
            text = "{" + ", ".join([f"__name__={go_quote(m.name, r)}", *ms]) + "}"
        elif r.random() < 0.03:
            prefix = m.name.split("_")[0]
            text = "{" + ", ".join([f'__name__=~"{prefix}_.*"', *ms]) + "}"
        else:
            text = m.name + ("{" + ", ".join(ms) + "}" if ms or r.random() < 0.1 else "")
        return text + (self.modifiers() if modifiers else "")

    def modifiers(self) -> str:
        r = self.rng
        out = ""
        if r.random() < 0.12:
            out += " offset " + r.choice(OFFSETS)
        if r.random() < 0.08:
            at = r.random()
            if at < 0.3:
                out = " @ start()" + out
            elif at < 0.6:
                out = " @ end()" + out
            else:
                lo = self.schema.start_ms + WARMUP_MS
                t = r.randrange(lo, self.schema.end_ms) / 1000
                out = f" @ {t:.3f}" + out
        return out

    def range_vector(self, counter: bool | None, depth: int) -> str:
        r = self.rng
        if depth > 0 and r.random() < 0.15:
            inner = self.vector(depth - 1)
            return f"({inner}){r.choice(SUBQUERY)}{self.modifiers()}"
        sel = self.selector(counter, modifiers=False)
        return f"{sel}[{r.choice(RANGES)}]{self.modifiers()}"

    def scalar(self, depth: int) -> str:
        r = self.rng
        choices: list[Callable[[], str]] = [self.number, self.number, self.number]
        if depth > 0:
            choices += [
                lambda: f"scalar({self.vector(depth - 1)})",
                lambda: "time()",
                lambda: "pi()",
                lambda: f"({self.scalar(depth - 1)} {r.choice(ARITH)} {self.scalar(depth - 1)})",
                lambda: f"{r.choice(('abs', 'ceil', 'sqrt', 'exp'))}({self.scalar(depth - 1)})",
            ]
        return r.choice(choices)()

    def number(self) -> str:
        r = self.rng
        x = r.random()
        if x < 0.5:
            return str(r.choice((0, 1, 2, 3, 5, 10, 100, 1024, 0.5, 0.25, 0.1, 0.9, 0.99)))
        if x < 0.7:
            return f"{r.uniform(-50, 1000):.3f}"
        return r.choice(("1e3", "2.5e-3", "0x10", "-1", "Inf", "-Inf", "NaN", ".5", "1e9"))

    def quantile(self) -> str:
        return self.rng.choice(("0", "0.5", "0.9", "0.99", "1", "0.25", "-0.5", "1.5", "NaN"))

    # ---- instant vectors ---------------------------------------------------------------------

    def vector(self, depth: int) -> str:
        r = self.rng
        if depth <= 0:
            return r.choice((self.selector, self.leaf_range_call, self.leaf_range_call))()
        kinds: list[tuple[float, Callable[[int], str]]] = [
            (1.0, lambda d: self.selector()),
            (2.0, self.range_call),
            (2.0, self.aggregate),
            (1.5, self.elementwise),
            (2.0, self.binary_scalar),
            (2.5, self.binary_vector),
            (1.0, self.set_op),
            (0.6, self.label_func),
            (0.5, self.histogram_quantile),
            (0.3, lambda d: f"-{self.paren(self.vector(d - 1))}"),
            (0.3, lambda d: f"vector({self.scalar(d - 1)})"),
            (0.3, lambda d: f"absent({self.vector(d - 1)})"),
            (0.4, lambda d: f"{r.choice(('sort', 'sort_desc'))}({self.vector(d - 1)})"),
            (0.3, lambda d: f"timestamp({self.selector()})"),
        ]
        total = sum(w for w, _ in kinds)
        x = r.uniform(0, total)
        for w, f in kinds:
            x -= w
            if x <= 0:
                return f(depth)
        return kinds[-1][1](depth)

    def paren(self, e: str) -> str:
        return e if e.endswith(")") and e[0].isalpha() else f"({e})"

    def leaf_range_call(self) -> str:
        return self.range_call(0)

    def range_call(self, depth: int) -> str:
        r = self.rng
        x = r.random()
        if x < 0.35:
            f = r.choice(COUNTER_FUNCS)
            return f"{f}({self.range_vector(True, depth)})"
        if x < 0.5:
            f = r.choice(GAUGE_FUNCS)
            return f"{f}({self.range_vector(False, depth)})"
        if x < 0.85:
            f = r.choice(OVER_TIME)
            return f"{f}({self.range_vector(None, depth)})"
        if x < 0.92:
            return f"quantile_over_time({self.quantile()}, {self.range_vector(None, depth)})"
        if x < 0.96:
            return f"predict_linear({self.range_vector(False, depth)}, {r.choice((60, 600, 3600))})"
        return f"absent_over_time({self.range_vector(None, depth)})"

    def grouping(self, m: Metric | None = None) -> tuple[str, list[str]]:
        r = self.rng
        m = m or self.metric()
        names = list(m.label_names)
        labels = r.sample(names, k=min(len(names), r.choice((0, 1, 1, 2))))
        if r.random() < 0.15 and names:
            labels.append("le" if "le" in names else r.choice(names))
        if not labels and r.random() < 0.5:
            return "", []
        kw = "without" if r.random() < 0.2 else "by"
        return f"{kw} ({', '.join(dict.fromkeys(labels))})", labels

    def aggregate(self, depth: int) -> str:
        r = self.rng
        inner = self.vector(depth - 1)
        clause, _ = self.grouping()
        x = r.random()
        if x < 0.6:
            op, param = r.choice(AGGREGATIONS), ""
        elif x < 0.75:
            op, param = r.choice(("topk", "bottomk")), r.choice(("1", "2", "3", "5", "0")) + ", "
        elif x < 0.87:
            op, param = "quantile", self.quantile() + ", "
        else:
            op, param = "count_values", go_quote(r.choice(("value", "v", "le")), r) + ", "
        if r.random() < 0.5:
            return f"{op} {clause} ({param}{inner})".replace("  ", " ")
        return f"{op}({param}{inner}) {clause}".rstrip()

    def elementwise(self, depth: int) -> str:
        r = self.rng
        inner = self.vector(depth - 1)
        x = r.random()
        if x < 0.45:
            return f"{r.choice(ELEMENTWISE)}({inner})"
        if x < 0.6:
            to = r.choice(("", ", 1", ", 0.25", ", 10", ", 0.1"))
            return f"round({inner}{to})"
        if x < 0.8:
            f = r.choice(("clamp", "clamp_min", "clamp_max"))
            args = f"{self.number()}, {self.number()}" if f == "clamp" else self.number()
            return f"{f}({inner}, {args})"
        if x < 0.9:
            return f"{r.choice(DATE_FUNCS)}({inner})"
        return f"{r.choice(DATE_FUNCS)}()"

    def binary_scalar(self, depth: int) -> str:
        r = self.rng
        v = self.vector(depth - 1)
        s = self.scalar(depth - 1)
        op = r.choice(ARITH + COMPARISON)
        if op in COMPARISON and r.random() < 0.4:
            op += " bool"
        return f"{v} {op} {s}" if r.random() < 0.6 else f"{s} {op} {self.paren(v)}"

    def two_sides(self, depth: int) -> tuple[str, str, list[str], Metric, Metric]:
        """Two vectors whose label sets can match: the same metric, or two metrics
        aggregated by labels they share. Returns (lhs, rhs, shared labels, metrics)."""
        r = self.rng
        a = self.metric()
        same = r.random() < 0.4
        b = a if same else self.metric()
        shared = sorted(set(a.label_names) & set(b.label_names))
        sub = r.sample(shared, k=min(len(shared), r.choice((1, 1, 2))))
        if same:
            lhs = self.wrap(a, depth)
            rhs = self.wrap(a, depth)
        else:
            lhs = self.wrap(a, depth)
            rhs = f"{r.choice(AGGREGATIONS[:4])} by ({', '.join(sub)}) ({self.wrap(b, depth)})"
        return lhs, rhs, sub, a, b

    def wrap(self, m: Metric, depth: int) -> str:
        """An expression keeping ``m``'s labels: the selector, a range function of it, or
        a unary function of those."""
        r = self.rng
        ms = self.matchers(m)
        sel = m.name + ("{" + ", ".join(ms) + "}" if ms else "")
        x = r.random()
        if x < 0.3:
            return sel + self.modifiers()
        if x < 0.7:
            f = r.choice(COUNTER_FUNCS if m.counter else GAUGE_FUNCS + OVER_TIME)
            return f"{f}({sel}[{r.choice(RANGES)}]{self.modifiers()})"
        if x < 0.85 and depth > 1:
            return f"{r.choice(ELEMENTWISE[:8])}({self.wrap(m, depth - 1)})"
        return f"{r.choice(OVER_TIME)}({sel}[{r.choice(RANGES)}])"

    def binary_vector(self, depth: int) -> str:
        r = self.rng
        lhs, rhs, shared, _, _ = self.two_sides(depth)
        op = r.choice(ARITH + COMPARISON + COMPARISON)
        if op in COMPARISON and r.random() < 0.35:
            op += " bool"
        x = r.random()
        if x < 0.3 and shared:
            mod = f"on ({', '.join(shared)})"
        elif x < 0.4:
            mod = f"ignoring ({r.choice(('instance', 'job', 'pod', 'le', 'mode'))})"
        else:
            mod = ""
        if mod.startswith("on") and r.random() < 0.6:
            include = ""
            if r.random() < 0.3:
                include = f" ({r.choice(('job', 'instance', 'namespace', 'node'))})"
            side = r.choice(("group_left", "group_right"))
            if side == "group_right":
                lhs, rhs = rhs, lhs
            mod += f" {side}{include}"
        if r.random() < 0.2:
            lhs, rhs = rhs, lhs
        return f"{self.paren(lhs)} {op} {mod} {self.paren(rhs)}".replace("  ", " ")

    def set_op(self, depth: int) -> str:
        r = self.rng
        if r.random() < 0.5:
            lhs, rhs, shared, _, _ = self.two_sides(depth)
        else:
            lhs, rhs, shared = self.vector(depth - 1), self.vector(depth - 1), []
        op = r.choice(SET_OPS)
        mod = ""
        if shared and r.random() < 0.4:
            mod = f"on ({', '.join(shared)}) "
        elif r.random() < 0.15:
            mod = f"ignoring ({r.choice(('instance', 'pod', 'le'))}) "
        return f"{self.paren(lhs)} {op} {mod}{self.paren(rhs)}"

    def label_func(self, depth: int) -> str:
        r = self.rng
        m = self.metric()
        inner = self.wrap(m, depth) if r.random() < 0.7 else self.vector(depth - 1)
        names = list(m.label_names) or ["job"]
        src = r.choice([*names, "__name__"])
        dst = r.choice(("dst", "node", "__name__", src, "new_label"))
        if r.random() < 0.6:
            regex = r.choice(("(.*)", "(.+)-(.*)", "([^.]+)\\.(.*)", "(ip|node)-(.*)", ".*", ""))
            repl = r.choice(("$1", "$2", "${1}_x", "", "prefix-$1"))
            q = go_quote
            return f"label_replace({inner}, {q(dst, r)}, {q(repl, r)}, {q(src, r)}, {q(regex, r)})"
        srcs = ", ".join(go_quote(s, r) for s in r.sample(names, k=min(2, len(names))))
        sep = go_quote(r.choice(("-", "", ",", "\\")), r)
        return f"label_join({inner}, {go_quote(dst, r)}, {sep}, {srcs})"

    def histogram_quantile(self, depth: int) -> str:
        r = self.rng
        buckets = [m for m in self.schema.metrics if m.name.endswith("_bucket")]
        if not buckets:
            return self.selector()
        m = r.choice(buckets)
        sel = m.name + ("{" + ", ".join(self.matchers(m)) + "}" if r.random() < 0.5 else "")
        keep = r.choice(("le", "le, verb", "le, resource", "le, instance"))
        inner = f"sum by ({keep}) (rate({sel}[{r.choice(RANGES[2:])}]))"
        if r.random() < 0.3:
            inner = f"rate({sel}[5m])"
        return f"histogram_quantile({self.quantile()}, {inner})"
