"""The function tables against the names and signatures promql-parser accepts."""

from __future__ import annotations

import promql_parser
import pytest

from kubeprom.promql.functions.elementwise import ELEMENTWISE_EMPTY_STEPS, ELEMENTWISE_FUNCTIONS
from kubeprom.promql.functions.range_funcs import RANGE_FUNCTIONS

# Scalar arguments each range function takes besides the range vector, by position.
RANGE_SCALARS = {"quantile_over_time": 1, "predict_linear": 1, "double_exponential_smoothing": 2}


def signature(expr: str) -> list[str]:
    call = promql_parser.parse(expr)
    assert isinstance(call, promql_parser.Call)
    return [str(t).rsplit(".", 1)[-1] for t in call.func.arg_types]


@pytest.mark.parametrize(
    "table", [RANGE_FUNCTIONS, ELEMENTWISE_FUNCTIONS], ids=["range", "elementwise"]
)
def test_tables_are_sorted_literals(table: dict[str, object]) -> None:
    assert list(table) == sorted(table)


@pytest.mark.parametrize("name", sorted(RANGE_FUNCTIONS))
def test_range_functions_parse_with_one_matrix(name: str) -> None:
    scalars = RANGE_SCALARS.get(name, 0)
    if name == "quantile_over_time":
        expr = f"{name}(0.5, x[5m])"
    else:
        expr = f"{name}(x[5m]{', 0.5' * scalars})"
    types = signature(expr)
    assert types.count("Matrix") == 1
    assert types.count("Scalar") == scalars


def test_every_float_range_function_of_the_parser_is_covered() -> None:
    """Checks a known list, so that a new upstream function is noticed here."""
    known = {
        "absent_over_time",  # the evaluator's: it needs the selector's labels
        *RANGE_FUNCTIONS,
    }
    for name in known:
        assert "Matrix" in signature(
            f"{name}(0.5, x[5m])"
            if name == "quantile_over_time"
            else f"{name}(x[5m]{', 0.5' * RANGE_SCALARS.get(name, 0)})"
        )


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FUNCTIONS))
def test_elementwise_functions_take_a_vector_first(name: str) -> None:
    scalars = {"clamp": 2, "clamp_min": 1, "clamp_max": 1, "round": 1}.get(name, 0)
    types = signature(f"{name}(x{', 1' * scalars})")
    assert types[0] == "Vector"
    assert types[1:] == ["Scalar"] * scalars


def test_empty_step_hooks_name_known_functions() -> None:
    assert set(ELEMENTWISE_EMPTY_STEPS) <= set(ELEMENTWISE_FUNCTIONS)
