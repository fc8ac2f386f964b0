"""Normalization of a proposal: stabilization windows, rate limits and min/max clamps.

ALGORITHM.md sections 7 (no ``behavior``: the legacy path), 8 (with one) and 9 (the
controller's memory): upstream's ``normalizeDesiredReplicas``,
``normalizeDesiredReplicasWithBehaviors``, ``stabilizeRecommendation[WithBehaviors]``,
``convertDesiredReplicasWith{Rules,BehaviorRate}``, ``calculateScale{Up,Down}Limit...`` and
``storeScaleEvent``, as pure functions of the history and an explicit ``now_ms``.

Time rules (section 9.3): an entry is inside a window or period when its age is *less than*
it; an entry whose age equals it is outside (old, outdated). Replica counts are int32 and
their sums wrap as Go's do. The history is kept in numpy arrays so that long stabilization
windows cost no per-entry Python work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.hpa_spec import HPAScalingRules, ScalingPolicyType, SelectPolicy
from kubeprom.hpa.goarith import INT32_MAX, INT32_MIN, ceil32, to_int32, wrap32

READY_FOR_NEW_SCALE = ("ReadyForNewScale", "recommended size matches current size")
SCALE_UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
SCALE_DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent "
    "recommendation",
)
DESIRED_WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
TOO_FEW_REPLICAS = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
)
TOO_MANY_REPLICAS = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
)
SCALE_UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
SCALE_DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)


def _i64(values: list[int] | None = None) -> NDArray[np.int64]:
    return np.array(values or [], dtype=np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class Recommendations:
    """Past unstabilized proposals, in storage order (slots are reused, so not by time)."""

    replicas: NDArray[np.int64] = field(default_factory=_i64)
    t_ms: NDArray[np.int64] = field(default_factory=_i64)

    def __len__(self) -> int:
        return int(self.replicas.shape[0])

    @classmethod
    def of(cls, entries: list[tuple[int, int]]) -> Recommendations:
        """From ``(replicas, t_ms)`` pairs."""
        return cls(_i64([r for r, _ in entries]), _i64([t for _, t in entries]))

    def store(self, replicas: int, now_ms: int, old: NDArray[np.bool_]) -> Recommendations:
        """The proposal takes the slot of the last old entry, or is appended."""
        if old.any():
            slot = int(np.nonzero(old)[0][-1])
            r, t = self.replicas.copy(), self.t_ms.copy()
            r[slot], t[slot] = replicas, now_ms
            return Recommendations(r, t)
        return Recommendations(np.append(self.replicas, replicas), np.append(self.t_ms, now_ms))


@dataclass(frozen=True, slots=True, eq=False)
class ScaleEvents:
    """Past rescales of one direction: replica deltas (non-negative), times, outdated marks."""

    change: NDArray[np.int64] = field(default_factory=_i64)
    t_ms: NDArray[np.int64] = field(default_factory=_i64)
    outdated: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))

    def __len__(self) -> int:
        return int(self.change.shape[0])

    @classmethod
    def of(cls, entries: list[tuple[int, int]], outdated: list[bool] | None = None) -> ScaleEvents:
        """From ``(change, t_ms)`` pairs."""
        marks = outdated if outdated is not None else [False] * len(entries)
        return cls(
            _i64([c for c, _ in entries]), _i64([t for _, t in entries]), np.array(marks, bool)
        )

    def change_in_period(self, period_s: int, now_ms: int) -> int:
        """``getReplicasChangePerPeriod``: replicas changed by events younger than the period."""
        young = now_ms - self.t_ms < period_s * 1000
        return wrap32(int(self.change[young].sum()))


@dataclass(frozen=True, slots=True, eq=False)
class History:
    """The controller's memory of one HPA (not in the API object).

    ``recommendations`` is None until the HPA's first sync records the current size.
    """

    recommendations: Recommendations | None = None
    scale_up: ScaleEvents = field(default_factory=ScaleEvents)
    scale_down: ScaleEvents = field(default_factory=ScaleEvents)


@dataclass(frozen=True, slots=True)
class PolicyLimit:
    """One policy's allowance: the count at the period's start and what it allows."""

    type: str
    value: int
    period_seconds: int
    period_start: int
    allowed: int


@dataclass(frozen=True, slots=True, eq=False)
class NormalizeTrace:
    """Every step from a proposal to the desired count.

    ``window_*`` are the recommendations seen (replicas, age in ms, counted by the up /
    down window); the legacy path uses only ``down_window_s``. ``limit`` is the allowance
    after ``selectPolicy`` (behavior) or the ``max(2 x current, 4)`` cap (legacy); ``bound`` is
    the min/max it was combined with.
    """

    legacy: bool
    current: int
    proposal: int
    window_replicas: NDArray[np.int64]
    window_age_ms: NDArray[np.int64]
    window_up: NDArray[np.bool_]
    window_down: NDArray[np.bool_]
    up_window_s: int | None
    down_window_s: int
    up_bound: int | None
    down_bound: int
    stabilized: int
    able_to_scale: tuple[str, str]
    select_policy: str | None = None
    policies: tuple[PolicyLimit, ...] = ()
    limit: int | None = None
    bound: int | None = None
    desired: int = 0
    limited: bool = False
    limited_reason: tuple[str, str] = DESIRED_WITHIN_RANGE


@dataclass(frozen=True, slots=True, eq=False)
class Normalized:
    desired: int
    recommendations: Recommendations
    trace: NormalizeTrace


def initial_recommendations(history: History, current: int, now_ms: int) -> History:
    """``recordInitialRecommendation``: a new HPA's list starts with the current size."""
    if history.recommendations is not None:
        return history
    recs = Recommendations(_i64([current]), _i64([now_ms]))
    return History(recs, history.scale_up, history.scale_down)


