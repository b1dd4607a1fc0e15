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
import re

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


# -- extensions added since: model tracking, the dispatch and loader caches, retention, DynamoDB ----
# index queries and atomicity, the clock (Step Functions, SQS, fakeredis), faults, SigV4, in-process.
# Each reads the shipped source, as above; botocore and fakeredis are not pinned exactly (setup.cfg),
# so their entries fail when an upgrade changes what emulators/ relies on.
CB = f"{PARSER}.asl.eval.callback.callback"
WAIT = f"{PARSER}.asl.component.state.wait.wait_function"
RETRY = f"{PARSER}.asl.component.common.retry.retrier_decl"
EXEC_STATE = f"{PARSER}.asl.component.state.exec.execute_state"
SER = "moto.core.serialize"
SIGNATURES_SINCE = [
    # batch_local._describe_jobs: wraps it (a list of job descriptions with jobId and status)
    ("moto.batch.models", "BatchBackend.describe_jobs", ["self", "jobs"]),
    # model_tracking: replaces BaseModel.__new__
    ("moto.core.common_models", "BaseModel.__new__", ["cls"]),
    # dispatch_cache.install_action_cache: replaces moto.core.responses.method_names_from_class
    ("moto.core.utils", "method_names_from_class", ["clazz"]),
    # shared_loader: replaces botocore.session.create_loader and moto.core.utils.create_loader
    ("botocore.loaders", "create_loader", ["search_path_string"]),
    ("moto.core.loaders", "create_loader", []),
    # retention: wraps update_item (table_name first, returns the item), then reads and writes the table
    ("moto.dynamodb.models", "DynamoDBBackend.update_item",
     ["self", "table_name", "key", "update_expression", "expression_attribute_names", "expression_attribute_values",
      "attribute_updates", "expected", "condition_expression", "return_values_on_condition_check_failure"]),
    ("moto.dynamodb.models", "DynamoDBBackend.get_table", ["self", "table_name"]),
    ("moto.dynamodb.models.table", "Table.get_item", ["self", "hash_key", "range_key", "projection_expression"]),
    ("moto.dynamodb.models.table", "Table.delete_item", ["self", "hash_key", "range_key"]),
    ("moto.dynamodb.models.table", "Table.put_item",
     ["self", "item_attrs", "expected", "condition_expression", "expression_attribute_names",
      "expression_attribute_values", "overwrite", "return_values_on_condition_check_failure"]),
    ("moto.dynamodb.models.dynamo_type", "Item.to_json", ["self", "root_attr_name"]),
    ("moto.dynamodb.models.dynamo_type", "DynamoType.__init__", ["self", "type_as_dict"]),
    # dynamodb_index: replaces query (same parameters, passed on) and all_items; wraps put_item and delete_item
    # (above) and update_item; reads each index's name and schema, each item's hash_key, range_key and attrs
    ("moto.dynamodb.models.table", "Table.all_items", ["self"]),
    ("moto.dynamodb.models.table", "Table.sorted_items", ["self", "hash_key_attrs", "range_key_attrs", "items"]),
    ("moto.dynamodb.models.table", "Table.query",
     ["self", "hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward",
      "projection_expressions", "index_name", "consistent_read", "filter_expression", "hash_key_conditions",
      "range_key_conditions"]),
    ("moto.dynamodb.models.table", "Table.all_indexes", ["self"]),
    ("moto.dynamodb.models.table", "SecondaryIndex.__init__",
     ["self", "index_name", "schema", "projection", "table_key_attrs"]),
    ("moto.dynamodb.models.dynamo_type", "Item.__init__", ["self", "hash_key", "range_key", "attrs"]),
    # clocked: SQS
    ("moto.core.utils", "unix_time", ["dt"]),
    ("moto.core.utils", "unix_time_millis", ["dt"]),
    ("moto.sqs.models", "Message.change_visibility", ["self", "visibility_timeout"]),
    ("moto.sqs.models", "Message.mark_received", ["self", "visibility_timeout"]),
    ("moto.sqs.models", "Message.delay", ["self", "delay_seconds"]),
    ("moto.sqs.models", "Message.had_receipt_handle", ["self", "receipt_handle"]),
    ("moto.sqs.models", "Queue.delete_message", ["self", "receipt_handle"]),
    ("moto.sqs.models", "SQSBackend.delete_queue", ["self", "queue_name"]),
    ("moto.sqs.models", "SQSBackend.purge_queue", ["self", "queue_name"]),
    # clocked: fakeredis reads time.time() in its command loop, its `self` has `_server`
    ("fakeredis._socket._base", "BaseFakeSocket._process_command", ["self", "fields"]),
    ("fakeredis._clients._tcp_server", "TcpFakeServer.__init__",
     ["self", "server_address", "bind_and_activate", "server_type", "server_version"]),
    # sfn_clock
    (f"{WAIT}.wait_function", "WaitFunction._wait_interval", ["self", "env", "wait_seconds"]),
    (f"{WAIT}.timestamp", "Timestamp._get_wait_seconds", ["self", "env"]),
    (RETRY, "RetrierDecl._eval_body", ["self", "env"]),
    (EXEC_STATE, "ExecutionState._evaluate_with_timeout", ["self", "env"]),
    (f"{PARSER}.asl.component.program.program", "Program.eval", ["self", "env"]),
    (f"{PARSER}.asl.eval.environment", "Environment.is_running", ["self"]),
    (f"{PARSER}.asl.eval.environment", "Environment.set_timed_out", ["self"]),
    (CB, "HeartbeatEndpoint.clear_and_wait", ["self"]),
    (CB, "ActivityTaskStartEndpoint.wait", ["self", "timeout_seconds"]),
    (CB, "CallbackEndpoint.wait", ["self", "timeout"]),
    (CB, "CallbackEndpoint.setup_heartbeat_endpoint", ["self", "heartbeat_seconds"]),
    (CB, "CallbackPoolManager.add", ["self", "callback_id"]),
    # faults: wraps SQSBackend.receive_message and send_message (queue_name first, delay_seconds by name)
    ("moto.sqs.models", "SQSBackend.receive_message",
     ["self", "queue_name", "count", "wait_seconds_timeout", "visibility_timeout", "message_attribute_names"]),
    ("moto.sqs.models", "SQSBackend.send_message",
     ["self", "queue_name", "message_body", "message_attributes", "delay_seconds", "deduplication_id", "group_id",
      "system_attributes", "validate_group_id"]),
    # sigv4: recomputes signatures with botocore's signers
    ("botocore.auth", "SigV4Auth.__init__", ["self", "credentials", "service_name", "region_name"]),
    ("botocore.auth", "SigV4QueryAuth.__init__", ["self", "credentials", "service_name", "region_name", "expires"]),
    ("botocore.auth", "SigV4Auth.canonical_request", ["self", "request"]),
    ("botocore.auth", "SigV4Auth.string_to_sign", ["self", "request", "canonical_request"]),
    ("botocore.auth", "SigV4Auth.signature", ["self", "string_to_sign", "request"]),
    ("botocore.awsrequest", "AWSRequest.__init__",
     ["self", "method", "url", "headers", "data", "params", "auth_path", "stream_output"]),
    # inprocess: answers botocore with an AWSResponse around a body of its own
    ("botocore.awsrequest", "AWSResponse.__init__", ["self", "url", "status_code", "headers", "raw"]),
]


