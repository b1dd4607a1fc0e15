"""Complete moto's Step Functions activities.

moto 5.2 executes ASL (its vendored LocalStack interpreter) but hands every
execution an empty activity store and routes no GetActivityTask. This module
adds what AWS does: one activity store shared by all executions, a
GetActivityTask long poll that returns as soon as a task exists, task tokens
indexed for SendTask* in O(1), CreateActivity idempotent, and SendTaskFailure
keeping its cause, executions named, stopped and bounded as on AWS.

Every change applies to requests that the harness's own server answers
(emulators.scope); a `mock_aws` of the same process keeps stock moto's Step Functions.
"""

import copy
import datetime
import json
import threading
import time

from moto.core.common_models import BackendDict
from moto.core.responses import ActionResult, EmptyResult
from moto.moto_api._internal import mock_random
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions import responses as sfn_responses
from moto.core.exceptions import AWSError
from moto.stepfunctions.exceptions import (
    ActivityDoesNotExist,
    InvalidExecutionInput,
    InvalidToken,
    ValidationException,
)
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.api import (
    ExecutionFailedEventDetails,
    ExecutionStatus,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    ActivityCallbackEndpoint,
    CallbackNotifyConsumerError,
    CallbackOutcomeFailure,
    CallbackOutcomeSuccess,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.backend.activity import Activity, ActivityTask
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS

from server import clock

from . import scope

#: Longest a GetActivityTask call waits for a task, as on AWS.
POLL_SECONDS = 60.0
# A task is queued a moment before its callback endpoint is registered.
_ENDPOINT_GRACE_SECONDS = 2.0
# How often a waiting GetActivityTask looks whether its client is still connected.
_LIVENESS_SECONDS = 1.0
#: AWS's hard quota of events in one execution's history (Step Functions service quotas).
HISTORY_QUOTA = 25_000
HISTORY_QUOTA_CAUSE = f"The execution reached the maximum number of history events ({HISTORY_QUOTA})."
# Events that end an execution: the only ones recorded once it is over the quota or stopped.
_LAST_EVENTS = frozenset({HistoryEventType.ExecutionSucceeded, HistoryEventType.ExecutionFailed,
                          HistoryEventType.ExecutionAborted, HistoryEventType.ExecutionTimedOut})


class TaskTimedOut(AWSError):
    TYPE = "TaskTimedOut"
    STATUS = 400


class StateMachineAlreadyExists(AWSError):
    TYPE = "StateMachineAlreadyExists"
    STATUS = 400


class InvalidDefinition(AWSError):
    TYPE = "InvalidDefinition"
    STATUS = 400


class WaitableActivity(Activity):
    """An activity whose task queue wakes waiting pollers."""

    def __init__(self, arn, name, creation_date=None):
        super().__init__(arn=arn, name=name, creation_date=creation_date)
        self._ready = threading.Condition()
        self._generation = 0

    def add_task(self, task: ActivityTask) -> None:
        with self._ready:
            self._tasks.append(task)
            self._ready.notify()

    def take(self, timeout: float, connected=lambda: True) -> ActivityTask | None:
        """Pop the next task, waiting up to `timeout` seconds for one.

        A poller whose client has gone (`connected()` false) takes nothing: the task it
        would have had stays first in line for the next poller, as on AWS.
        """
        deadline = time.monotonic() + timeout
        with self._ready:
            generation = self._generation
            while generation == self._generation:
                if not connected():
                    self._ready.notify()  # a task this poller was woken for goes to another
                    return None
                if self._tasks:
                    return self._hand_over()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                # Wake now and then to notice a client that has gone while nothing happens.
                self._ready.wait(min(left, _LIVENESS_SECONDS))
            return self._hand_over() if self._tasks and connected() else None

    def _hand_over(self) -> ActivityTask:
        """Pop the next task (under the lock); the poller is awake (skip mode) before the task leaves the queue."""
        clock.CLOCK.wake()
        return self._tasks.popleft()

    def give_back(self, task: ActivityTask) -> None:
        """Put a task taken for a client that has gone back first in line."""
        with self._ready:
            self._tasks.appendleft(task)
            self._ready.notify()

    def wake_all(self) -> None:
        """Make every poller waiting now return empty-handed (server shutdown)."""
        with self._ready:
            self._generation += 1
            self._ready.notify_all()


class _ExecutionActivities:
    """The activity store one execution sees: records which execution owns each token."""

    def __init__(self, backend: "ActivityBackend"):
        self._backend = backend
        self.execution: Execution | None = None

    def get(self, arn, default=None):
        activity = self._backend.activity_queues.get(arn)
        return default if activity is None else _OwnedActivity(activity, self)


class _OwnedActivity:
    def __init__(self, activity: WaitableActivity, owner: _ExecutionActivities):
        self._activity = activity
        self._owner = owner

    def add_task(self, task: ActivityTask) -> None:
        self._owner._backend.task_owners[task.task_token] = self._owner.execution
        self._activity.add_task(task)


class _HistoryQuota(EventManager):
    """An execution's history as AWS keeps it: at most HISTORY_QUOTA events, nothing after its end.

    When an execution holds HISTORY_QUOTA - 1 events, the next one must end it (its
    ExecutionSucceeded); any other fails the execution instead, and its ExecutionFailed is
    the last event. Once the execution is stopped, only its ExecutionAborted is recorded.
    """

    def __init__(self, env: Environment, cloud_watch_logging_session=None):
        super().__init__(cloud_watch_logging_session=cloud_watch_logging_session)
        self._env = env
        self._count = 0
        self._count_lock = threading.Lock()
        self.closed = False

    @staticmethod
    def _get_current_timestamp() -> datetime.datetime:
        return clock.utcnow()  # history timestamps in the clock's time

    def add_event(self, context, event_type, event_details=None, timestamp=None, update_source_event_id=True):
        over_quota = False
        with self._count_lock:
            last = event_type in _LAST_EVENTS
            if self.closed and not last:
                return self._count
            if self._count >= HISTORY_QUOTA - 1 and not last:
                self.closed = over_quota = True
            else:
                self._count += 1
        if over_quota:
            self._env.set_error(ExecutionFailedEventDetails(error="States.Runtime", cause=HISTORY_QUOTA_CAUSE))
            return self._count
        return super().add_event(context, event_type, event_details, timestamp, update_source_event_id)


class _StoppableEnvironment(Environment):
    """The root environment of an execution: a stop is final (no later error turns ABORTED into FAILED)."""

    def set_error(self, error) -> None:
        if not isinstance(self._program_state, ProgramStopped):
            super().set_error(error)


class _Worker(ExecutionWorker):
    # moto builds the worker and its environment itself: their classes are swapped after
    # construction rather than their constructors copied (tests/test_moto_pin.py pins both).
    def _get_evaluation_environment(self) -> Environment:
        env = super()._get_evaluation_environment()
        env.__class__ = _StoppableEnvironment
        env.event_manager = _HistoryQuota(env, self._cloud_watch_logging_session)
        return env


class _WorkerCommunication(BaseExecutionWorkerCommunication):
    def _reflect_execution_status(self) -> None:
        _reflect_execution_status(self)
        self.execution.ended()


class HarnessExecution(Execution):
    """An execution as on AWS: JSON output, history quota, StopExecution at once."""

    def __init__(self, *args, on_end=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_end = on_end

    def _get_start_execution_worker_comm(self) -> BaseExecutionWorkerCommunication:
        return _WorkerCommunication(self)

    def _get_start_execution_worker(self) -> ExecutionWorker:
        worker = super()._get_start_execution_worker()
        worker.__class__ = _Worker
        return worker

    def ended(self) -> None:
        if self._on_end is not None:
            self._on_end(self)

    def environment(self, wait: float = 0.0) -> Environment | None:
        """The interpreter's environment (None until its thread has made it)."""
        deadline = time.monotonic() + wait
        while True:
            env = getattr(self.exec_worker, "env", None)
            if env is not None or time.monotonic() >= deadline:
                return env
            time.sleep(0.001)

    def stop(self, stop_date, error, cause) -> None:
        """ABORTED at once; the tasks it waits on end now and their tokens are closed."""
        env = self.environment(wait=_ENDPOINT_GRACE_SECONDS)
        if env is None or self.exec_status != ExecutionStatus.RUNNING:
            return
        super().stop(stop_date=stop_date, error=error, cause=cause)
        if not isinstance(env.program_state(), ProgramStopped):
            return  # it ended on its own first
        env.event_manager.closed = True
        self.stop_date = stop_date
        self.exec_status = ExecutionStatus.ABORTED
        # Wake the interpreter's threads that wait for a worker, a heartbeat or an outcome.
        for endpoint in list(env.callback_pool_manager._pool.values()):
            if isinstance(endpoint, ActivityCallbackEndpoint):
                endpoint.get_activity_task_start_endpoint().notify(None)
            endpoint.interrupt_all()
        self.ended()


class ActivityBackend(parser_models.StepFunctionsParserBackend):
    """moto's executing Step Functions backend with working activities."""

    def __init__(self, region_name, account_id):
        super().__init__(region_name, account_id)
        self.activity_queues: dict[str, WaitableActivity] = {}
        self.task_owners: dict[str, Execution] = {}
        # Executions not ended yet, where a `.waitForTaskToken` token is looked for.
        self._open: dict[str, HarnessExecution] = {}
        self._open_lock = threading.Lock()

    @staticmethod
    def _validate_definition(definition: str):
        # The parser's own InvalidDefinition reaches the wire without its error code.
        try:
            parser_models.StepFunctionsParserBackend._validate_definition(definition=definition)
        except Exception as exc:  # noqa: BLE001 - every parser failure is an invalid definition
            raise InvalidDefinition(getattr(exc, "message", None) or str(exc)) from exc

    def create_state_machine(self, name, definition, *args, **kwargs):
        self._validate_definition(definition)
        existing = self._revision_by_name(name)
        # AWS answers the existing machine only when nothing differs; moto answers it always.
        if existing is not None and existing.definition != definition:
            raise StateMachineAlreadyExists(f"State Machine Already Exists: '{existing.arn}'")
        return super().create_state_machine(name, definition, *args, **kwargs)

    def update_state_machine(self, arn, definition=None, *args, **kwargs):
        if definition is not None:
            self._validate_definition(definition)
        return super().update_state_machine(arn, definition, *args, **kwargs)

    def create_activity(self, name, tags=None, encryption_configuration=None):
        arn = f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:activity:{name}"
        if arn in self.activities:  # AWS answers the existing ARN
            return self.activities[arn]
        activity = super().create_activity(
            name=name, tags=tags, encryption_configuration=encryption_configuration
        )
        self.activity_queues[arn] = WaitableActivity(arn=arn, name=name)
        return activity

    def delete_activity(self, activity_arn):
        super().delete_activity(activity_arn)
        queue = self.activity_queues.pop(activity_arn, None)
        if queue is not None:
            queue.wake_all()

    def wake_all(self) -> None:
        """Release every long poll in progress."""
        for queue in list(self.activity_queues.values()):
            queue.wake_all()

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        # Mirrors the parent's start_execution, which hard-codes activity_store={}, neither names
        # nor validates the execution (StepFunctionBackend.start_execution does both), and runs
        # an Execution that is not ours.
        if name is not None:
            if not name:
                raise ValidationException("1 validation error detected: Value '' at 'name' failed to satisfy "
                                          "constraint: Member must have length greater than or equal to 1")
            self._validate_name(name)
        state_machine = self.describe_state_machine(state_machine_arn)
        existing = state_machine._handle_name_input_idempotency(name, execution_input)
        if existing is not None:
            return existing
        clone = copy.deepcopy(
            state_machine,
            {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend},
        )
        input_data = "{}" if execution_input is None else execution_input
        try:
            json.loads(input_data)
        except ValueError as exc:
            raise InvalidExecutionInput(f"Invalid State Machine Execution Input: '{exc}'")
        name = name or str(mock_random.uuid4())
        arn = (
            f"arn:{self.partition}:states:{self.region_name}:{self.account_id}"
            f":execution:{state_machine.name}:{name}"
        )
        store = _ExecutionActivities(self)
        execution = HarnessExecution(
            name=name,
            sm_type=clone.sm_type,
            role_arn=clone.roleArn,
            exec_arn=arn,
            account_id=self.account_id,
            region_name=self.region_name,
            state_machine=clone,
            start_date=clock.utcnow(),
            cloud_watch_logging_session=None,
            input_data=input_data,
            trace_header=trace_header,
            activity_store=store,
            on_end=self._ended,
        )
        store.execution = execution
        with self._open_lock:
            self._open[arn] = execution
        state_machine.executions.append(execution)
        # moto keeps every execution's thread in this list for ever: keep the live ones only.
        TMP_THREADS[:] = [t for t in TMP_THREADS if t.is_alive()]
        execution.start()
        return execution

    def _ended(self, execution) -> None:
        with self._open_lock:
            self._open.pop(execution.exec_arn, None)

    def _owner(self, token: str):
        """The execution that holds a task token: an activity task's, or a `.waitForTaskToken` callback's."""
        execution = self.task_owners.get(token)
        if execution is not None:
            return execution
        with self._open_lock:
            open_executions = list(self._open.values())
        for execution in open_executions:
            env = execution.environment()
            if env is not None and env.callback_pool_manager.get(token) is not None:
                self.task_owners[token] = execution
                return execution
        raise InvalidToken("'Invalid token'")

    def _endpoint(self, token: str, wait: float = 0.0):
        """Return (execution, callback endpoint) of a token; endpoint None if gone."""
        execution = self._owner(token)
        deadline = time.monotonic() + wait
        while True:
            env = execution.environment()
            endpoint = env.callback_pool_manager.get(token) if env is not None else None
            if endpoint is not None or time.monotonic() >= deadline:
                return execution, endpoint
            time.sleep(0.001)

    def get_activity_task(self, activity_arn, worker_name=None, wait=POLL_SECONDS):
        self._validate_activity_arn(activity_arn)
        queue = self.activity_queues.get(activity_arn)
        if queue is None:
            raise ActivityDoesNotExist(activity_arn)
        deadline = time.monotonic() + wait
        while True:
            task = queue.take(max(0.0, deadline - time.monotonic()), connected=scope.client_connected)
            if task is None:
                return None
            execution, endpoint = self._endpoint(task.task_token, _ENDPOINT_GRACE_SECONDS)
            # Tasks of executions stopped before anyone polled are dropped, as on AWS.
            if execution.exec_status != ExecutionStatus.RUNNING or not isinstance(
                endpoint, ActivityCallbackEndpoint
            ):
                continue
            if not scope.client_connected():  # gone while the task was being checked
                queue.give_back(task)
                return None
            endpoint.notify_activity_task_start(worker_name=worker_name)
            return task

    def _notify(self, token, outcome=None):
        execution, endpoint = self._endpoint(token)
        if endpoint is None or execution.exec_status != ExecutionStatus.RUNNING:
            raise TaskTimedOut("Task Timed Out: the execution of this task has ended")
        if endpoint.get_outcome() is not None:
            raise TaskTimedOut("Task Timed Out: the task was already completed")
        pool = execution.exec_worker.env.callback_pool_manager
        try:
            if outcome is None:
                pool.heartbeat(callback_id=token)
            else:
                pool.notify(callback_id=token, outcome=outcome)
        except CallbackNotifyConsumerError:
            raise TaskTimedOut("Task Timed Out: the task's heartbeat or timeout expired")

    def send_task_success(self, task_token, outcome):
        self._notify(task_token, CallbackOutcomeSuccess(callback_id=task_token, output=outcome))

    def send_task_failure(self, task_token, error=None, cause=None):
        self._notify(
            task_token, CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
        )

    def send_task_heartbeat(self, task_token):
        self._notify(task_token)


def _reflect_execution_status(self) -> None:
    """Replace moto's: an execution's output, error and cause are set before its status says it ended.

    moto sets SUCCEEDED first and the output after, so a DescribeExecution in between reads
    SUCCEEDED with a null output (and FAILED without its error). The output is kept as the
    JSON text AWS returns (moto keeps the value, and answers a JSON string without its quotes).
    An execution that StopExecution has ended keeps its status and stop date.
    """
    execution = self.execution
    if execution.exec_status == ExecutionStatus.ABORTED:
        return
    state = execution.exec_worker.env.program_state()
    execution.stop_date = clock.utcnow()
    if isinstance(state, ProgramEnded):
        execution.output = to_json_str(execution.exec_worker.env.states.get_input(), separators=(",", ":"))
        execution.exec_status = ExecutionStatus.SUCCEEDED
    elif isinstance(state, ProgramStopped):
        execution.exec_status = ExecutionStatus.ABORTED
    elif isinstance(state, ProgramError):
        execution.error = state.error.get("error")
        execution.cause = state.error.get("cause")
        execution.exec_status = ExecutionStatus.FAILED
    elif isinstance(state, ProgramTimedOut):
        execution.exec_status = ExecutionStatus.TIMED_OUT
    else:
        raise RuntimeWarning(f"Execution ended with unsupported ProgramState type '{type(state)}'.")
    execution.exec_worker = _EndedWorker(execution.exec_worker.env)


class _EndedWorker:
    """What an ended execution keeps of its interpreter: its event history and its map runs.

    The interpreter itself (program state, contexts, the evaluated ASL) is released, so an ended
    execution costs its history and output, not the machinery that ran it.
    """

    def __init__(self, env):
        self.env = _EndedEnv(env.event_manager.get_event_history(), env.map_run_record_pool_manager)

    def stop(self, **_):
        """An ended execution has nothing left to stop."""


class _EndedEnv:
    callback_pool_manager: dict = {}  # no task of an ended execution can be completed

    def __init__(self, history, map_runs):
        self.event_manager = self
        self._history = history
        self.map_run_record_pool_manager = map_runs

    def get_event_history(self):
        return self._history


_stock_get_backend = sfn_responses.get_backend
_stock_send_task_failure = sfn_responses.StepFunctionResponse.send_task_failure
_stock_moto_server_port = boto_client.moto_server_port


def _get_backend(account: str, region: str):
    """Replace moto.stepfunctions.responses.get_backend: ours for the harness's requests, moto's otherwise."""
    if scope.active():
        return backends[account][region]
    return _stock_get_backend(account, region)


def _get_activity_task(self):
    if not scope.active():  # stock moto routes no GetActivityTask
        raise NotImplementedError("The get_activity_task action has not been implemented")
    task = self.stepfunction_backend.get_activity_task(
        self._get_param("activityArn"), worker_name=self._get_param("workerName")
    )
    if task is None:
        return ActionResult({})
    return ActionResult({"taskToken": task.task_token, "input": task.task_input})


def _send_task_failure(self):
    if not scope.active():
        return _stock_send_task_failure(self)
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


class _CloudFormationBackends:
    """What moto's CloudFormation reads as moto.stepfunctions.models.stepfunctions_backends.

    A state machine that a stack of the harness's server creates lands in the backend that
    its Step Functions requests read (one backend, whichever way a resource is created).
    """

    def __init__(self, stock):
        self.stock = stock

    def __getitem__(self, account_id):
        return (backends if scope.active() else self.stock)[account_id]

    def __getattr__(self, name):
        return getattr(self.stock, name)


def _moto_server_port() -> str:
    """The port moto's ASL interpreter sends service-integration Tasks to: a running emulator's.

    moto reads MOTO_PORT (default 5000), which only its own `moto_server` sets. Every
    emulator of a process serves the same moto backends, so any running one is right.
    """
    ports = scope.serving_ports()
    return str(ports[-1]) if ports else _stock_moto_server_port()


class _IntegrationBoto3:
    """boto3 as moto's ASL interpreter uses it, signing with the credentials our emulator accepts.

    The interpreter signs its service-integration calls with the fixed key "ak"; an emulator
    that checks credentials (emulators/sigv4.py) would refuse them.
    """

    def __init__(self, stock):
        self.stock = stock

    def client(self, *args, **kwargs):
        port = str(kwargs.get("endpoint_url") or "").rpartition(":")[2]
        credentials = scope.credentials_for(int(port)) if port.isdigit() else None
        if credentials is not None:
            kwargs.update(aws_access_key_id=credentials.access_key_id,
                          aws_secret_access_key=credentials.secret_access_key)
        return self.stock.client(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.stock, name)


backends = BackendDict(ActivityBackend, "stepfunctions")
_installed = False


def install() -> None:
    """Give the harness's server Step Functions that execute ASL with working activities (idempotent).

    Outside the harness's requests (a `mock_aws` in the same process) every patched function
    does what stock moto does.
    """
    global _installed
    if _installed:
        return
    sfn_responses.get_backend = _get_backend
    sfn_responses.StepFunctionResponse.get_activity_task = _get_activity_task
    sfn_responses.StepFunctionResponse.send_task_failure = _send_task_failure
    sfn_models.stepfunctions_backends = _CloudFormationBackends(sfn_models.stepfunctions_backends)
    boto_client.moto_server_port = _moto_server_port
    boto_client.boto3 = _IntegrationBoto3(boto_client.boto3)
    _installed = True


def no_task_waiting() -> bool:
    """True when no activity task waits to be taken (the clock's idle check: skip mode may jump).

    The task of an execution that has ended (stopped before anyone polled) waits for nothing:
    a poll drops it.
    """
    for account in list(backends.keys()):
        for region in list(backends[account].keys()):
            backend = backends[account][region]
            for activity in list(backend.activity_queues.values()):
                for task in list(activity._tasks):
                    execution = backend.task_owners.get(task.task_token)
                    if execution is None or execution.exec_status == ExecutionStatus.RUNNING:
                        return False
    return True


no_task_waiting.waiting = 'an activity task waits for a poller'  # what `Clock.holders()` says while it is not idle


def wake_all() -> None:
    """Release the long polls in progress in every account and region."""
    for account in list(backends.keys()):
        for region in list(backends[account].keys()):
            backends[account][region].wake_all()
