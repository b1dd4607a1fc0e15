"""Step Functions timers on the process's clock (server/clock.py), for the harness's executions only.

moto's interpreter (vendored LocalStack) waits with `time.sleep`, `Event.wait` and
`Thread.join` and stamps events with `datetime.now`. For an execution that the harness's
server started (its environment carries our event manager) each of these reads the clock
instead: Wait (Seconds, Timestamp and their *Path forms), Retry intervals (BackoffRate,
MaxDelaySeconds and jitter are computed by moto, only the sleep moves), Task TimeoutSeconds and
HeartbeatSeconds (and *Path forms), the wait for an activity task to start, execution
TimeoutSeconds and history timestamps. Other executions (a user's `mock_aws`) keep moto's code.
"""

import datetime as _datetime
import logging
import threading
import time as _time
import types

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import inline_iteration_component
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import job as iteration_job
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branch_worker, branches_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp as wait_timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    ActivityCallbackEndpoint,
    ActivityTaskStartEndpoint,
    CallbackEndpoint,
    CallbackPoolManager,
    HeartbeatEndpoint,
)
from moto.stepfunctions.parser.backend import execution_worker

from server import clock

from . import sfn_activities
from .unread import Unread

_flag = threading.local()


def ours(env) -> bool:
    """True for an environment of an execution that the harness's server started."""
    return isinstance(getattr(env, "event_manager", None), sfn_activities._HistoryQuota)


def _virtual() -> bool:
    return getattr(_flag, "on", False)


def _in_clock(method):
    """Wrap `method(self, env, ...)` so that, for our executions, the module proxies below read the clock."""
    def wrapper(self, env, *args, **kwargs):
        if not ours(env):
            return method(self, env, *args, **kwargs)
        before, _flag.on = _virtual(), True
        try:
            return method(self, env, *args, **kwargs)
        finally:
            _flag.on = before
    wrapper.stock = method
    return wrapper


class _ClockEvent(threading.Event):
    def wait(self, timeout=None):
        return clock.wait(self, timeout)


class _WakingThread(threading.Thread):
    """A thread of the interpreter: happening (skip mode) from its start until it waits on the clock or ends."""

    def start(self):
        clock.CLOCK.wake(self)
        super().start()


def _event():
    return _ClockEvent() if _virtual() else threading.Event()


class _VirtualDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        if not _virtual():
            return super().now(tz)
        now = clock.utcnow()
        # moto compares a naive UTC timestamp with a naive now: keep that shape.
        return now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)


def _proxy(module, **overrides):
    """A stand-in for `module` in one of moto's modules: `overrides`, and the rest from the module."""
    proxy = types.ModuleType(module.__name__)
    proxy.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    proxy.__dict__.update(overrides)
    return proxy


def _sleep(seconds):
    (clock.sleep if _virtual() else _time.sleep)(seconds)


# -- Wait --
_stock_wait_interval = WaitFunction._wait_interval


def _wait_interval(self, env, wait_seconds):
    if not ours(env):
        return _stock_wait_interval(self, env, wait_seconds)
    until = clock.now() + wait_seconds
    while env.is_running() and until - clock.now() > 0:
        clock.wait(env.program_state_event, until - clock.now())


# -- execution TimeoutSeconds --
_stock_program_eval = Program.eval


def _program_eval(self, env):
    if not ours(env):
        return _stock_program_eval(self, env)
    timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
    env.next_state_name = self.start_at.start_at_name
    if timeout is None:  # nothing to time out: evaluated in this thread, not one more per execution
        try:
            EvalComponent.eval(self, env)
        except Exception:  # noqa: BLE001 - as moto's own thread would: reported, the execution worker goes on
            logging.getLogger(__name__).exception("an execution's program raised")
        return
    done = threading.Event()

    def run():
        try:
            EvalComponent.eval(self, env)
        finally:
            done.set()

    _WakingThread(target=run, daemon=True).start()
    if not clock.wait(done, timeout):
        env.set_timed_out()


