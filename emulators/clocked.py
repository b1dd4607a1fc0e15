"""The embedded emulators on the process's clock (server/clock.py): Step Functions, SQS, fakeredis TTLs, idle checks.

Skip mode jumps only when nothing is happening; the emulators tell it what "happening" means
for them: an activity task that waits to be taken, a message visible in a queue. SQS
visibility timeouts and delays read the clock for the harness's requests (scope.py).
"""

import sys
import time as _time

from fakeredis._socket import _base as fakeredis_socket
from moto.core import utils as core_utils
from moto.sqs import models as sqs_models

from server import clock

from . import scope, sfn_activities, sfn_clock

_installed = False


def _unix_time(dt=None) -> float:
    return clock.now() if dt is None and scope.active() else core_utils.unix_time(dt)


def _unix_time_millis(dt=None) -> float:
    return clock.now() * 1000.0 if dt is None and scope.active() else core_utils.unix_time_millis(dt)


class _FakeRedisTime:
    """`time` as fakeredis's command loop sees it: the clock for a server of ours (`on_clock`), else the wall."""

    def __getattr__(self, name):
        return getattr(_time, name)

    @staticmethod
    def time() -> float:
        caller = sys._getframe(1).f_locals.get("self")
        if getattr(getattr(caller, "_server", None), "jobservice_clock", False):
            return clock.now()
        return _time.time()


def on_clock(fake_server):
    """Put a fakeredis FakeServer's TTLs on the clock; return it."""
    fake_server.jobservice_clock = True
    return fake_server


# -- SQS: a message that becomes visible again (or is no longer delayed) is a deadline --
_stock_mark_received = sqs_models.Message.mark_received
_stock_change_visibility = sqs_models.Message.change_visibility
_stock_delay = sqs_models.Message.delay
_stock_delete_message = sqs_models.Queue.delete_message


def _forget(message) -> None:
    remove = message.__dict__.pop("jobservice_deadline", None)
    if remove is not None:
        remove()


def _track(message) -> None:
    """Skip mode may jump to when the message can be received (its handler died: redelivery)."""
    _forget(message)
    if scope.active() and clock.CLOCK.mode == "skip":
        at = max(message.visible_at or 0, message.delayed_until or 0) / 1000.0
        message.jobservice_deadline = clock.CLOCK.deadline(at)


def _mark_received(self, visibility_timeout=None) -> None:
    if scope.active():
        clock.CLOCK.wake()  # the receiver has work before the message stops being visible (skip mode)
    _stock_mark_received(self, visibility_timeout)


def _change_visibility(self, visibility_timeout) -> None:
    _stock_change_visibility(self, visibility_timeout)
    _track(self)


def _delay(self, delay_seconds) -> None:
    _stock_delay(self, delay_seconds)
    _track(self)


def _delete_message(self, receipt_handle) -> None:
    deleted = [m for m in self._messages if m.had_receipt_handle(receipt_handle)]
    _stock_delete_message(self, receipt_handle)
    for message in deleted:
        _forget(message)


def _dropping_messages(drop):
    """Wrap SQSBackend.delete_queue or purge_queue: the messages they drop are no deadlines any more."""

    def dropping(self, queue_name, *args, **kwargs):
        queue = self.queues.get(queue_name)
        messages = list(queue._messages) if queue is not None else []
        drop(self, queue_name, *args, **kwargs)
        for message in messages:
            _forget(message)

    dropping.jobservice_stock = drop
    return dropping


#: Wall seconds after its last receive that a queue counts as consumed (a long poll lasts up to 20 s).
CONSUMED_SECONDS = 30.0


def _stamp(backend, queue_name) -> None:
    queue = backend.queues.get(queue_name)
    if queue is not None:
        queue.jobservice_polled = _time.monotonic()


def _receiving(receive):
    """Wrap SQSBackend.receive_message: a queue someone receives from is consumed (stamped)."""

    def receive_message(self, queue_name, *args, **kwargs):
        _stamp(self, queue_name)
        try:
            return receive(self, queue_name, *args, **kwargs)
        finally:
            _stamp(self, queue_name)

    receive_message.jobservice_stock = receive
    return receive_message


def queues_with_work() -> list[str]:
    """The consumed queues of the process that hold a message a receive would get now.

    A queue nobody has received from for `CONSUMED_SECONDS` (a stopped service's, a stepped
    test's) is not something happening: its messages wait for nobody.
    """
    now_ms = clock.now() * 1000.0
    recent = _time.monotonic() - CONSUMED_SECONDS
    found = []
    for account in list(sqs_models.sqs_backends.keys()):
        for region in list(sqs_models.sqs_backends[account].keys()):
            for name, queue in list(sqs_models.sqs_backends[account][region].queues.items()):
                if getattr(queue, "jobservice_polled", float("-inf")) < recent:
                    continue
                if any(now_ms > m.visible_at and now_ms >= m.delayed_until for m in list(queue._messages)):
                    found.append(name)
    return found


def no_message_visible() -> bool:
    """True when no consumed queue of the process holds a message that a receive would get now."""
    return not queues_with_work()


no_message_visible.waiting = 'a message is visible in a queue'  # what `Clock.holders()` says while it is not idle


def install() -> None:
    """Put the harness's emulators on the clock (idempotent)."""
    global _installed
    if _installed:
        return
    sfn_clock.install()
    sqs_models.unix_time = _unix_time
    sqs_models.unix_time_millis = _unix_time_millis
    sqs_models.Message.mark_received = _mark_received
    sqs_models.Message.change_visibility = _change_visibility
    sqs_models.Message.delay = _delay
    sqs_models.Queue.delete_message = _delete_message
    sqs_models.SQSBackend.delete_queue = _dropping_messages(sqs_models.SQSBackend.delete_queue)
    sqs_models.SQSBackend.purge_queue = _dropping_messages(sqs_models.SQSBackend.purge_queue)
    sqs_models.SQSBackend.receive_message = _receiving(sqs_models.SQSBackend.receive_message)
    fakeredis_socket.time = _FakeRedisTime()
    clock.CLOCK.add_idle_check(sfn_activities.no_task_waiting)
    clock.CLOCK.add_idle_check(no_message_visible)
    _installed = True
