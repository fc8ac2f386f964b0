"""The server-wide sample budget (issue 11): queries in flight together hold at most
``--query.max-samples-total``; a query that does not fit waits a bounded time, then is
refused; whatever ends a query gives its samples back."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.errors import (
    EvalError,
    KubepromError,
    QueryBudgetExceeded,
    QueryCanceled,
    QueryTimeout,
    TooManySamples,
)
from kubeprom.model import Labels, Matcher
from kubeprom.promql import EngineOptions, LocalQueryAPI
from kubeprom.promql.budget import SampleBudget
from kubeprom.tsdb.api import SeriesSet
from kubeprom.tsdb.memstore import MemStore
from kubeprom.web import QueryHandlers, build_app

BUSY = r"and nothing was released of the server's budget of 1000 \(--query.max-samples-total\)"


def store_of(n_series: int, n_points: int) -> MemStore:
    q = MemStore()
    t = np.arange(n_points, dtype=np.int64) * 15_000
    for i in range(n_series):
        q.add(
            Labels.from_dict({"__name__": "x", "i": str(i)}),
            t,
            np.arange(n_points, dtype=np.float64),
        )
    return q


def never_waits(total: int = 1000, waiters: int = 4) -> SampleBudget:
    return SampleBudget(total, max_wait_s=0.0, max_waiters=waiters)


def no_check() -> None:
    pass


def test_reservations_fit_until_the_total_then_are_refused() -> None:
    b = never_waits()
    b.reserve(600, holding=0, check=no_check, remaining_s=10)
    b.reserve(400, holding=0, check=no_check, remaining_s=10)
    with pytest.raises(QueryBudgetExceeded, match=r"1 more samples while queries in flight "):
        b.reserve(1, holding=0, check=no_check, remaining_s=10)
    b.release(400)
    b.reserve(400, holding=0, check=no_check, remaining_s=10)
    assert b.held == 1000


def test_more_than_the_whole_budget_is_refused_at_once() -> None:
    b = SampleBudget(1000, max_wait_s=60.0, max_waiters=4)
    with pytest.raises(QueryBudgetExceeded, match="it alone exceeds the server's budget"):
        b.reserve(1001, holding=0, check=no_check, remaining_s=60)
    assert (b.held, b.waiting) == (0, 0)


def test_a_full_wait_queue_refuses_at_once() -> None:
    b = SampleBudget(1000, max_wait_s=60.0, max_waiters=0)
    b.reserve(1000, holding=0, check=no_check, remaining_s=60)
    with pytest.raises(QueryBudgetExceeded, match="0 queries wait for the server's budget"):
        b.reserve(1, holding=0, check=no_check, remaining_s=60)


def reserving_in_a_thread(
    b: SampleBudget, n: int, holding: int, on_refusal: int = 0
) -> tuple[threading.Thread, list[str]]:
    """Another query asking for ``n`` more samples, once it waits; its refusals are
    collected (and, like an evaluation ending, it then releases ``on_refusal``)."""
    errors: list[str] = []

    def run() -> None:
        try:
            b.reserve(n, holding=holding, check=no_check, remaining_s=60)
        except QueryBudgetExceeded as err:
            errors.append(str(err))
            b.release(on_refusal)

    t = threading.Thread(target=run)
    t.start()
    assert b.wait_for_waiters(1, 30)
    return t, errors


def test_a_waiting_reservation_goes_through_when_another_query_releases() -> None:
    b = SampleBudget(1000, max_wait_s=60.0, max_waiters=1)
    b.reserve(900, holding=0, check=no_check, remaining_s=60)
    t, errors = reserving_in_a_thread(b, 500, 0)
    b.release(900)
    t.join(30)
    assert not t.is_alive()
    assert errors == []
    assert (b.held, b.waiting) == (500, 0)


def test_when_every_holder_waits_the_newcomer_holding_least_gives_up_at_once() -> None:
    """A holds 600 and waits for 100 more; B holds 400 and asks for 100 more: neither can
    release while both wait, so B, holding least, is refused at once (not after the wait);
    once B gives back its 400, A goes on."""
    b = SampleBudget(1000, max_wait_s=60.0, max_waiters=4)
    b.reserve(600, holding=0, check=no_check, remaining_s=60)  # query A
    b.reserve(400, holding=0, check=no_check, remaining_s=60)  # query B
    t, errors = reserving_in_a_thread(b, 100, 600)  # A wants more
    with pytest.raises(QueryBudgetExceeded, match="every query holding samples waits for"):
        b.reserve(100, holding=400, check=no_check, remaining_s=60)
    b.release(400)  # B ends
    t.join(30)
    assert not t.is_alive()
    assert errors == []
    assert (b.held, b.waiting) == (700, 0)


def test_when_every_holder_waits_the_one_holding_least_gives_up() -> None:
    """A holds 400 and waits; B, holding 600, asks for 100 more: A (less work done) is the
    one refused; once its caller gives back the 400, B goes on."""
    b = SampleBudget(1000, max_wait_s=60.0, max_waiters=4)
    b.reserve(400, holding=0, check=no_check, remaining_s=60)  # query A
    b.reserve(600, holding=0, check=no_check, remaining_s=60)  # query B
    t, errors = reserving_in_a_thread(b, 100, 400, on_refusal=400)  # A wants more
    b.reserve(100, holding=600, check=no_check, remaining_s=60)  # B waits, then fits
    t.join(30)
    assert len(errors) == 1
    assert "every query holding samples waits for the server's budget" in errors[0]
    assert (b.held, b.waiting) == (700, 0)


def test_a_wait_never_outlasts_the_querys_own_time() -> None:
    """max_wait_s is an hour, but the query has no time left: refused, not waiting."""
    b = SampleBudget(1000, max_wait_s=3600.0, max_waiters=4)
    b.reserve(1000, holding=0, check=no_check, remaining_s=60)
    with pytest.raises(QueryBudgetExceeded, match="nothing was released of"):
        b.reserve(1, holding=0, check=no_check, remaining_s=0.0)
    assert b.waiting == 0


def test_a_waiting_query_stops_when_its_check_says_so() -> None:
    """A query canceled while it waits stops at the wait's next wake-up."""
    b = SampleBudget(1000, max_wait_s=3600.0, max_waiters=4)
    b.reserve(1000, holding=0, check=no_check, remaining_s=60)

    def canceled() -> None:
        raise QueryCanceled("query was canceled in query execution")

    with pytest.raises(QueryCanceled, match="query was canceled"):
        b.reserve(1, holding=0, check=canceled, remaining_s=3600)
    assert (b.held, b.waiting) == (1000, 0)