def scale_up_limit(current: int, factor: float, minimum: float) -> int:
    """``calculateScaleUpLimit``: ``int32(max(factor * current, minimum))``."""
    return to_int32(max(factor * float(current), minimum))


def convert_with_rules(
    current: int, desired: int, min_replicas: int, max_replicas: int, factor: float, minimum: float
) -> tuple[int, tuple[str, str], int]:
    """``convertDesiredReplicasWithRules``: (desired, (reason, message), the upper bound)."""
    cap = scale_up_limit(current, factor, minimum)
    if max_replicas > cap:
        upper, reason = cap, SCALE_UP_LIMIT
    else:
        upper, reason = max_replicas, TOO_MANY_REPLICAS
    if desired < min_replicas:
        return min_replicas, TOO_FEW_REPLICAS, upper
    if desired > upper:
        return upper, reason, upper
    return desired, DESIRED_WITHIN_RANGE, upper


def normalize_legacy(
    recommendations: Recommendations,
    current: int,
    proposal: int,
    min_replicas: int,
    max_replicas: int,
    now_ms: int,
    *,
    window_s: int,
    scale_up_factor: float = 2.0,
    scale_up_minimum: float = 4.0,
) -> Normalized:
    """``normalizeDesiredReplicas`` (section 7)."""
    age = now_ms - recommendations.t_ms
    inside = age < window_s * 1000
    stabilized = max(proposal, int(recommendations.replicas[inside].max(initial=proposal)))
    recs = recommendations.store(proposal, now_ms, ~inside)
    able = SCALE_DOWN_STABILIZED if stabilized != proposal else READY_FOR_NEW_SCALE
    desired, reason, upper = convert_with_rules(
        current, stabilized, min_replicas, max_replicas, scale_up_factor, scale_up_minimum
    )
    trace = NormalizeTrace(
        legacy=True,
        current=current,
        proposal=proposal,
        window_replicas=recommendations.replicas,
        window_age_ms=age,
        window_up=np.zeros(len(recommendations), dtype=np.bool_),
        window_down=inside,
        up_window_s=None,
        down_window_s=window_s,
        up_bound=None,
        down_bound=stabilized,
        stabilized=stabilized,
        able_to_scale=able,
        limit=upper,
        bound=min_replicas if stabilized < min_replicas else upper,
        desired=desired,
        limited=desired != stabilized,
        limited_reason=reason,
    )
    return Normalized(desired, recs, trace)


def _policy_limits(
    rules: HPAScalingRules, current: int, history: History, now_ms: int, up: bool
) -> tuple[int, tuple[PolicyLimit, ...]]:
    """``calculateScale{Up,Down}Limit...``: the allowance and each policy's part in it."""
    select = rules.select_policy or SelectPolicy.MAX
    if select == SelectPolicy.DISABLED:
        return current, ()
    take_min = (select == SelectPolicy.MIN) == up  # Min on the way up, Max on the way down
    result = INT32_MAX if take_min else INT32_MIN
    limits = []
    allowed = 0  # Go keeps the previous policy's proposal for an unknown type
    for policy in rules.policies or ():
        added = history.scale_up.change_in_period(policy.period_seconds, now_ms)
        removed = history.scale_down.change_in_period(policy.period_seconds, now_ms)
        start = wrap32(current - added + removed)
        if policy.type == ScalingPolicyType.PODS:
            allowed = wrap32(start + policy.value if up else start - policy.value)
        elif policy.type == ScalingPolicyType.PERCENT:
            factor = float(start) * (1 + float(policy.value) / 100 * (1 if up else -1))
            allowed = ceil32(factor) if up else to_int32(factor)
        limits.append(PolicyLimit(policy.type, policy.value, policy.period_seconds, start, allowed))
        result = min(result, allowed) if take_min else max(result, allowed)
    return result, tuple(limits)