@pytest.mark.parametrize("module, qualname, expected", SIGNATURES_SINCE, ids=[s[1] for s in SIGNATURES_SINCE])
def test_internals_the_newer_extensions_rely_on_keep_their_signature(module, qualname, expected):
    test_internals_the_extension_relies_on_keep_their_signature(module, qualname, expected)


COPIED_SINCE = [
    ("moto.core.common_models", "BaseModel.__new__", "7eb0527f63a33b49",
     "re-implemented by model_tracking._weakly_tracked_new (weak references in instances_tracked)"),
    ("moto.core.utils", "method_names_from_class", "dffccc6df0b3d020",
     "cached per class by dispatch_cache._cached_method_names"),
    ("moto.core.loaders", "create_loader", "789ed39d27810d82", "made once per process by shared_loader._moto_loader"),
    ("botocore.loaders", "create_loader", "d2be0285df31772c", "cached per data path by shared_loader._shared"),
    ("botocore.loaders", "Loader.list_available_services", "03121d24f47c4778",
     "replaced by shared_loader._list_available_services (one scandir walk per folder, the same rule)"),
    ("botocore.loaders", "Loader._potential_locations", "7b66261e1a943189",
     "called by shared_loader._list_available_services for the folders it walks"),
    ("botocore.loaders", "JSONFileLoader.exists", "31fc9f11e517ecf5",
     "its rule (a file named <kind> plus one of _JSON_OPEN_METHODS) followed by shared_loader._kinds"),
    ("botocore.loaders", "instance_cache", "00af2cb44d6c331d", "wraps shared_loader._list_available_services"),
    ("moto.dynamodb.models.table", "Table.query", "7c7c449c0d26f159",
     "wrapped by dynamodb_index._query: for an index it calls all_items once and keeps the items whose hash "
     "attributes equal hash_key_conditions (and that have every range attribute), so the side index's group "
     "(all_items' answer there) holds every item it keeps"),
    ("moto.dynamodb.models.table", "Table.all_items", "98389d15573959bc",
     "its order (primary key) copied by dynamodb_index._candidates"),
    ("moto.dynamodb.models.table", "Table.sorted_items", "9e330e95fe997478",
     "ends its sort key with the primary key: dynamodb_index hands it fewer items, in the same order"),
    ("moto.dynamodb.models", "DynamoDBBackend.update_item", "d8e4e02a421005da",
     "wrapped by retention._update_item, which reads the item it returns, and by dynamodb_index._update_item, "
     "which reads the key as it does (dynamodb_index._update_key) to follow the item it changes in place"),
    ("moto.dynamodb.models.table", "Table.put_item", "5f3a6f3029297f91",
     "wrapped by dynamodb_index._put_item: stores at items[hash][range] or items[hash], raises before storing "
     "when the item lacks a key"),
    ("moto.dynamodb.models.table", "Table.delete_item", "a684a6566b67c750",
     "wrapped by dynamodb_index._delete_item: pops items[hash][range], or a whole items[hash] without a range key"),
    ("moto.dynamodb.models", "DynamoDBBackend.transact_write_items", "c3c395e934006404",
     "writes through put_item, delete_item and update_item, and rolls back by putting back a deep copy of each "
     "table, which carries its side index (dynamodb_index) as it was"),
    ("moto.dynamodb.models", "DynamoDBBackend.query", "11708cf9cf09bd0a",
     "hands Table.query hash_key_conditions as (name, DynamoType), which dynamodb_index._candidates groups by"),
    ("moto.dynamodb.models.dynamo_type", "DynamoType.__eq__", "da9d10a79dcab0cf",
     "equal type and cast_value: dynamodb_index._value groups by these"),
    ("moto.dynamodb.models.dynamo_type", "DynamoType.__hash__", "d40bf069715b41f8",
     "hash of type and cast_value, as dynamodb_index._value"),
    ("moto.dynamodb.models.dynamo_type", "DynamoType.cast_value", "ff14d1d28f37b888",
     "read by dynamodb_index._value: str, Decimal or None for the types an index key may hold"),
    ("moto.sqs.models", "Message.change_visibility", "18ffb006a0304a98",
     "wrapped by clocked._change_visibility, which reads visible_at"),
    ("moto.sqs.models", "Message.delay", "370ce9f57fa47271", "wrapped by clocked._delay, which reads delayed_until"),
    ("moto.sqs.models", "Queue.delete_message", "636fb315c91ee9f1",
     "wrapped by clocked._delete_message, which reads _messages and had_receipt_handle first"),
    ("fakeredis._socket._base", "BaseFakeSocket._process_command", "ec5c2bfc5870ecb8",
     "reads time.time() under self._server, which clocked._FakeRedisTime answers"),
    (f"{WAIT}.wait_function", "WaitFunction._wait_interval", "778fc7df842c2206",
     "re-implemented on the clock by sfn_clock._wait_interval"),
    (f"{WAIT}.timestamp", "Timestamp._get_wait_seconds", "06a25baec5437699",
     "wrapped by sfn_clock._in_clock: its datetime.datetime.now() reads the clock"),
    (RETRY, "RetrierDecl._eval_body", "c816d4644fe2c182", "wrapped by sfn_clock._in_clock: its time.sleep moves"),
    (EXEC_STATE, "ExecutionState._evaluate_with_timeout", "999d88984b134f88",
     "wrapped by sfn_clock._in_clock: its threading.Event waits on the clock"),
    (f"{PARSER}.asl.component.program.program", "Program.eval", "b65ba5ca9c558632",
     "re-implemented on the clock by sfn_clock._program_eval"),
    (CB, "HeartbeatEndpoint.clear_and_wait", "4786abb0e175fc48",
     "re-implemented by sfn_clock._ClockHeartbeatEndpoint"),
    (CB, "ActivityTaskStartEndpoint.wait", "096e3c1bd709292a", "re-implemented by sfn_clock._ClockTaskStartEndpoint"),
    (CB, "CallbackEndpoint.wait", "1c189fa1e6c73ed8", "re-implemented by sfn_clock._ClockEndpoint"),
    (CB, "CallbackEndpoint.setup_heartbeat_endpoint", "ffefccfd7362718d",
     "its endpoint's class is swapped by sfn_clock._ClockEndpoint"),
    (CB, "CallbackPoolManager.add", "251398e7dc9c0671", "its endpoint's class is swapped by sfn_clock._ClockPoolManager"),
    ("moto.batch.models", "Job._container_details", "23085ed9b714fbdf",
     "wrapped by batch_local._container_details_with_exit_code"),
    # dynamodb_serialize writes an AttributeValue as these write it, member by member
    (SER, "BaseJSONSerializer._serialize_type_structure", "97fbd7964ee699f2",
     "wrapped by dynamodb_serialize._serialize_type_structure for DynamoDB's AttributeValue"),
    (SER, "ResponseSerializer._serialize_type_structure", "9ce02dd992df84a3",
     "members None left out, as dynamodb_serialize._attribute_value does"),
    (SER, "ResponseSerializer._serialize_structure_member", "be021c9a914475d1",
     "picks each member, as dynamodb_serialize._attribute_value reads it"),
    (SER, "BaseJSONSerializer._serialize_type_map", "c12fb175badd11b1", "M written as dynamodb_serialize does"),
    (SER, "BaseJSONSerializer._serialize_type_list", "f91ec0c582abc650",
     "L, SS, NS, BS written as dynamodb_serialize does (a None item kept)"),
    (SER, "BaseJSONSerializer._serialize_type_string", "8f5ae0962db58b73", "copied by dynamodb_serialize._string"),
    (SER, "ResponseSerializer._serialize_type_blob", "f7aef6c1bfa08af0", "B and BS base64, as dynamodb_serialize"),
    (SER, "ResponseSerializer._base64", "5d463fb07f67ef35", "called by dynamodb_serialize for B and BS"),
    (SER, "ResponseSerializer._default_serialize", "1075795e7d4b8d56", "called by dynamodb_serialize"),
    (SER, "ResponseSerializer._serialize_result", "c1ece70b00b9d8cb", "wrapped by dynamodb_serialize._serialize_result"),
    (SER, "BaseJSONSerializer._serialized_result_to_response", "3e0c8fc859552095",
     "called by dynamodb_serialize._serialize_result with the answer it wrote"),
]