# ---- through the engine: reserved as held, released however the query ends ---------------


def test_a_query_reserves_what_it_holds_and_gives_it_back_when_done() -> None:
    store = store_of(3, 40)
    b = never_waits(total=10_000)
    api = LocalQueryAPI(lambda: store, budget=b)
    assert len(api.range("x", 0, 300_000, 15_000)) == 3
    assert b.held == 0
    # The same query with 9,950 samples held by others does not fit (3 x 21 points).
    b.reserve(9_950, holding=0, check=no_check, remaining_s=10)
    with pytest.raises(QueryBudgetExceeded, match="budget of 10000"):
        api.range("x", 0, 300_000, 15_000)
    assert b.held == 9_950


def test_a_query_waits_for_another_to_release_then_answers() -> None:
    store = store_of(3, 40)
    b = SampleBudget(1000, max_wait_s=60.0, max_waiters=2)
    b.reserve(999, holding=0, check=no_check, remaining_s=60)  # another query's samples
    api = LocalQueryAPI(lambda: store, budget=b)
    answers: list[int] = []
    t = threading.Thread(target=lambda: answers.append(len(api.instant("x", 300_000))))
    t.start()
    assert b.wait_for_waiters(1, 30)
    b.release(999)
    t.join(30)
    assert answers == [3]
    assert b.held == 0


def test_refused_by_its_own_limit_the_query_gives_everything_back() -> None:
    store = store_of(3, 40)
    b = never_waits(total=10_000)
    api = LocalQueryAPI(lambda: store, EngineOptions(max_samples=50), budget=b)
    with pytest.raises(TooManySamples, match="too many samples"):
        api.range("x", 0, 600_000, 15_000)
    assert b.held == 0


