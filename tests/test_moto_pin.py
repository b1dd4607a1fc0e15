"""emulators/ extends moto's internals: fail loudly, naming what changed, when an upgrade breaks them."""

import configparser
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


def params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


@pytest.mark.parametrize("owner, name, expected", [
    ("moto.stepfunctions.parser.models:StepFunctionsParserBackend", "start_execution",
     ["self", "state_machine_arn", "name", "execution_input", "trace_header"]),
    ("moto.stepfunctions.parser.backend.execution:Execution", "__init__",
     ["self", "name", "sm_type", "role_arn", "exec_arn", "account_id", "region_name", "state_machine",
      "start_date", "cloud_watch_logging_session", "activity_store", "input_data", "trace_header"]),
    ("moto.stepfunctions.parser.asl.eval.callback.callback:CallbackPoolManager", "add_activity_task",
     ["self", "callback_id", "activity_arn", "activity_input"]),
    ("moto.stepfunctions.parser.asl.eval.callback.callback:CallbackPoolManager", "notify",
     ["self", "callback_id", "outcome"]),
    ("moto.stepfunctions.parser.asl.eval.callback.callback:ActivityCallbackEndpoint",
     "notify_activity_task_start", ["self", "worker_name"]),
    ("moto.stepfunctions.parser.backend.activity:Activity", "__init__", ["self", "arn", "name", "creation_date"]),
    ("moto.batch.models:Job", "_get_container_property", ["self", "p", "default"]),
    ("moto.batch.models:Job", "_add_parameters_to_command", ["self", "command"]),
    ("moto.batch.models:Job", "_mark_stopped", ["self", "success"]),
    ("moto.batch.models:Job", "_start_attempt", ["self"]),
    ("moto.batch.models:Job", "_container_details", ["self"]),
    ("moto.moto_server.threaded_moto_server:ThreadedMotoServer", "__init__",
     ["self", "ip_address", "port", "verbose"]),
    ("moto.moto_server.werkzeug_app:DomainDispatcherApplication", "get_backend_for_host", ["self", "host"]),
    ("moto.stepfunctions.parser.backend.execution:BaseExecutionWorkerCommunication", "_reflect_execution_status",
     ["self"]),
])
def test_internals_the_extension_relies_on_keep_their_signature(owner, name, expected):
    module, cls = owner.split(":")
    obj = getattr(__import__(module, fromlist=[cls]), cls)
    original = getattr(obj, name)
    if name == "_container_details":  # wrapped by emulators.batch_local once installed
        from emulators import batch_local

        original = batch_local._container_details
    if name == "get_backend_for_host":  # cached by emulators.dispatch_cache once installed
        from emulators import dispatch_cache

        original = dispatch_cache._original
    assert params(original) == expected, f"{owner}.{name} changed: {params(original)}"


def test_moto_still_hands_executions_an_empty_activity_store():
    """If moto fixes this itself, emulators/sfn_activities.py's start_execution copy can go."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    assert "activity_store={}" in inspect.getsource(StepFunctionsParserBackend.start_execution)


def test_moto_routes_no_get_activity_task_of_its_own():
    from moto.stepfunctions.responses import StepFunctionResponse

    from emulators import sfn_activities

    sfn_activities.install()
    assert StepFunctionResponse.get_activity_task is sfn_activities._get_activity_task


def test_moto_batch_job_attributes_used_by_the_local_runner_exist():
    from moto.batch.models import Job

    source = inspect.getsource(Job.__init__)
    for attribute in ("self.job_stopped_reason", "self.exit_code", "self.stop", "self.container_overrides",
                      "self.timeout", "self.depends_on", "self._stream_name"):
        assert attribute in source, f"moto.batch.models.Job no longer sets {attribute}"


def test_moto_still_reads_its_module_list_through_moto_backends():
    """emulators/dispatch_cache.py replaces moto.backends.list_of_moto_modules, which the dispatcher calls."""
    from moto.moto_server import werkzeug_app

    source = inspect.getsource(werkzeug_app.DomainDispatcherApplication)
    assert "backends.list_of_moto_modules()" in source