# -- callbacks: activity start, heartbeats, outcomes --
class _ClockHeartbeatEndpoint(HeartbeatEndpoint):
    def clear_and_wait(self) -> bool:
        with self._mutex:
            if self._next_heartbeat_event.is_set():
                self._next_heartbeat_event.clear()
                return True
        return clock.wait(self._next_heartbeat_event, self._heartbeat_seconds)


class _ClockTaskStartEndpoint(ActivityTaskStartEndpoint):
    def wait(self, timeout_seconds):
        clock.wait(self._next_activity_task_start_event, timeout_seconds)
        return getattr(self, "_outcome", None)


class _ClockEndpoint(CallbackEndpoint):
    def setup_heartbeat_endpoint(self, heartbeat_seconds):
        endpoint = super().setup_heartbeat_endpoint(heartbeat_seconds)
        endpoint.__class__ = _ClockHeartbeatEndpoint
        return endpoint

    def wait(self, timeout=None):
        clock.wait(self._notify_event, timeout)
        return self._outcome


class _ClockActivityEndpoint(ActivityCallbackEndpoint, _ClockEndpoint):
    pass


class _ClockPoolManager(CallbackPoolManager):
    def add(self, callback_id):
        endpoint = super().add(callback_id)
        endpoint.__class__ = _ClockEndpoint
        return endpoint

    def add_activity_task(self, callback_id, activity_arn, activity_input):
        endpoint = super().add_activity_task(callback_id, activity_arn, activity_input)
        endpoint.__class__ = _ClockActivityEndpoint
        endpoint.get_activity_task_start_endpoint().__class__ = _ClockTaskStartEndpoint
        return endpoint


_stock_environment = sfn_activities._Worker._get_evaluation_environment


def _evaluation_environment(self):
    env = _stock_environment(self)
    env.callback_pool_manager.__class__ = _ClockPoolManager
    return env


# -- an execution that ended is news until someone reads it --
#: How long an ended execution that nobody describes holds skip mode still (wall seconds).
UNREAD_END_SECONDS = 2.0
#: The idle check: True when every execution that ended has been described since (or ended a while ago).
no_end_unread = Unread(UNREAD_END_SECONDS, "an ended execution is not read yet")
_stock_ended = sfn_activities.ActivityBackend._ended
_stock_describe = sfn_activities.ActivityBackend.describe_execution


def _ended(self, execution):
    no_end_unread.ended(execution.exec_arn)
    return _stock_ended(self, execution)


def _describe_execution(self, execution_arn, *args, **kwargs):
    result = _stock_describe(self, execution_arn, *args, **kwargs)
    if getattr(result, "exec_status", None) != "RUNNING":
        no_end_unread.read((execution_arn,))
    return result


_installed = False


def install() -> None:
    """Put the harness's executions on the clock (idempotent)."""
    global _installed
    if _installed:
        return
    WaitFunction._wait_interval = _wait_interval
    wait_timestamp.Timestamp._get_wait_seconds = _in_clock(wait_timestamp.Timestamp._get_wait_seconds)
    wait_timestamp.datetime = _proxy(_datetime, datetime=_VirtualDatetime)
    retrier_decl.RetrierDecl._eval_body = _in_clock(retrier_decl.RetrierDecl._eval_body)
    retrier_decl.time = _proxy(_time, sleep=_sleep)
    execute_state.ExecutionState._evaluate_with_timeout = _in_clock(
        execute_state.ExecutionState._evaluate_with_timeout)
    execute_state.threading = _proxy(threading, Event=_event)
    # Threads the interpreter starts are awake until they wait on the clock; the waits of a
    # Parallel or Map state for its branches go through the clock (the waiting thread parks).
    execute_state.Thread = execution_worker.Thread = _WakingThread
    branch_worker.threading = inline_iteration_component.threading = _proxy(threading, Thread=_WakingThread)
    branches_decl.threading = iteration_job.threading = _proxy(threading, Event=_ClockEvent)
    Program.eval = _program_eval
    sfn_activities._Worker._get_evaluation_environment = _evaluation_environment
    sfn_activities.ActivityBackend._ended = _ended
    sfn_activities.ActivityBackend.describe_execution = _describe_execution
    clock.CLOCK.add_idle_check(no_end_unread, until_sweep=True)  # the service's sweep reads it
    _installed = True