def test_an_evaluation_error_gives_everything_back() -> None:
    store = store_of(3, 40)
    b = never_waits(total=10_000)
    api = LocalQueryAPI(lambda: store, budget=b)
    with pytest.raises(EvalError, match="many-to-many matching not allowed"):
        api.range("x + on() x", 0, 300_000, 15_000)
    assert b.held == 0


class StopAtSecondSelect:
    """A querier whose second select takes the query past its deadline (by the clock it
    reads), or cancels it: the query stops at its next check, after the first ``sum(x)``
    took samples from the budget (``held_then`` records how many)."""

    def __init__(
        self, inner: MemStore, budget: SampleBudget, cancel: threading.Event | None
    ) -> None:
        self.inner = inner
        self.budget = budget
        self.cancel = cancel
        self.now_ns = 0
        self.selects = 0
        self.held_then = 0

    def monotonic_ns(self) -> int:
        return self.now_ns

    def now_ms(self) -> int:
        return self.now_ns // 1_000_000

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        self.selects += 1
        if self.selects == 2:
            self.held_then = self.budget.held
            if self.cancel is not None:
                self.cancel.set()
            else:
                self.now_ns += 10**12  # the select took 1,000 s
        return self.inner.select(matchers, mint, maxt)


def test_a_timed_out_query_gives_everything_back() -> None:
    b = never_waits(total=10_000)
    q = StopAtSecondSelect(store_of(3, 40), b, None)
    api = LocalQueryAPI(lambda: q, EngineOptions(timeout_s=10), clock=q, budget=b)  # type: ignore[arg-type, return-value]
    with pytest.raises(QueryTimeout, match="query timed out"):
        api.range("sum(x) + sum(x)", 0, 300_000, 15_000)
    assert q.held_then == 84  # 3 series x 21 steps selected, 21 steps summed
    assert b.held == 0


def test_a_canceled_query_gives_everything_back() -> None:
    cancel = threading.Event()
    b = never_waits(total=10_000)
    q = StopAtSecondSelect(store_of(3, 40), b, cancel)
    api = LocalQueryAPI(lambda: q, budget=b).cancellable(cancel)  # type: ignore[arg-type, return-value]
    with pytest.raises(QueryCanceled, match="query was canceled"):
        api.range("sum(x) + sum(x)", 0, 300_000, 15_000)
    assert q.held_then == 84
    assert b.held == 0


async def test_the_http_api_answers_a_refusal_503_unavailable_in_the_envelope() -> None:
    store = store_of(3, 40)
    b = never_waits()
    b.reserve(1000, holding=0, check=no_check, remaining_s=60)
    app = build_app(
        CollectorRegistry(), query=QueryHandlers(LocalQueryAPI(lambda: store, budget=b))
    )
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/api/v1/query", params={"query": "x", "time": "300"})
        body = await r.json()
    assert r.status == 503
    assert body["status"] == "error"
    assert body["errorType"] == "unavailable"
    assert "nothing was released of the server's budget of 1000" in body["error"]
    assert b.held == 1000


def test_the_flags_set_the_total_and_the_wait() -> None:
    from kubeprom.cli.main import build_parser
    from kubeprom.cli.run_cmd import settings_of

    defaults = settings_of(build_parser().parse_args(["run"]))
    assert (defaults.query_max_samples_total, defaults.query_samples_wait_s) == (100_000_000, 5.0)
    half = settings_of(build_parser().parse_args(["run", "--query.max-samples=1000"]))
    assert half.query_max_samples_total == 2000
    s = settings_of(
        build_parser().parse_args(
            ["run", "--query.max-samples-total=5000", "--query.samples-wait=250ms"]
        )
    )
    assert (s.query_max_samples_total, s.query_samples_wait_s) == (5000, 0.25)
    assert s.flags["query.max-samples-total"] == "5000"
    assert s.flags["query.samples-wait"] == "250ms"
    with pytest.raises(KubepromError, match=r"--query\.samples-wait: "):
        settings_of(build_parser().parse_args(["run", "--query.samples-wait=soon"]))