STATES = f"{PARSER}.asl.component.state.exec"


@pytest.mark.parametrize("module, made", [
    (EXEC_STATE, "thread = Thread(target=_exec_and_notify"),
    (f"{PARSER}.backend.execution_worker", "execution_logic_thread = Thread(target=self._execution_logic"),
    (f"{STATES}.state_parallel.branch_worker", "self._worker_thread = threading.Thread("),
    (f"{STATES}.state_map.iteration.inline_iteration_component", "worker_thread = threading.Thread("),
    (f"{STATES}.state_parallel.branches_decl", "self._termination_event = threading.Event()"),
    (f"{STATES}.state_map.iteration.job", "self._termination_event = threading.Event()"),
])
def test_the_interpreter_makes_its_threads_and_branch_events_by_module_level_names(module, made):
    """sfn_clock replaces these modules' `Thread` or `threading`: started threads are awake, branch waits park."""
    text, _ = _module_source(module)
    assert made in text, f"moto {moto.__version__}: {module} no longer runs `{made}`; see sfn_clock.install"


def test_responses_call_method_names_from_class_by_its_module_level_name():
    """dispatch_cache replaces moto.core.responses.method_names_from_class: responses must import and call it."""
    text, tree = _module_source("moto.core.responses")
    imported = {alias.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "moto.core.utils"
                for alias in n.names}
    assert "method_names_from_class" in imported
    assert "method_names = method_names_from_class(self.__class__)" in text


def test_sessions_and_moto_make_loaders_by_module_level_name():
    """shared_loader replaces botocore.session.create_loader and moto.core.utils.create_loader."""
    text, _ = _module_source("botocore.session")
    assert "from botocore.loaders import create_loader" in text
    assert "create_loader(self.get_config_variable('data_path'))" in text
    text, _ = _module_source("moto.core.utils")
    assert "from .loaders import create_loader" in text and "loader = create_loader()" in text


