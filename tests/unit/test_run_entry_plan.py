"""A run's entry in its job, planned from the entry as a failed write finds it (job_updates.plan_run).

The writes of one run's entry (the poller's after SubmitJob, the start's, the finish's or a failure's)
each carry the run as its writer holds it, and may arrive in any order, twice, or from two processes.
Whatever the order, the entry never moves back and ends as the run's latest state. Here each plan is
applied as DynamoDB applies it when its condition holds: a whole entry replaces nothing, fields are set.
tests/test_runs.py applies the same writes to the emulated DynamoDB through `write_run`.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.job_updates import RANK, JobEnded, plan_run

BASE = {"worker": "w1", "job": "urn:jobservice:job:j1", "definition": "urn:jobservice:worker:x",
        "created_at": "2026-01-01T00:00:00.000Z"}


@st.composite
def histories(draw):
    """A run's states as its writers saw them, in the order the run went through them, and the Batch
    job id recorded at some point (a fast worker may start, or finish, before it is)."""
    end = draw(st.sampled_from(["SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED"]))
    path = {"SUBMITTED": ["SUBMITTED"], "RUNNING": ["SUBMITTED", "RUNNING"],
            "SUCCEEDED": ["SUBMITTED", "RUNNING", "SUCCEEDED"], "FAILED": ["SUBMITTED", "RUNNING", "FAILED"]}[end]
    recorded_at = draw(st.integers(0, len(path) - 1))  # from this state on, the run item has the Batch job id
    states = []
    for i, status in enumerate(path):
        info = {**BASE, "status": status}
        if i >= recorded_at:
            info["batch_job_id"] = "b1"
        if status == "SUCCEEDED":
            info["output"] = "7"
        if status == "FAILED":
            info["error"] = '{"error": "E"}'
        states.append(info)
    return states


def apply(entry, plan):
    kind, fields = plan
    if kind == "whole":
        assert entry is None  # its condition: no entry
        return dict(fields)
    return {**entry, **fields}


@given(histories().flatmap(lambda states: st.tuples(
    st.just(states), st.lists(st.sampled_from(range(len(states))), min_size=len(states)).flatmap(st.permutations))))
def test_the_entry_ends_as_the_run_whatever_order_and_repeats_its_writes_arrive_in(case):
    states, order = case
    for index in range(len(states)):  # every state's writer writes at least once (its own transition)
        if index not in order:
            order = [*order, index]
    entry, ranks = None, []
    for index in order:
        plan = plan_run(entry, states[index], "RUNNING")
        if plan is not None:
            entry = apply(entry, plan)
        ranks.append(RANK[entry["status"]])
        assert plan_run(entry, states[index], "RUNNING") is None  # the same write again: nothing to write
    assert ranks == sorted(ranks)  # never back
    last = states[-1]
    assert entry["status"] == last["status"]
    assert entry.get("batch_job_id") == "b1"
    assert {k: entry.get(k) for k in ("output", "error")} == {k: last.get(k) for k in ("output", "error")}
    assert {k: entry[k] for k in BASE if k != "job"} == {k: BASE[k] for k in BASE if k != "job"}


@pytest.mark.parametrize("status", ["SUBMITTED", "RUNNING"])
@pytest.mark.parametrize("job_status", ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"])
def test_an_unfinished_run_does_not_join_a_job_that_has_ended(status, job_status):
    with pytest.raises(JobEnded):
        plan_run(None, {**BASE, "status": status}, job_status)


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_an_ended_run_joins_a_job_that_has_ended_as_it_ended(status):
    kind, entry = plan_run(None, {**BASE, "status": status}, "CANCELLED")
    assert kind == "whole" and entry == {"worker": "w1", "definition": BASE["definition"], "status": status,
                                         "created_at": BASE["created_at"]}


@pytest.mark.parametrize("job_status", [None, "RUNNING"])
def test_an_unfinished_run_joins_a_running_job_or_one_not_stored_yet(job_status):
    kind, entry = plan_run(None, {**BASE, "status": "SUBMITTED", "batch_job_id": "b1"}, job_status)
    assert kind == "whole" and entry["status"] == "SUBMITTED" and entry["batch_job_id"] == "b1"
