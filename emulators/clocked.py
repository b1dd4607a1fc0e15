"""The embedded emulators on the process's clock (server/clock.py): Step Functions, SQS, and idle checks.

Skip mode jumps only when nothing is happening; the emulators tell it what "happening" means
for them: an activity task that waits to be taken, a message visible in a queue. SQS
visibility timeouts and delays read the clock for the harness's requests (scope.py).
"""

from moto.core import utils as core_utils
from moto.sqs import models as sqs_models

from server import clock

from . import scope, sfn_activities, sfn_clock

_installed = False


def _unix_time(dt=None) -> float:
    return clock.now() if dt is None and scope.active() else core_utils.unix_time(dt)


def _unix_time_millis(dt=None) -> float:
    return clock.now() * 1000.0 if dt is None and scope.active() else core_utils.unix_time_millis(dt)


def no_message_visible() -> bool:
    """True when no queue of the process holds a message that a receive would get now."""
    now_ms = clock.now() * 1000.0
    for account in list(sqs_models.sqs_backends.keys()):
        for region in list(sqs_models.sqs_backends[account].keys()):
            for queue in list(sqs_models.sqs_backends[account][region].queues.values()):
                for message in list(queue._messages):
                    if now_ms > message.visible_at and now_ms >= message.delayed_until:
                        return False
    return True


def install() -> None:
    """Put the harness's emulators on the clock (idempotent)."""
    global _installed
    if _installed:
        return
    sfn_clock.install()
    sqs_models.unix_time = _unix_time
    sqs_models.unix_time_millis = _unix_time_millis
    clock.CLOCK.add_idle_check(sfn_activities.no_task_waiting)
    clock.CLOCK.add_idle_check(no_message_visible)
    _installed = True