def test_sqs_models_read_unix_time_by_module_level_name():
    """clocked replaces moto.sqs.models.unix_time and unix_time_millis: the module must import and call them."""
    text, tree = _module_source("moto.sqs.models")
    imported = {alias.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "moto.core.utils"
                for alias in n.names}
    assert {"unix_time", "unix_time_millis"} <= imported
    _, visibility = stock("moto.sqs.models", "Message.change_visibility")
    assert "self.visible_at = unix_time_millis() +" in visibility
    _, delay = stock("moto.sqs.models", "Message.delay")
    assert "self.delayed_until = unix_time_millis() +" in delay
    _, receive = stock("moto.sqs.models", "SQSBackend.receive_message")
    assert "unix_time()" in receive


def test_sqs_keeps_queues_and_messages_where_the_idle_check_reads_them():
    """clocked.no_message_visible walks sqs_backends[account][region].queues[...]._messages."""
    text, _ = _module_source("moto.sqs.models")
    assert 'sqs_backends = BackendDict(SQSBackend, "sqs")' in text
    _, queue = stock("moto.sqs.models", "Queue.__init__")
    assert "self._messages: list[Message] = []" in queue
    _, backend = stock("moto.sqs.models", "SQSBackend.__init__")
    assert "self.queues: dict[str, Queue] = {}" in backend


def test_fakeredis_command_loop_reads_the_module_time():
    """clocked replaces fakeredis._socket._base.time; a TcpFakeServer keeps its FakeServer as fake_server."""
    text, tree = _module_source("fakeredis._socket._base")
    assert any(isinstance(n, ast.Import) and [a.name for a in n.names] == ["time"] for n in tree.body)
    _, source = stock("fakeredis._socket._base", "BaseFakeSocket._process_command")
    assert "now = time.time()" in source and "self._server.dbs.values()" in source
    _, server = stock("fakeredis._clients._tcp_server", "TcpFakeServer.__init__")
    assert "self.fake_server = FakeServer(" in server


def test_step_functions_timers_read_the_module_names_sfn_clock_proxies():
    """sfn_clock replaces the modules' datetime, time and threading with proxies of its own."""
    _, source = stock(f"{WAIT}.timestamp", "Timestamp._get_wait_seconds")
    assert "datetime.datetime.now()" in source
    _, source = stock(RETRY, "RetrierDecl._eval_body")
    assert "time.sleep(" in source
    _, source = stock(EXEC_STATE, "ExecutionState._evaluate_with_timeout")
    assert "threading.Event()" in source
    _, env = stock(f"{PARSER}.asl.eval.environment", "Environment.__init__")
    assert "self.program_state_event = threading.Event()" in env  # sfn_clock._wait_interval waits on it
    for module, name in ((f"{WAIT}.timestamp", "datetime"), (RETRY, "time"), (EXEC_STATE, "threading")):
        _, tree = _module_source(module)
        assert any(isinstance(n, ast.Import) and name in [a.name for a in n.names] for n in tree.body), module


def test_retention_finds_executions_and_batch_jobs_where_it_drops_them():
    """retention drops StateMachine.executions entries, BatchBackend._jobs and JobQueue.jobs."""
    _, machine = stock(f"{SFN}.models", "StateMachineInstance.__init__")
    assert "self.executions: list[Execution] = []" in machine
    node, _ = stock(f"{SFN}.models", "StateMachine")
    assert "StateMachineInstance" in [ast.unparse(base) for base in node.bases]
    _, backend = stock(f"{SFN}.models", "StepFunctionBackend.__init__")
    assert "self.state_machines: list[StateMachine] = []" in backend
    _, execution = stock(f"{PARSER}.backend.execution", "Execution.__init__")
    assert "self.exec_arn = exec_arn" in execution and "self.execution_arn = exec_arn" in execution
    _, backend = stock("moto.batch.models", "BatchBackend.__init__")
    assert "self._jobs: dict[str, Job] = {}" in backend
    _, queue = stock("moto.batch.models", "JobQueue.__init__")
    assert "self.jobs: list[Job] = []" in queue
    _, job = stock("moto.batch.models", "Job.__init__")
    assert "self.job_queue = job_queue" in job and "self.job_queue.jobs.append(self)" in job


@pytest.mark.parametrize("name", ["get_item", "batch_get_item", "query", "scan", "transact_get_items"])
def test_dynamodb_handler_has_the_read_responses_made_atomic(name):
    node, _ = stock("moto.dynamodb.responses", f"DynamoHandler.{name}")
    assert params(node) == ["self"]


def test_botocore_signers_read_the_timestamp_sigv4_sets_and_its_query_signers_inherit():
    """sigv4 sets request.context["timestamp"] and calls canonical_request, string_to_sign and signature."""
    text, _ = _module_source("botocore.auth")
    _, sts = stock("botocore.auth", "SigV4Auth.string_to_sign")
    assert "request.context['timestamp']" in sts
    _, sig = stock("botocore.auth", "SigV4Auth.signature")
    assert 'request.context["timestamp"]' in sig
    assert "class S3SigV4Auth(SigV4Auth):" in text and "class S3SigV4QueryAuth(SigV4QueryAuth):" in text
    assert "class SigV4QueryAuth(SigV4Auth):" in text


def test_botocore_reads_a_response_body_by_stream_and_lets_before_send_answer():
    """inprocess's body has read() and stream(); aws.py answers requests from a before-send handler."""
    _, response = stock("botocore.awsrequest", "AWSResponse")
    assert "b''.join(self.raw.stream())" in response
    text, _ = _module_source("botocore.endpoint")
    assert 'event_name = f"before-send.{service_id}.{operation_model.name}"' in text


# -- lazy_ec2: the data moto.ec2 builds at import, and everything in moto that reads it ---------------
EC2_TYPES = "moto.ec2.models.instance_types"
EC2_REGIONS = "moto.ec2.models.availability_zones_and_regions"
#: names of the data lazy_ec2 defers; `self.instance_types` only in moto/ec2 (EKS has one of its own)
EC2_DATA_NAMES = re.compile(r"\b(EC2_)?(INSTANCE_TYPES|INSTANCE_FAMILIES|INSTANCE_TYPE_OFFERINGS)\b")
EC2_DATA_ATTRIBUTE = re.compile(r"\bself\.instance_types\b")


