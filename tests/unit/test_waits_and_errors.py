"""Pure logic of long polls (the `wait` parameter, what counts as a change) and of the bounded error log."""

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.dynamodb_connection import Changes
from server.errors import BadRequest
from server.service import ErrorLog
from server.waits import (MAX_WAIT_SECONDS, REQUEST_STATUSES, job_state, job_watch, read, request_state,
                          request_watch, wait_seconds)
from server.resources import JOB_STATUSES


@given(st.floats(min_value=0, max_value=MAX_WAIT_SECONDS))
def test_a_wait_from_0_to_20_seconds_is_taken(seconds):
    assert wait_seconds({"wait": repr(seconds)}) == seconds


@given(st.one_of(st.floats().filter(lambda f: not 0 <= f <= MAX_WAIT_SECONDS).map(repr),
                 st.text().filter(lambda t: not _number_in_range(t))))
def test_any_other_wait_is_a_400_naming_the_parameter(raw):
    with pytest.raises(BadRequest) as raised:
        wait_seconds({"wait": raw})
    assert "'wait'" in raised.value.message


def _number_in_range(text: str) -> bool:
    try:
        return 0 <= float(text) <= MAX_WAIT_SECONDS
    except ValueError:
        return False


def test_no_wait_means_no_waiting():
    assert wait_seconds({}) == 0


JOB = {"urn": "urn:jobservice:job:1", "status": "RUNNING", "result_count": 1, "updated_at": "a",
       "run_w1": {"worker": "w1", "status": "SUBMITTED", "updated_at": "a"}}


@pytest.mark.parametrize("change", [
    {"status": "COMPLETED"}, {"result_count": 2},
    {"run_w1": {"worker": "w1", "status": "RUNNING", "updated_at": "a"}},
    {"run_w1": {"worker": "w1", "status": "SUBMITTED", "batch_job_id": "b", "updated_at": "a"}},
    {"run_w2": {"worker": "w2", "status": "SUBMITTED", "updated_at": "b"}},
])
def test_a_change_of_status_workers_or_results_ends_a_jobs_wait(change):
    assert job_state({**JOB, **change}) != job_state(JOB)


def test_a_write_that_changes_none_of_them_does_not():
    assert job_state({**JOB, "updated_at": "b"}) == job_state(JOB)


def test_a_request_changes_when_its_status_or_job_does():
    pending = {"urn": "urn:jobservice:request:1", "status": "PENDING", "job": None}
    assert request_state({**pending, "status": "FULFILLED", "job": "j"}) != request_state(pending)


class OneItem:
    """A table of one item whose writes notify `changes`, as DynamoDBConnection's do."""

    def __init__(self, item):
        self.item, self.changes, self.reads = dict(item), Changes(), 0

    def get(self, urn):
        self.reads += 1
        return dict(self.item)

    def write(self, **fields):
        self.item.update(fields)
        self.changes.notify(self.item["urn"])


def test_a_waiter_answers_with_the_written_change():
    db = OneItem(JOB)
    written = threading.Timer(0.05, db.write, kwargs={"result_count": 2})
    written.start()
    assert read(db, JOB["urn"], 20, job_state)["result_count"] == 2
    written.cancel()


def test_a_waiter_answers_at_its_deadline_with_the_item_as_it_is():
    db = OneItem(JOB)
    assert read(db, JOB["urn"], 0.1, job_state) == JOB


def test_an_ended_job_is_answered_without_waiting():
    db = OneItem({**JOB, "status": "FAILED"})
    read(db, JOB["urn"], 20, job_state)
    assert db.reads == 1


def test_changes_hold_nothing_once_nobody_waits():
    changes = Changes()
    with changes.watch("a", "b") as event:
        changes.notify("b")
        assert event.is_set()
    assert changes._waiting == {}


def _raised(i):
    try:
        raise RuntimeError(f"error {i}")
    except RuntimeError as exc:
        return exc


