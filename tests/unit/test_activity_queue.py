"""An activity's task queue and the check that a poll's client is still there (no server, no moto execution)."""

import socket
import threading

from emulators import scope
from emulators.sfn_activities import WaitableActivity
from moto.stepfunctions.parser.backend.activity import ActivityTask

ARN = "arn:aws:states:us-east-1:123456789012:activity:unit"


def task(n: int) -> ActivityTask:
    return ActivityTask(task_token=f"token-{n}", task_input="{}")


def test_a_poller_whose_client_has_gone_takes_nothing_and_the_next_poller_gets_the_task():
    queue = WaitableActivity(arn=ARN, name="unit")
    queue.add_task(task(1))
    assert queue.take(0.0, connected=lambda: False) is None
    assert queue.take(0.0).task_token == "token-1"


def test_a_task_given_back_is_first_in_line():
    queue = WaitableActivity(arn=ARN, name="unit")
    queue.add_task(task(1))
    queue.add_task(task(2))
    first = queue.take(0.0)
    queue.give_back(first)
    assert [queue.take(0.0).task_token for _ in range(2)] == ["token-1", "token-2"]


def test_a_task_that_wakes_a_gone_poller_reaches_a_live_one():
    queue = WaitableActivity(arn=ARN, name="unit")
    gone = threading.Event()
    results = {}
    dead = threading.Thread(target=lambda: results.update(dead=queue.take(30.0, connected=lambda: not gone.is_set())))
    dead.start()
    gone.set()
    live = threading.Thread(target=lambda: results.update(live=queue.take(30.0)))
    live.start()
    queue.add_task(task(1))
    dead.join(30)
    live.join(30)
    assert results["dead"] is None and results["live"].task_token == "token-1"


def test_client_connected_sees_a_closed_peer():
    ours, theirs = socket.socketpair()
    try:
        scope._local.environ = {"werkzeug.socket": ours}
        assert scope.client_connected()
        theirs.close()
        assert not scope.client_connected()
    finally:
        scope._local.environ = None
        ours.close()


def test_outside_a_request_of_ours_nothing_is_scoped():
    assert not scope.active() and scope.client_connected()
    seen = []
    app = scope.scoped(lambda environ, start_response: seen.append(scope.active()) or [])
    app({}, None)
    assert seen == [True] and not scope.active()