def normalize_with_behavior(
    history: History,
    current: int,
    proposal: int,
    min_replicas: int,
    max_replicas: int,
    scale_up: HPAScalingRules,
    scale_down: HPAScalingRules,
    now_ms: int,
    *,
    default_down_window_s: int,
) -> Normalized:
    """``normalizeDesiredReplicasWithBehaviors`` (section 8); the rules are defaulted, and
    a scale-down window left unset takes ``default_down_window_s``."""
    recs = history.recommendations if history.recommendations is not None else Recommendations()
    up_s = scale_up.stabilization_window_seconds or 0
    down_s = scale_down.stabilization_window_seconds
    down_s = default_down_window_s if down_s is None else down_s
    age = now_ms - recs.t_ms
    in_up = age < up_s * 1000
    in_down = age < down_s * 1000
    up_bound = int(recs.replicas[in_up].min(initial=proposal))
    down_bound = int(recs.replicas[in_down].max(initial=proposal))
    stabilized = min(max(current, up_bound), down_bound)
    stored = recs.store(proposal, now_ms, ~in_up & ~in_down)
    if stabilized == proposal:
        able = READY_FOR_NEW_SCALE
    else:
        able = SCALE_UP_STABILIZED if proposal >= current else SCALE_DOWN_STABILIZED

    reason = DESIRED_WITHIN_RANGE
    desired = stabilized
    limit = bound = None
    policies: tuple[PolicyLimit, ...] = ()
    select = None
    if stabilized > current:
        select = scale_up.select_policy
        limit, policies = _policy_limits(scale_up, current, history, now_ms, up=True)
        limit = max(limit, current)  # policies never force a scale-down
        bound = min(max_replicas, limit)
        reason = SCALE_UP_LIMIT if max_replicas > limit else TOO_MANY_REPLICAS
        desired = min(stabilized, bound)
    elif stabilized < current:
        select = scale_down.select_policy
        limit, policies = _policy_limits(scale_down, current, history, now_ms, up=False)
        limit = min(limit, current)
        bound = max(min_replicas, limit)
        reason = SCALE_DOWN_LIMIT if min_replicas < limit else TOO_FEW_REPLICAS
        desired = max(stabilized, bound)
    if desired == stabilized:
        reason = DESIRED_WITHIN_RANGE
    trace = NormalizeTrace(
        legacy=False,
        current=current,
        proposal=proposal,
        window_replicas=recs.replicas,
        window_age_ms=age,
        window_up=in_up,
        window_down=in_down,
        up_window_s=up_s,
        down_window_s=down_s,
        up_bound=up_bound,
        down_bound=down_bound,
        stabilized=stabilized,
        able_to_scale=able,
        select_policy=select,
        policies=policies,
        limit=limit,
        bound=bound,
        desired=desired,
        limited=desired != stabilized,
        limited_reason=reason,
    )
    return Normalized(desired, stored, trace)


def longest_period(rules: HPAScalingRules) -> int:
    """``getLongestPolicyPeriod``."""
    return max((p.period_seconds for p in rules.policies or ()), default=0)


def store_scale_event(
    history: History,
    scale_up: HPAScalingRules | None,
    scale_down: HPAScalingRules | None,
    previous: int,
    new: int,
    now_ms: int,
) -> History:
    """``storeScaleEvent`` (section 9.2): mark the direction's events older than its longest
    policy period outdated; the new event takes the last outdated slot or is appended.
    ``scale_up``/``scale_down`` are None when the HPA has no behavior (nothing is stored)."""
    if scale_up is None or scale_down is None:
        return history
    up = new > previous
    events = history.scale_up if up else history.scale_down
    period = longest_period(scale_up if up else scale_down)
    outdated = events.outdated | (now_ms - events.t_ms >= period * 1000)
    change = new - previous if up else previous - new
    if outdated.any():
        slot = int(np.nonzero(outdated)[0][-1])
        c, t, o = events.change.copy(), events.t_ms.copy(), outdated.copy()
        c[slot], t[slot], o[slot] = change, now_ms, False
        stored = ScaleEvents(c, t, o)
    else:
        stored = ScaleEvents(
            np.append(events.change, change),
            np.append(events.t_ms, now_ms),
            np.append(outdated, False),
        )
    if up:
        return History(history.recommendations, stored, history.scale_down)
    return History(history.recommendations, history.scale_up, stored)