def statements(module: str, qualname: str | None, kinds) -> str:
    """The source of the statements of a module (or of a class in it) of the given AST kinds, in order."""
    text, node = _module_source(module)
    if qualname:
        node, _ = stock(module, qualname)
    return "\n".join(ast.get_source_segment(text, n) for n in node.body if isinstance(n, kinds))


def digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def readers_of_ec2_data() -> dict[tuple[str, str], str]:
    """(module, function or <module>) -> digest of its source, for every piece of moto naming the deferred data."""
    readers = {}
    root = os.path.dirname(moto.__file__)
    for folder, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            in_ec2 = os.path.relpath(path, root).startswith("ec2" + os.sep)
            lines = {i for i, line in enumerate(text.splitlines(), 1)
                     if EC2_DATA_NAMES.search(line) or (in_ec2 and EC2_DATA_ATTRIBUTE.search(line))}
            if not lines:
                continue
            module = "moto." + os.path.relpath(path, root)[:-3].replace(os.sep, ".").removesuffix(".__init__")
            tree = ast.parse(text)
            for line in sorted(lines):
                qualname, node, source = "<module>", tree, None
                while True:
                    inner = [n for n in ast.iter_child_nodes(node)
                             if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.lineno <= line <= n.end_lineno]
                    if not inner:
                        break
                    node = inner[0]
                    qualname = node.name if qualname == "<module>" else f"{qualname}.{node.name}"
                    source = ast.get_source_segment(text, node)
                if source is None or isinstance(node, ast.ClassDef):  # module or class level: that line itself
                    qualname, source = f"{qualname} line", text.splitlines()[line - 1].strip()
                    readers.setdefault((module, qualname), []).append(source)
                else:
                    readers[(module, qualname)] = [source]
    return {key: digest("\n".join(sources)) for key, sources in readers.items()}


#: every reader of INSTANCE_TYPES, INSTANCE_FAMILIES, INSTANCE_TYPE_OFFERINGS and InstanceTypeBackend.instance_types
EC2_DATA_READERS = {
    ("moto.batch.models", "<module> line"): "4dd3d44eff873635",
    ("moto.batch.models", "BatchBackend._validate_compute_resources"): "7abd877ae3d82a60",
    ("moto.batch.models", "BatchBackend.find_min_instances_to_meet_vcpus"): "de2c969e4d9ce011",
    (EC2_TYPES, "<module> line"): "dd0c40d5b327f2a6",
    (EC2_TYPES, "InstanceType.__init__"): "3ae0bb20ed34ef3f",
    (EC2_TYPES, "InstanceTypeBackend line"): "1738a1b1459ae7b3",
    (EC2_TYPES, "InstanceTypeBackend.describe_instance_types"): "6629c37d21167779",
    (EC2_TYPES, "InstanceTypeOfferingBackend.describe_instance_type_offerings"): "fe5661bc67838358",
    ("moto.ec2.models.instances", "<module> line"): "4e53c74dfd9a7548",
    ("moto.ec2.models.instances", "InstanceBackend.run_instances"): "dd60feb39f7604a6",
    ("moto.ec2.models.spot_requests", "<module> line"): "2f7891b8a957cd9f",
    ("moto.ec2.models.spot_requests", "SpotRequestBackend.describe_spot_price_history"): "768c08dafe1b4748",
}


def test_the_ec2_data_moto_builds_at_import_is_built_as_lazy_ec2_defers_it():
    """lazy_ec2 runs this module code with load_resource answering placeholders, then builds the same
    INSTANCE_TYPES, INSTANCE_FAMILIES, InstanceTypeBackend.instance_types and offerings on first use."""
    loop = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.For)
    pins = {
        "module level": (digest(statements(EC2_TYPES, None, loop)), "f45852a33e18c0b8"),
        "InstanceTypeBackend's class attributes": (
            digest(statements(EC2_TYPES, "InstanceTypeBackend", (ast.Assign, ast.AnnAssign))), "1738a1b1459ae7b3"),
    }
    for what, (now, pinned) in pins.items():
        assert now == pinned, (
            f"moto {moto.__version__} changed the {what} of {EC2_TYPES}: carry the change over to "
            f"emulators/lazy_ec2._defer_instance_types, then record {now!r} here")


def test_moto_asks_botocore_for_ec2_regions_as_lazy_ec2_answers_without_the_model():
    """lazy_ec2 answers these get_available_regions calls from the endpoint resolver and EC2's prefix."""
    from emulators.lazy_ec2 import ENDPOINT_PREFIXES

    regions = digest(statements(EC2_REGIONS, "RegionsAndZonesBackend", (ast.For,)))
    imports = statements(EC2_REGIONS, None, (ast.ImportFrom,))
    assert "from boto3 import Session" in imports
    assert regions == "99d26ee801c3d948", (
        f"moto {moto.__version__} changed how it lists EC2's regions: check lazy_ec2, then record {regions!r}")
    _, source = stock("botocore.session", "Session.get_available_regions")
    assert digest(source) == "b8e5baed13a50c28", (
        f"botocore changed Session.get_available_regions: carry it over to lazy_ec2, record {digest(source)!r}")
    from botocore.loaders import Loader

    for service, prefix in ENDPOINT_PREFIXES.items():
        assert Loader().load_service_model(service, "service-2")["metadata"]["endpointPrefix"] == prefix


def test_every_reader_of_the_deferred_ec2_data_is_pinned():
    """The deferred containers load on any method call; a reader that walked them at C level
    (json.dumps, str.join) before that would see them empty: check each new or changed one."""
    now = readers_of_ec2_data()
    changed = {key: value for key, value in now.items() if EC2_DATA_READERS.get(key) != value}
    gone = set(EC2_DATA_READERS) - set(now)
    assert not changed and not gone, (
        f"moto {moto.__version__}: new or changed readers of EC2's instance types or offerings {changed}, "
        f"gone {gone}: check that each reads them through a method, then record them in EC2_DATA_READERS")