def test_the_error_log_keeps_the_latest_few_and_counts_all():
    log = ErrorLog(size=3)
    for i in range(10):
        log.append(_raised(i))
    assert len(log) == 10
    assert [str(e) for e in log[0:]] == ["error 7", "error 8", "error 9"]
    assert [str(e) for e in log[8:]] == ["error 8", "error 9"]
    assert log[10:] == []


def test_draining_the_error_log_empties_it_and_keeps_counting():
    log = ErrorLog(size=3)
    log.append(_raised(1))
    before = len(log)
    assert [str(e) for e in log.drain()] == ["error 1"]
    assert list(log) == [] and len(log) == before
    log.append(_raised(2))
    assert [str(e) for e in log[before:]] == ["error 2"]


class FedItem(OneItem):
    """As OneItem, but each write hands its new item to the waiters, as DynamoDBConnection.update does."""

    def write(self, **fields):
        self.item.update(fields)
        self.changes.notify(self.item["urn"], dict(self.item))


def test_a_waiter_takes_the_written_item_and_reads_nothing_more_for_writes_it_does_not_watch():
    db = FedItem(JOB)
    first_read = threading.Event()
    get = db.get
    db.get = lambda urn: (get(urn), first_read.set())[0]

    def writer():
        first_read.wait(10)
        for beat in range(5):
            db.write(heartbeat=beat)  # not in job_state
        db.write(result_count=3)

    threading.Thread(target=writer, daemon=True).start()
    answer = read(db, JOB["urn"], 20, job_state, recheck=60)
    assert answer["result_count"] == 3 and answer["heartbeat"] == 4
    assert db.reads == 1  # the first read only: every write handed over its item


def test_a_waiter_answers_at_its_deadline_with_what_unwatched_writes_stored():
    db = FedItem(JOB)
    threading.Timer(0.02, db.write, kwargs={"heartbeat": 7}).start()
    answer = read(db, JOB["urn"], 0.3, job_state, recheck=60)
    assert answer["heartbeat"] == 7 and db.reads == 2


def test_a_write_of_unknown_content_makes_the_waiter_read():
    db = OneItem(JOB)  # notify without the item, as a put or a transaction does
    threading.Timer(0.02, db.write, kwargs={"heartbeat": 1}).start()
    read(db, JOB["urn"], 0.3, job_state, recheck=60)
    assert db.reads >= 2


def test_without_until_a_long_poll_watches_status_workers_and_results():
    assert job_watch({})[0] is job_state and request_watch({})[0] is request_state


@pytest.mark.parametrize("names, job_cares, until_cares", [
    ({"status", "updated_at"}, True, True), ({"result_count"}, True, False), ({"run_w1", "updated_at"}, True, False),
    ({"updated_at"}, False, False), ({"heartbeat", "active"}, False, False),
])
def test_a_waiter_says_which_writes_may_change_what_it_watches(names, job_cares, until_cares):
    assert job_watch({})[1](names) is job_cares
    assert job_watch({"until": "COMPLETED"})[1](names) is until_cares


def test_a_write_of_attributes_nobody_watches_wakes_no_waiter_and_asks_for_no_item():
    changes = Changes()
    state, cares = job_watch({"until": "COMPLETED"})
    with changes.watch(JOB["urn"], cares=cares) as status_only, changes.watch("other") as everything:
        assert not changes.watched(JOB["urn"], {"run_w1", "updated_at"})
        changes.notify(JOB["urn"], dict(JOB), {"run_w1", "updated_at"})
        assert not status_only.is_set() and status_only.take() == []
        assert changes.watched(JOB["urn"], {"status"}) and changes.watched(JOB["urn"])  # unknown: every waiter
        changes.notify(JOB["urn"], dict(JOB), {"status"})
        assert status_only.is_set()
        assert changes.watched("other", {"updated_at"})  # watching without `cares`: every write
        changes.notify("other", None, {"updated_at"})
        assert everything.is_set()


