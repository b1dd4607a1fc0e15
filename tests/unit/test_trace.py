"""harness/trace.py: the events of a run, and a wait for the next one (the conformance check's)."""

import threading

from harness.trace import Trace
from server import observe


def test_a_wait_ends_at_the_next_event_or_at_its_deadline():
    with Trace() as trace:
        assert trace.wait_beyond(0, 0.05) is False  # nothing recorded: the deadline ends it
        timer = threading.Timer(0.05, observe.record, args=("Queue", "AWS Queue", "DeleteMessage"))
        timer.start()
        assert trace.wait_beyond(0, 30) is True  # woken by the event, long before the deadline
        timer.join()
        assert [(e.source, e.target, e.label) for e in trace.snapshot()] == [("Queue", "AWS Queue", "DeleteMessage")]
        assert trace.wait_beyond(0, 30) is True  # already more than 0: at once
        assert trace.wait_beyond(1, 0) is False
    observe.record("Queue", "AWS Queue", "DeleteMessage")  # after stop(): not recorded
    assert len(trace.events) == 1