# inprocess.DirectDispatch and _DirectRequest take these steps of moto, Flask and werkzeug without Flask's contexts
DIRECT_DISPATCH = [
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication.__call__", "af9976f5e0c4c9bb",
     "get_application, then the app: DirectDispatch calls get_application and serves or calls the app"),
    ("moto.moto_server.werkzeug_app", "create_backend_app", "82027a93fc4e2779",
     "views are convert_to_flask_response, request_class BackendRequest, CORS an after-request function"),
    ("moto.core.utils", "convert_to_flask_response.__call__", "0fcb99b508f5987d",
     "reads flask.request only, which DirectDispatch sets through flask.globals._cv_request"),
    ("flask.app", "Flask.wsgi_app", "bc14c030295bd7e3", "a request context, full_dispatch_request, the response"),
    ("flask.app", "Flask.full_dispatch_request", "0f1d04f3d1387464",
     "before-request functions (DirectDispatch serves only apps without any), the view, finalize_request"),
    ("flask.app", "Flask.dispatch_request", "7b946113c7aa5714", "the matched view called with its arguments"),
    ("flask.app", "Flask.finalize_request", "19e630399064e88c", "make_response, then process_response"),
    ("flask.app", "Flask.process_response", "d1b7a4295b2e1c14",
     "after-request functions in reverse (inprocess._after_request), a session only if not null"),
    ("flask.app", "Flask.make_response", "0d06b529b46e02f9", "a Response kept; an HTTPException made by force_type"),
    ("flask.ctx", "RequestContext.push", "2cad53fbb6725174", "an app context, the session, the URL match"),
    ("flask.app", "Flask.handle_user_exception", "a1abb8d8eb0da2cf",
     "an HTTP error from a view: BadRequestKeyError shown in debug, trapped ones raised, else handle_http_exception"),
    ("flask.app", "Flask.handle_http_exception", "1f5bb5703fb9719a", "without error handlers: the exception itself"),
    ("flask_cors.extension", "CORS.init_app", "3e32bc40c7cc39d3",
     "an after-request function; its wrap of handle_user_exception adds the headers once, as that function does"),
    # inprocess._DirectRequest: the form loading of a body that is no form, and root_url, as these answer
    ("werkzeug.wrappers.request", "Request._load_form_data", "414ee769eaf85763",
     "the stream for parsing and two empty dicts, for a mimetype the parser does not parse"),
    ("werkzeug.formparser", "FormDataParser.parse", "48d9a5343f4d7c4a", "parses multipart and urlencoded only"),
    ("flask.wrappers", "Request._load_form_data", "c1077bc9e557c041", "in debug mode, files get a class of their own"),
    ("flask.debughelpers", "attach_enctype_error_multidict", "209d6857ee6eab39",
     "that class changes only the KeyError of a key that is in the form"),
    ("werkzeug.sansio.request", "Request.root_url", "c1849fb08810839d", "scheme, host and root path only"),
]


