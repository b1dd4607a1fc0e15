"""`durations` expectations of a scenario: seconds between two times of a resource, inside bounds."""

from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from harness.runner import _durations

START = datetime(2026, 12, 1, tzinfo=timezone.utc)


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


gaps = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda s: round(s, 3))
bounds = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))


@given(gaps, bounds, bounds)
def test_a_duration_passes_exactly_when_it_is_within_its_bounds(gap, at_least, at_most):
    resource = {"workers": [{"updated_at": iso(START)}, {"created_at": iso(START + timedelta(seconds=gap))}]}
    spec = {"from": "workers.0.updated_at", "to": "workers.1.created_at"}
    if at_least is not None:
        spec["at_least"] = at_least
    if at_most is not None:
        spec["at_most"] = at_most
    inside = (at_least is None or gap >= at_least) and (at_most is None or gap <= at_most)
    problem = _durations([spec], resource)
    assert (problem is None) == inside
    if problem is not None:
        assert problem[0] == "workers.0.updated_at -> workers.1.created_at (seconds)"
        assert problem[2] == round(gap, 3)


def test_a_missing_or_malformed_time_is_a_clear_mismatch():
    problem = _durations([{"from": "created_at", "to": "updated_at", "at_least": 1}],
                         {"created_at": "yesterday", "updated_at": iso(START)})
    assert problem is not None and problem[2].startswith("<no time:")
    problem = _durations([{"from": "created_at", "to": "nowhere", "at_least": 1}], {"created_at": iso(START)})
    assert problem is not None and "no time" in problem[2]
