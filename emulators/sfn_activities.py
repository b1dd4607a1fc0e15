"""Complete moto's Step Functions activities.

moto 5.2 executes ASL (its vendored LocalStack interpreter) but hands every
execution an empty activity store and routes no GetActivityTask. This module
adds what AWS does: one activity store shared by all executions, a
GetActivityTask long poll that returns as soon as a task exists, task tokens
indexed for SendTask* in O(1), CreateActivity idempotent, and SendTaskFailure
keeping its cause.
"""

import copy
import datetime
import json
import threading
import time

from moto.core.common_models import BackendDict
from moto.core.config import default_user_config
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions import responses as sfn_responses
from moto.core.exceptions import AWSError
from moto.stepfunctions.exceptions import ActivityDoesNotExist, InvalidToken
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.api import (
    ExecutionStatus,
    InvalidExecutionInput,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    ActivityCallbackEndpoint,
    CallbackNotifyConsumerError,
    CallbackOutcomeFailure,
    CallbackOutcomeSuccess,
)
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.backend.activity import Activity, ActivityTask
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.parser.utils import TMP_THREADS

#: Longest a GetActivityTask call waits for a task, as on AWS.
POLL_SECONDS = 60.0
# A task is queued a moment before its callback endpoint is registered.
_ENDPOINT_GRACE_SECONDS = 2.0


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

    def take(self, timeout: float) -> ActivityTask | None:
        """Pop the next task, waiting up to `timeout` seconds for one."""
        deadline = time.monotonic() + timeout
        with self._ready:
            generation = self._generation
            while not self._tasks and generation == self._generation:
                left = deadline - time.monotonic()
                if left <= 0 or not self._ready.wait(left):
                    break
            return self._tasks.popleft() if self._tasks else None

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


class ActivityBackend(parser_models.StepFunctionsParserBackend):
    """moto's executing Step Functions backend with working activities."""

    def __init__(self, region_name, account_id):
        super().__init__(region_name, account_id)
        self.activity_queues: dict[str, WaitableActivity] = {}
        self.task_owners: dict[str, Execution] = {}

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
        # Mirrors the parent's start_execution, which hard-codes activity_store={}.
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
            raise InvalidExecutionInput(str(exc))
        arn = (
            f"arn:{self.partition}:states:{self.region_name}:{self.account_id}"
            f":execution:{state_machine.name}:{name}"
        )
        store = _ExecutionActivities(self)
        execution = Execution(
            name=name,
            sm_type=clone.sm_type,
            role_arn=clone.roleArn,
            exec_arn=arn,
            account_id=self.account_id,
            region_name=self.region_name,
            state_machine=clone,
            start_date=datetime.datetime.now(tz=datetime.timezone.utc),
            cloud_watch_logging_session=None,
            input_data=input_data,
            trace_header=trace_header,
            activity_store=store,
        )
        store.execution = execution
        state_machine.executions.append(execution)
        # moto keeps every execution's thread in this list for ever: keep the live ones only.
        TMP_THREADS[:] = [t for t in TMP_THREADS if t.is_alive()]
        execution.start()
        return execution

    def _endpoint(self, token: str, wait: float = 0.0):
        """Return (execution, callback endpoint) of a token; endpoint None if gone."""
        execution = self.task_owners.get(token)
        if execution is None:
            raise InvalidToken("no task has this token")
        deadline = time.monotonic() + wait
        while True:
            worker = execution.exec_worker
            env = getattr(worker, "env", None)
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
            task = queue.take(max(0.0, deadline - time.monotonic()))
            if task is None:
                return None
            execution, endpoint = self._endpoint(task.task_token, _ENDPOINT_GRACE_SECONDS)
            # Tasks of executions stopped before anyone polled are dropped, as on AWS.
            if execution.exec_status != ExecutionStatus.RUNNING or not isinstance(
                endpoint, ActivityCallbackEndpoint
            ):
                continue
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
    SUCCEEDED with a null output (and FAILED without its error).
    """
    execution = self.execution
    state = execution.exec_worker.env.program_state()
    execution.stop_date = datetime.datetime.now(tz=datetime.timezone.utc)
    if isinstance(state, ProgramEnded):
        execution.output = execution.exec_worker.env.states.get_input()
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


def _get_activity_task(self):
    task = self.stepfunction_backend.get_activity_task(
        self._get_param("activityArn"), worker_name=self._get_param("workerName")
    )
    if task is None:
        return ActionResult({})
    return ActionResult({"taskToken": task.task_token, "input": task.task_input})


def _send_task_failure(self):
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


backends = BackendDict(ActivityBackend, "stepfunctions")
_installed = False


def install() -> None:
    """Make moto's Step Functions execute ASL with working activities (idempotent)."""
    global _installed
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    if _installed:
        return
    parser_models.stepfunctions_parser_backends = backends
    sfn_responses.StepFunctionResponse.get_activity_task = _get_activity_task
    sfn_responses.StepFunctionResponse.send_task_failure = _send_task_failure
    BaseExecutionWorkerCommunication._reflect_execution_status = _reflect_execution_status
    _installed = True


def wake_all() -> None:
    """Release the long polls in progress in every account and region."""
    for account in list(backends.keys()):
        for region in list(backends[account].keys()):
            backends[account][region].wake_all()