# -- dynamodb_update: moto's UpdateItem, copied with the parsing kept by text and unread copies skipped --
DDB = "moto.dynamodb"
COPIED_BY_DYNAMODB_UPDATE = [
    (f"{DDB}.responses", "DynamoHandler.update_item", "b99bd1628a4d300f",
     "copied by dynamodb_update.handler_update_item"),
    (f"{DDB}.models", "DynamoDBBackend.update_item", "d8e4e02a421005da",
     "copied by dynamodb_update.backend_update_item"),
    (f"{DDB}.parsing.validators", "Validator.__init__", "dfd8cf0e78950531",
     "copied by dynamodb_update._validated (its deep copy of the tree made by dynamodb_update._deepcopy)"),
    (f"{DDB}.parsing.validators", "Validator.validate", "82a132ef80cf8c97",
     "copied by dynamodb_update._validated (on its own copy of the tree: dynamodb_update.parsed shares the parsed one)"),
    (f"{DDB}.parsing.ast_nodes", "DepthFirstTraverser.traverse", "8525da85120e2c89",
     "copied by dynamodb_update._Walk.traverse"),
    (f"{DDB}.parsing.ast_nodes", "DepthFirstTraverser.traverse_node_recursively", "6d488dfca00e6927",
     "copied by dynamodb_update._Walk.traverse"),
    (f"{DDB}.parsing.ast_nodes", "DepthFirstTraverser.process", "e400bbac4142ff2b",
     "its first matching map entry is what dynamodb_update._Walk._handler keeps per node type"),
    (f"{DDB}.parsing.ast_nodes", "DepthFirstTraverser.nodes_to_be_processed", "e400de7ddde69820",
     "the map's keys, which dynamodb_update._Walk takes once"),
    (f"{DDB}.parsing.ast_nodes", "DepthFirstTraverser.pre_processing_of_child", "ec59e00991286af2",
     "does nothing: dynamodb_update._Walk calls only a processor's own"),
    (f"{DDB}.parsing.validators", "UpdateExpressionValidator.get_ast_processors", "d4a2948030a21151",
     "called by dynamodb_update._validated, which skips the _ITEM_FREE ones a tree passed"),
    (f"{DDB}.parsing.expressions", "UpdateExpressionParser.make", "64c08be4650ed404",
     "its tree depends on the text alone: dynamodb_update.parsed keeps it by text"),
    (f"{DDB}.parsing.ast_nodes", "Node.__init__", "ed51150343ed81bb",
     "a node is its attributes (children, parent, type): dynamodb_update._deepcopy copies them"),
    (f"{DDB}.parsing.ast_nodes", "Node.find_clauses", "d552da49b8150f79",
     "reads the shared parsed tree without changing it (dynamodb_update.parsed)"),
    (f"{DDB}.models.dynamo_type", "Item.to_json", "37454a65ca8f1b42",
     "builds new containers: dynamodb_update writes out the live item where moto writes out a deep copy"),
    (f"{DDB}.models.dynamo_type", "DynamoType.to_regular_json", "1884d81a13210c1c",
     "deep-copies nested values for Item.to_json (as above)"),
    (f"{DDB}.comparisons", "ConditionExpressionParser.parse", "3634b2bc002a08a9",
     "reads only the text, names and values it was made with: the backend takes the handler's parse "
     "(dynamodb_update._held_condition)"),
    (f"{DDB}.comparisons", "ConditionExpressionParser.__init__", "895f351cc1ed0615", "as above"),
    (f"{DDB}.comparisons", "create_condition_expression_parser", "65ae5d6d70e4b8cb", "as above"),
    (f"{DDB}.comparisons", "ConditionExpressionParser._make_operand", "44fb255f69aac7d1",
     "a name's attribute goes into the tree only as an AttributePath's element: dynamodb_update._renamed"),
    (f"{DDB}.comparisons", "AttributePath.__init__", "3c3c34dd92bdc122", "its path is all it holds (_renamed)"),
    (f"{DDB}.comparisons", "AttributePath._get_attr", "e3a858fc0ad4d4b5", "reads only its path (_renamed)"),
    (f"{DDB}.comparisons", "Op.__init__", "14c2bd0fcc6b84c4", "its operands are attributes: _renamed copies them"),
    (f"{DDB}.comparisons", "Func.__init__", "2326cd0841ca6551", "its arguments are a tuple: _renamed copies them"),
    (f"{DDB}.parsing.validators", "ActionCountValidator.verify_action_counts", "298d5ae6c4b09ba6",
     "reads the tree alone and returns its node: dynamodb_update._ITEM_FREE"),
    (f"{DDB}.parsing.validators", "OverlappingPathsValidator.check_for_overlapping_paths", "5ec37f3344d8fe4c",
     "reads the tree and the names and returns its node: dynamodb_update._ITEM_FREE"),
    (f"{DDB}.parsing.validators", "UpdateHashRangeKeyValidator.check_for_hash_or_range_key", "debe77ace15d27ce",
     "reads the tree, the names and the key attributes and returns its node: dynamodb_update._ITEM_FREE"),
    # dynamodb_update._plain_validated does what these do to a plain tree, or calls them
    (f"{DDB}.parsing.validators", "ExpressionAttributeValueProcessor.replace_expression_attribute_value_with_value",
     "67a18214163b8a0f", "done by _plain_validated: DDBTypedValue(DynamoType(value)), or the error of a missing one"),
    (f"{DDB}.parsing.validators", "ExpressionAttributeResolvingProcessor.pre_processing_of_child", "8bf448cc40bd0f62",
     "a SET action's path (its first child) and a REMOVE's path are not resolved as values"),
    (f"{DDB}.parsing.validators", "ExpressionAttributeResolvingProcessor.process_expression_path_node",
     "3bbf2a1693ac306a", "done by _plain_validated: a path that cannot be created is the error"),
    (f"{DDB}.parsing.validators", "ExpressionAttributeResolvingProcessor.resolve_expression_path", "27e7cf00c54abefa",
     "as above, through ExpressionPathResolver"),
    (f"{DDB}.parsing.validators", "ExpressionPathResolver.resolve_expression_path", "c46f01097af0c9ad",
     "called by _plain_validated"),
    (f"{DDB}.parsing.validators", "ExecuteOperations.process_update_expression_value", "fd778f374a2a1f8b",
     "a one-child value is replaced by its child: _plain_validated gives the SET action its typed value"),
    (f"{DDB}.parsing.validators", "TypeMismatchValidator.check_for_type_mismatch", "e99bf7c904f0e198",
     "called by _plain_validated on each SET action"),
    (f"{DDB}.parsing.validators", "EmptyStringKeyValueValidator.check_for_empty_string_key_value", "47405d6ae4f98487",
     "called by _plain_validated on each SET action"),
    (f"{DDB}.parsing.ast_nodes", "Node.normalize", "c151ababde71441e",
     "reads the actions of the root _plain_validated builds (find_clauses) and orders them"),
    (f"{DDB}.parsing.executors", "NodeExecutor.get_action_value", "f99cfda693ec77c7",
     "reads a SET action's second child: the typed value _plain_validated puts there"),
    (f"{DDB}.parsing.executors", "NodeExecutor.get_path_expression_nodes", "cbb6a013aa787b13",
     "reads an action's path, shared with the parsed tree, without changing it"),
    (f"{DDB}.parsing.executors", "UpdateExpressionExecutor.execute", "9a75522454601bd5",
     "runs the root _plain_validated builds, child by child"),
] + [
    # each a literal of the processor's own bound methods, which dynamodb_update._Walk builds once per walk
    (f"{DDB}.parsing.validators", f"{processor}._processing_map", digest, "read once per walk by dynamodb_update._Walk")
    for processor, digest in [
        ("ActionCountValidator", "b0f73cb16f977c69"), ("OverlappingPathsValidator", "f9df4542109f8eb4"),
        ("UpdateHashRangeKeyValidator", "f09a5534421c8bd9"), ("ExpressionAttributeValueProcessor", "6e46d74a12afe771"),
        ("ExpressionAttributeResolvingProcessor", "3a2569babb4a9f92"),
        ("UpdateExpressionFunctionEvaluator", "024dcc37b0af8613"), ("NoneExistingPathChecker", "bdcff7de7d2d4758"),
        ("ExecuteOperations", "4975cef2ca3275a2"), ("TypeMismatchValidator", "a36836b861e8759c"),
        ("EmptyStringKeyValueValidator", "45d3e2d69744c6a8")]
]


