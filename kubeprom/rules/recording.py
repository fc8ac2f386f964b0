"""Recording rules (``rules/recording.go``): the query's result renamed and relabeled."""

from __future__ import annotations

from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.promql.api import QueryAPI
from kubeprom.rules.rule import Rule, RuleEvalError, Vector, query_vector

# Output label sets are cached per input label set; the cache is emptied when it holds many
# more entries than a result has, so series that went away do not pile up.
_CACHE_SLACK = 1000


class RecordingRule(Rule):
    """``record: NAME`` + ``expr`` + ``labels``: each output series has the input's labels
    with ``__name__`` set to NAME and the rule's labels set on top."""

    kind = "recording"

    def __init__(self, name: str, expr: str, labels: Labels) -> None:
        super().__init__(name, expr, labels)
        self._set = {METRIC_NAME: name, **labels.to_dict()}
        self._out: dict[Labels, Labels] = {}
        self._names = frozenset((self._set[METRIC_NAME],))

    def output_names(self) -> frozenset[str]:
        return self._names  # every output has ``_set`` on top, its name included

    def output_labels(self, labels: Labels) -> Labels:
        """The series a result sample with ``labels`` is recorded as."""
        o = self._out.get(labels)
        if o is None:
            o = self._out[labels] = labels.with_labels(self._set)
        return o

    def evaluate(self, t_ms: int, query_offset_ms: int, query: QueryAPI, limit: int) -> Vector:
        vec = query_vector(query, self.expr, t_ms - query_offset_ms)
        if len(self._out) > 2 * len(vec) + _CACHE_SLACK:
            self._out.clear()
        out = [self.output_labels(lab) for lab in vec.labels]
        if len(set(out)) != len(out):
            raise RuleEvalError(
                "vector contains metrics with the same labelset after applying rule labels"
            )
        if limit > 0 and len(out) > limit:
            raise RuleEvalError(f"exceeded limit of {limit} with {len(out)} series")
        return Vector(out, vec.values)
