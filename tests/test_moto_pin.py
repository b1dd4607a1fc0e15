"""emulators/ extends moto's internals: fail loudly, naming what changed, when an upgrade breaks them.

Every check reads moto's own source files (never the live objects, which emulators/ may have
patched in this process), so none of them can pass because of the patch it looks at.
"""

import ast
import configparser
import functools
import hashlib
import importlib
import inspect
import os

import moto
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_installed_moto_is_the_pinned_version():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    pin = [line for line in cfg["options"]["install_requires"].splitlines() if line.startswith("moto")][0]
    assert pin.endswith(f"=={moto.__version__}"), (
        f"setup.cfg pins {pin!r} but moto {moto.__version__} is installed: re-run tests/test_emulators.py "
        "and check every internal listed in tests/test_moto_pin.py before moving the pin")


@functools.lru_cache(maxsize=None)
def _module_source(module: str) -> tuple[str, ast.Module]:
    path = inspect.getsourcefile(importlib.import_module(module))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text, ast.parse(text)


def stock(module: str, qualname: str):
    """The AST node and source text of `module:qualname` as moto ships it."""
    text, node = _module_source(module)
    for part in qualname.split("."):
        found = [n for n in ast.iter_child_nodes(node)
                 if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == part]
        assert found, f"moto {moto.__version__}: {module} has no {qualname} any more"
        node = found[-1]
    return node, ast.get_source_segment(text, node)


def params(node) -> list[str]:
    args = node.args
    return [a.arg for a in args.posonlyargs + args.args] + [a.arg for a in args.kwonlyargs]