def test_until_answers_at_the_named_status_not_at_the_changes_before_it():
    db = OneItem(JOB)  # each write makes the waiter read: the writer goes on only once it has seen the last
    reads = [threading.Event() for _ in range(4)]
    get = db.get
    db.get = lambda urn: (get(urn), reads[db.reads - 1].set())[0]

    def writer():
        for n, fields in enumerate(({"result_count": 2}, {"run_w1": {"worker": "w1", "status": "SUCCEEDED"}},
                                    {"status": "COMPLETED"})):
            if not reads[n].wait(10):
                return  # the waiter answered already: its assertion fails
            db.write(**fields)

    threading.Thread(target=writer, daemon=True).start()
    state, cares = job_watch({"until": "COMPLETED"})
    answer = read(db, JOB["urn"], 20, state, recheck=60, cares=cares)
    assert answer["status"] == "COMPLETED" and answer["result_count"] == 2


def test_until_answers_at_once_when_the_status_is_there_or_has_ended_otherwise():
    for status, until in (("RUNNING", "RUNNING"), ("FAILED", "COMPLETED"), ("CANCELLED", "RUNNING,COMPLETED")):
        db = OneItem({**JOB, "status": status})
        assert read(db, JOB["urn"], 20, job_watch({"until": until})[0])["status"] == status
        assert db.reads == 1


def test_until_of_a_request_answers_when_it_is_fulfilled():
    pending = {"urn": "urn:jobservice:request:1", "status": "PENDING", "job": None}
    db = FedItem(pending)
    threading.Timer(0.02, db.write, kwargs={"status": "FULFILLED", "job": "j"}).start()
    state, cares = request_watch({"until": "FULFILLED"})
    assert read(db, pending["urn"], 20, state, recheck=60, cares=cares)["job"] == "j"


@given(st.lists(st.sampled_from(JOB_STATUSES), min_size=1).map(",".join))
def test_any_list_of_job_statuses_is_a_valid_until(raw):
    watch = job_watch({"until": raw})[0]
    assert watch({"status": raw.split(",")[0]}) == (True,)
    assert watch({"status": "RUNNING"}) == (("RUNNING" in raw.split(",")),)


@given(st.text().filter(lambda t: not all(part.strip() in JOB_STATUSES for part in t.split(","))))
def test_any_other_until_is_a_400_naming_the_parameter(raw):
    with pytest.raises(BadRequest) as raised:
        job_watch({"until": raw})
    assert "'until'" in raised.value.message


def test_a_request_until_names_request_statuses():
    with pytest.raises(BadRequest):
        request_watch({"until": "COMPLETED"})
    assert request_watch({"until": ",".join(REQUEST_STATUSES)})[0]({"status": "PENDING"}) == (True,)


def test_an_item_the_caller_has_not_seen_as_it_is_is_answered_at_once():
    db = FedItem(JOB)
    answered = threading.Event()

    def late_writer():  # what a waiter that did not answer at once would answer with
        if not answered.wait(10):
            db.write(result_count=99)

    threading.Thread(target=late_writer, daemon=True).start()
    item = read(db, JOB["urn"], 20, job_state, recheck=60, seen=lambda item: False)
    answered.set()
    assert item["result_count"] == 1 and db.reads == 1


def test_an_item_the_caller_has_seen_is_waited_on_for_a_change():
    db = FedItem(JOB)
    threading.Timer(0.05, db.write, kwargs={"result_count": 2}).start()
    assert read(db, JOB["urn"], 20, job_state, recheck=60, seen=lambda item: True)["result_count"] == 2


def test_a_tag_names_what_a_waiter_watches():
    from server.waits import tag

    assert tag(job_state(JOB)) == tag(job_state({**JOB, "updated_at": "later"}))
    assert tag(job_state(JOB)) != tag(job_state({**JOB, "result_count": 2}))
