"""The embedded target's retention of ended jobs, as the environment sets it."""

import pytest
from hypothesis import given, strategies as st

from harness.service import RETAIN_ENDED_JOBS, _retain_from_environment


def test_unset_or_empty_is_the_documented_default():
    assert RETAIN_ENDED_JOBS == 10_000
    assert _retain_from_environment({}) == RETAIN_ENDED_JOBS
    assert _retain_from_environment({"HARNESS_RETAIN_ENDED_JOBS": " "}) == RETAIN_ENDED_JOBS


@given(st.integers(min_value=1, max_value=10**9))
def test_a_positive_number_is_taken(n):
    assert _retain_from_environment({"HARNESS_RETAIN_ENDED_JOBS": str(n)}) == n


@pytest.mark.parametrize("value", ["0", "-3", "5.5", "many", "1e3"])
def test_anything_else_is_refused_with_its_name(value):
    with pytest.raises(ValueError, match="HARNESS_RETAIN_ENDED_JOBS"):
        _retain_from_environment({"HARNESS_RETAIN_ENDED_JOBS": value})