# -- every internal emulators/ calls, overrides or reads, with the parameters it relies on -----------
SFN = "moto.stepfunctions"
PARSER = "moto.stepfunctions.parser"
SIGNATURES = [
    # sfn_activities.ActivityBackend
    (f"{PARSER}.models", "StepFunctionsParserBackend.start_execution",
     ["self", "state_machine_arn", "name", "execution_input", "trace_header"]),
    (f"{PARSER}.models", "StepFunctionsParserBackend._revision_by_name", ["self", "name"]),
    (f"{PARSER}.models", "StepFunctionsParserBackend._validate_definition", ["definition"]),
    (f"{PARSER}.models", "StepFunctionsParserBackend.create_state_machine",
     ["self", "name", "definition", "roleArn", "tags", "publish", "loggingConfiguration", "tracingConfiguration",
      "encryptionConfiguration", "version_description", "sm_type"]),
    (f"{PARSER}.models", "StepFunctionsParserBackend.update_state_machine",
     ["self", "arn", "definition", "role_arn", "logging_configuration", "tracing_configuration",
      "encryption_configuration", "publish", "version_description"]),
    (f"{SFN}.models", "StateMachine._handle_name_input_idempotency", ["self", "name", "execution_input"]),
    (f"{SFN}.models", "StateMachine.stop_execution", ["self", "execution_arn"]),
    (f"{SFN}.models", "StepFunctionBackend._validate_name", ["self", "name"]),
    (f"{SFN}.models", "StepFunctionBackend._validate_activity_arn", ["self", "activity_arn"]),
    (f"{SFN}.models", "StepFunctionBackend.create_activity", ["self", "name", "tags", "encryption_configuration"]),
    (f"{SFN}.models", "StepFunctionBackend.delete_activity", ["self", "activity_arn"]),
    (f"{SFN}.models", "StepFunctionBackend.describe_state_machine", ["self", "arn"]),
    (f"{SFN}.responses", "get_backend", ["account", "region"]),
    # executions
    (f"{PARSER}.backend.execution", "Execution.__init__",
     ["self", "name", "sm_type", "role_arn", "exec_arn", "account_id", "region_name", "state_machine",
      "start_date", "cloud_watch_logging_session", "activity_store", "input_data", "trace_header"]),
    (f"{PARSER}.backend.execution", "Execution._get_start_execution_worker_comm", ["self"]),
    (f"{PARSER}.backend.execution", "Execution._get_start_execution_worker", ["self"]),
    (f"{PARSER}.backend.execution", "Execution.stop", ["self", "stop_date", "error", "cause"]),
    (f"{PARSER}.backend.execution", "BaseExecutionWorkerCommunication._reflect_execution_status", ["self"]),
    (f"{PARSER}.backend.execution_worker", "ExecutionWorker._get_evaluation_environment", ["self"]),
    (f"{PARSER}.asl.eval.environment", "Environment.set_error", ["self", "error"]),
    (f"{PARSER}.asl.eval.event.event_manager", "EventManager.__init__", ["self", "cloud_watch_logging_session"]),
    (f"{PARSER}.asl.eval.event.event_manager", "EventManager.add_event",
     ["self", "context", "event_type", "event_details", "timestamp", "update_source_event_id"]),
    # callbacks and activities
    (f"{PARSER}.asl.eval.callback.callback", "CallbackPoolManager.get", ["self", "callback_id"]),
    (f"{PARSER}.asl.eval.callback.callback", "CallbackPoolManager.add_activity_task",
     ["self", "callback_id", "activity_arn", "activity_input"]),
    (f"{PARSER}.asl.eval.callback.callback", "CallbackPoolManager.notify", ["self", "callback_id", "outcome"]),
    (f"{PARSER}.asl.eval.callback.callback", "CallbackPoolManager.heartbeat", ["self", "callback_id"]),
    (f"{PARSER}.asl.eval.callback.callback", "CallbackEndpoint.get_outcome", ["self"]),
    (f"{PARSER}.asl.eval.callback.callback", "CallbackEndpoint.interrupt_all", ["self"]),
    (f"{PARSER}.asl.eval.callback.callback", "ActivityCallbackEndpoint.notify_activity_task_start",
     ["self", "worker_name"]),
    (f"{PARSER}.asl.eval.callback.callback", "ActivityCallbackEndpoint.get_activity_task_start_endpoint", ["self"]),
    (f"{PARSER}.asl.eval.callback.callback", "ActivityTaskStartEndpoint.notify", ["self", "activity_task"]),
    (f"{PARSER}.backend.activity", "Activity.__init__", ["self", "arn", "name", "creation_date"]),
    (f"{PARSER}.backend.activity", "Activity.add_task", ["self", "task"]),
    (f"{PARSER}.asl.utils.boto_client", "boto_client_for", ["region", "service", "state_credentials"]),
    # batch_local
    ("moto.batch.models", "Job.__init__",
     ["self", "name", "job_def", "job_queue", "backend", "log_backend", "container_overrides",
      "eks_properties_override", "depends_on", "parameters", "all_jobs", "timeout", "array_properties",
      "provided_job_id", "tags"]),
    ("moto.batch.models", "Job.run", ["self"]),
    ("moto.batch.models", "Job.terminate", ["self", "reason"]),
    ("moto.batch.models", "Job._get_container_property", ["self", "p", "default"]),
    ("moto.batch.models", "Job._add_parameters_to_command", ["self", "command"]),
    ("moto.batch.models", "Job._mark_stopped", ["self", "success"]),
    ("moto.batch.models", "Job._start_attempt", ["self"]),
    ("moto.batch.models", "Job._wait_for_dependencies", ["self"]),
    ("moto.batch.models", "Job._container_details", ["self"]),
    ("moto.batch.responses", "BatchResponse.batch_backend", ["self"]),
    ("moto.moto_api._internal.managed_state_model", "ManagedState.advance", ["self"]),
    # the server (aws.py, dispatch_cache.py, gateway.py)
    ("moto.moto_server.threaded_moto_server", "ThreadedMotoServer.__init__", ["self", "ip_address", "port", "verbose"]),
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication.get_backend_for_host", ["self", "host"]),
]


@pytest.mark.parametrize("module, qualname, expected", SIGNATURES, ids=[s[1] for s in SIGNATURES])
def test_internals_the_extension_relies_on_keep_their_signature(module, qualname, expected):
    node, _ = stock(module, qualname)
    assert params(node) == expected, f"moto {moto.__version__}: {module}.{qualname} changed to {params(node)}"