# inprocess._DirectCalls makes a JSON-protocol call with these steps of botocore's, and skips the rest.
DIRECT_CALLS = [
    ("botocore.client", "BaseClient._make_api_call", "92aaecbfe8af56c6",
     "the pipeline _DirectCalls takes the steps of: parameters, serializer, before-call, request, after-call"),
    ("botocore.client", "BaseClient._emit_api_params", "45a6d2638df43242", "provide-client-params, before-parameter-build"),
    ("botocore.client", "BaseClient._convert_to_request_dict", "efaaf7c080dca22a", "the serializer's request dict, User-Agent"),
    ("botocore.endpoint", "Endpoint._send_request", "d73b3f70a533062f", "RetryAttempts of a first attempt's answer: 0"),
    ("botocore.endpoint", "Endpoint._do_get_response", "68bf814cf1b08cc1", "the parser given a response dict"),
    ("botocore.endpoint", "convert_to_response_dict", "df0e30abdfe11ee3", "headers, status_code, body, context"),
    ("botocore.signers", "RequestSigner.sign", "77391ea75d9d2fb0", "the before-sign event _DirectCalls emits"),
    ("botocore.handlers", "generate_idempotent_uuid", "2460cab92d4c77a3", "called by _DirectCalls"),
    ("botocore.handlers", "_handle_request_validation_mode_member", "da298b530732fe30", "S3's checksums only: skipped"),
    ("botocore.handlers", "add_recursion_detection_header", "d35febb3f71ee9dd", "AWS Lambda only: skipped"),
]


@pytest.mark.parametrize("package", ["flask", "werkzeug", "flask-cors", "boto3", "botocore"])
def test_packages_whose_internals_emulators_relies_on_are_the_pinned_versions(package):
    from importlib.metadata import version

    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    pins = {line.split("==")[0].strip().lower(): line.split("==")[1].strip()
            for line in cfg["options"]["install_requires"].splitlines() if "==" in line}
    assert pins.get(package) == version(package), (
        f"setup.cfg pins {package}=={pins.get(package)} but {version(package)} is installed: check the pins of "
        "tests/test_moto_pin.py before moving it")


def test_every_write_of_an_item_goes_through_what_dynamodb_index_follows():
    """dynamodb_index follows Table.put_item, Table.delete_item and DynamoDBBackend.update_item (in place): every
    other writer of items must call them, and a table's items must keep the layout it reads."""
    _, init = stock("moto.dynamodb.models.table", "Table.__init__")
    assert "self.items = defaultdict(dict)" in init
    _, batch = stock("moto.dynamodb.responses", "DynamoHandler.batch_write_item")
    assert "self.dynamodb_backend.put_item(table_name, item)" in batch
    assert "self.dynamodb_backend.delete_item(table_name, keys)" in batch
    _, put = stock("moto.dynamodb.models", "DynamoDBBackend.put_item")
    assert "return table.put_item(" in put
    _, delete = stock("moto.dynamodb.models", "DynamoDBBackend.delete_item")
    assert "return table.delete_item(hash_value, range_value)" in delete
    _, partiql = stock("moto.dynamodb.models", "DynamoDBBackend.execute_statement")
    assert partiql.count("table.put_item(after)") == 2 and "table.delete_item(hash_key, range_key)" in partiql
    _, imported = stock("moto.dynamodb.models.table_import", "TableImport._process_s3_files")
    assert "self.table.put_item(item_attrs=" in imported  # from its own thread: the side index starts again
    for restored, source in (("RestoredTable", "backup.table"), ("RestoredPITTable", "source")):
        _, init = stock("moto.dynamodb.models.table", f"{restored}.__init__")
        assert f"self.items = copy.deepcopy({source}.items)" in init  # a new table object: no side index yet
    # where moto changes items in place: only in update_item (its executor, or AttributeUpdates)
    root = os.path.join(os.path.dirname(moto.__file__), "dynamodb")
    in_place = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    text = f.read()
                for call in ("UpdateExpressionExecutor(", ".update_with_attribute_updates(", "self.items = ",
                             "table.items["):
                    in_place += [(os.path.relpath(f.name, root), call)] * text.count(call)
    assert sorted(in_place) == sorted([
        ("models/__init__.py", "UpdateExpressionExecutor("), ("models/__init__.py", ".update_with_attribute_updates("),
        *[("models/table.py", "self.items = ")] * 4]), in_place  # Table, RestoredTable, RestoredPITTable, StreamShard


SFN_PARSER = "moto.stepfunctions.parser"
# sfn_parse_cache shares one parse per definition and per JSONPath: these make or read those parses.
SHARED_PARSES = [
    (f"{SFN_PARSER}.backend.execution_worker", "ExecutionWorker.__init__", "068d8aa66a71e761", "wrapped by sfn_parse_cache._init"),
    (f"{SFN_PARSER}.backend.execution_worker", "ExecutionWorker._get_evaluation_entrypoint", "16b6c3164e313554",
     "replaced by sfn_parse_cache._entrypoint for the harness's executions"),
    (f"{SFN_PARSER}.asl.parse.asl_parser", "AmazonStateLanguageParser.parse", "a247b919a584eae9", "called once per definition"),
    (f"{SFN_PARSER}.asl.component.eval_component", "EvalComponent.heap_key", "b03800e963968083",
     "made for every component before a parse is shared"),
    (f"{SFN_PARSER}.asl.utils.json_path", "extract_json", "0d79f1ca93a4d5f2", "calls the module's `parse`, which is cached"),
    (f"{SFN_PARSER}.asl.component.common.path.result_path", "ResultPath._eval_body", "63888dfe47fa6569",
     "calls the module's `parse`, which is cached"),
]


#: Every body pinned since the first list (COPIED), with the extension that copies, wraps or relies on it.
PINNED_SINCE = COPIED_SINCE + DIRECT_DISPATCH + COPIED_BY_DYNAMODB_UPDATE + DIRECT_CALLS + SHARED_PARSES


@pytest.mark.parametrize("module, qualname, digest, use", PINNED_SINCE, ids=[c[1] for c in PINNED_SINCE])
def test_bodies_that_newer_extensions_copy_wrap_or_rely_on_are_unchanged(module, qualname, digest, use):
    test_bodies_that_emulators_copies_or_replaces_are_unchanged(module, qualname, digest, use)