# -- methods emulators/ copies, replaces or depends on line by line: any change to their body is news --
# (module, qualname, sha256 of the source as moto 5.2.5 ships it, where emulators/ uses it)
COPIED = [
    (f"{PARSER}.models", "StepFunctionsParserBackend.start_execution", "6a91721c5baed9d4",
     "copied by sfn_activities.ActivityBackend.start_execution"),
    (f"{SFN}.models", "StepFunctionBackend.start_execution", "629a7eb037038e58",
     "its name validation and UUID naming copied by sfn_activities.ActivityBackend.start_execution"),
    (f"{PARSER}.backend.execution", "BaseExecutionWorkerCommunication._reflect_execution_status",
     "40fadfbee9a16778", "replaced by sfn_activities._reflect_execution_status"),
    (f"{PARSER}.asl.component.program.program", "Program._eval_body", "c06485de337c1f8c",
     "ends an execution with one last event, which sfn_activities._HistoryQuota lets through"),
    (f"{PARSER}.asl.eval.environment", "Environment.set_error", "261c9196f7bbaaf5",
     "overridden by sfn_activities._StoppableEnvironment"),
    (f"{PARSER}.asl.eval.event.event_manager", "EventManager.add_event", "26e450d7bdaaa595",
     "wrapped by sfn_activities._HistoryQuota"),
    (f"{PARSER}.backend.execution_worker", "ExecutionWorker._execution_logic", "91bf5728f01b4edc",
     "makes the environment (then sfn_activities._Worker swaps its event manager) before the first event"),
    (f"{PARSER}.backend.execution", "Execution.stop", "512dc2eddc4a6b08",
     "extended by sfn_activities.HarnessExecution.stop"),
    (f"{SFN}.models", "StateMachine.stop_execution", "06a0929fe5e1851a",
     "calls Execution.stop, which sfn_activities.HarnessExecution.stop extends"),
    (f"{SFN}.responses", "get_backend", "4810c7f7021be9a9", "wrapped by sfn_activities._get_backend"),
    (f"{SFN}.responses", "StepFunctionResponse.send_task_failure", "b6625e032a805763",
     "replaced by sfn_activities._send_task_failure for the harness's requests"),
    (f"{PARSER}.asl.utils.boto_client", "boto_client_for", "2c53599692cbcdda",
     "reads moto_server_port(), which sfn_activities._moto_server_port replaces"),
    (f"{PARSER}.asl.component.state.exec.state_task.state_task_activitiy", "StateTaskActivity._eval_execution",
     "8305947af9e57cc2", "its waits are what sfn_activities.HarnessExecution.stop wakes"),
    ("moto.batch.models", "Job.run", "3087376661156c94", "replaced by batch_local._run for the harness's jobs"),
    ("moto.batch.models", "Job.terminate", "2a011de19549b9ed",
     "copied by batch_local._terminate for the harness's jobs"),
    ("moto.batch.responses", "BatchResponse.batch_backend", "4dce6eae56ce06af",
     "wrapped by batch_local._batch_backend"),
]


@pytest.mark.parametrize("module, qualname, digest, use", COPIED, ids=[c[1] for c in COPIED])
def test_bodies_that_emulators_copies_or_replaces_are_unchanged(module, qualname, digest, use):
    _, source = stock(module, qualname)
    now = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert now == digest, (
        f"moto {moto.__version__} changed the body of {module}.{qualname} ({use}): compare the two, "
        f"carry the change over to emulators/, then record {now!r} here")


def test_moto_still_hands_executions_an_empty_activity_store():
    """If moto fixes this itself, emulators/sfn_activities.py's start_execution copy can go."""
    _, source = stock(f"{PARSER}.models", "StepFunctionsParserBackend.start_execution")
    assert "activity_store={}" in source


def test_moto_routes_no_get_activity_task_of_its_own():
    """emulators/sfn_activities.py adds GetActivityTask; if moto gets its own, drop ours."""
    text, _ = _module_source(f"{SFN}.responses")
    assert "def get_activity_task" not in text


def test_responses_read_the_module_level_get_backend():
    """sfn_activities replaces moto.stepfunctions.responses.get_backend: the property must call it by name."""
    _, source = stock(f"{SFN}.responses", "StepFunctionResponse")
    assert "return get_backend(self.current_account, self.region)" in source


def test_cloudformation_reads_the_module_level_stepfunctions_backends():
    """sfn_activities gives CloudFormation its backend through moto.stepfunctions.models.stepfunctions_backends."""
    for method in ("create_from_cloudformation_json", "delete_from_cloudformation_json",
                   "update_from_cloudformation_json"):
        _, source = stock(f"{SFN}.models", f"StateMachine.{method}")
        assert "stepfunctions_backends[account_id][region_name]" in source, method


def test_the_interpreter_reads_moto_server_port_by_its_module_name():
    text, _ = _module_source(f"{PARSER}.asl.utils.boto_client")
    assert "from moto.settings import moto_server_port" in text
    assert 'f"http://localhost:{moto_server_port()}"' in text


def test_the_environment_keeps_its_callback_pool_state_and_event_manager_as_attributes():
    """Read by sfn_activities: Environment.callback_pool_manager, ._program_state, .event_manager."""
    _, source = stock(f"{PARSER}.asl.eval.environment", "Environment.__init__")
    for attribute in ("self.callback_pool_manager = CallbackPoolManager(", "self._program_state = None",
                      "self.event_manager = EventManager("):
        assert attribute in source, f"Environment.__init__ no longer sets {attribute}"
    _, pool = stock(f"{PARSER}.asl.eval.callback.callback", "CallbackPoolManager.__init__")
    assert "self._pool = OrderedDict()" in pool


def test_an_activity_keeps_its_tasks_in_a_deque():
    """sfn_activities.WaitableActivity pops and pushes back Activity._tasks."""
    _, source = stock(f"{PARSER}.backend.activity", "Activity.__init__")
    assert "self._tasks = deque()" in source


def test_an_execution_worker_keeps_its_environment_and_logging_session():
    _, source = stock(f"{PARSER}.backend.execution_worker", "ExecutionWorker.__init__")
    assert "self.env = None" in source and "self._cloud_watch_logging_session = cloud_watch_logging_session" in source


def test_moto_batch_job_attributes_used_by_the_local_runner_exist():
    _, source = stock("moto.batch.models", "Job.__init__")
    for attribute in ("self.job_stopped_reason", "self.exit_code", "self.stop", "self.container_overrides",
                      "self.timeout", "self.depends_on", "self._stream_name", "threading.Thread.__init__(self)"):
        assert attribute in source, f"moto.batch.models.Job no longer sets {attribute}"


def test_a_batch_job_is_a_thread_with_moto_managed_state():
    """batch_local._run calls Job.advance (ManagedState's) and runs in the Job's own thread."""
    node, _ = stock("moto.batch.models", "Job")
    assert [ast.unparse(base) for base in node.bases] == ["threading.Thread", "BaseModel", "DockerModel",
                                                           "ManagedState"]


def test_submit_job_makes_and_starts_the_job_in_the_request():
    """batch_local marks a job as the harness's when it is made: submit_job must make and start it."""
    _, source = stock("moto.batch.models", "BatchBackend.submit_job")
    assert "job = Job(" in source and "job.start()" in source


def test_threaded_moto_server_keeps_its_werkzeug_server_and_app():
    """aws.py wraps ThreadedMotoServer._server.app, which werkzeug's handler reads per request."""
    _, source = stock("moto.moto_server.threaded_moto_server", "ThreadedMotoServer._server_entry")
    assert "app = DomainDispatcherApplication(create_backend_app)" in source
    assert "self._server = make_server(" in source
    text, _ = _module_source("werkzeug.serving")
    assert "self.server.app" in text and '"werkzeug.socket": self.connection' in text


def test_moto_dispatcher_still_resolves_hosts_in_get_backend_for_host():
    """emulators/dispatch_cache.py caches get_backend_for_host per host, on the harness's dispatcher."""
    _, source = stock("moto.moto_server.werkzeug_app", "DomainDispatcherApplication.get_application")
    assert "self.get_backend_for_host(host)" in source


@pytest.mark.parametrize("name", ["put_item", "update_item", "delete_item", "transact_write_items",
                                  "batch_write_item", "get_item", "query", "scan", "batch_get_item",
                                  "transact_get_items"])
def test_dynamodb_backend_has_the_item_calls_made_atomic(name):
    stock("moto.dynamodb.models", f"DynamoDBBackend.{name}")
