"""No regression against stock moto: the emulator answers moto-like calls as `mock_aws` does.

tests/regression_probe.py runs the same Step Functions, SQS, DynamoDB, S3 and Batch calls
against stock moto (`mock_aws` with `execute_state_machine`) and the harness's emulator, in
a child process. Where they differ, AWS's documented behaviour decides, and the difference
is listed here and in docs/explanation/fidelity.md.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Where the emulator follows the API reference and stock moto does not: (probe, key) -> (emulator, mock_aws).
DOCUMENTED = {
    # StartExecution errors: "InvalidExecutionInput: The provided JSON input data is not valid."
    # moto's executing backend raises it without its error code.
    ("executions", "bad_input"): ({"error": "InvalidExecutionInput"}, {"error": ""}),
    # CreateActivity: "CreateActivity is an idempotent API. Subsequent requests won't create a
    # duplicate resource if it was already created. CreateActivity's idempotency check is based
    # on the activity name."
    ("documented_differences", "create_activity_twice"): ("same ARN", "ActivityAlreadyExists"),
    # CreateStateMachine: "CreateStateMachine's idempotency check is based on the state machine
    # name, definition, type, LoggingConfiguration, TracingConfiguration, and EncryptionConfiguration."
    # (errors: "StateMachineAlreadyExists: A state machine with the same name but a different
    # definition or role ARN already exists.")
    ("documented_differences", "create_state_machine_other_definition"): (
        "StateMachineAlreadyExists", "the old machine"),
    # CreateStateMachine errors: "InvalidDefinition: The provided Amazon States Language definition
    # is not valid." moto's executing backend raises it without its error code.
    ("documented_differences", "invalid_definition"): ("InvalidDefinition", ""),
}


def as_json(value):
    """Execution input and output compared as JSON values (moto re-serialises with spaces)."""
    if isinstance(value, dict):
        return {k: (json.loads(v) if k in ("input", "output") and isinstance(v, str) else as_json(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


def test_the_emulator_answers_as_stock_moto_except_where_aws_documents_otherwise():
    """Each probe's answers on the emulator equal stock moto's, but for the DOCUMENTED cases,
    where the emulator gives what the Step Functions API reference says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "regression_probe.py")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    emulator, mock = as_json(out["emulator"]), as_json(out["mock_aws"])
    assert set(emulator) == set(mock)
    for (probe, key), (on_emulator, on_mock) in DOCUMENTED.items():
        assert (emulator[probe].pop(key), mock[probe].pop(key)) == (on_emulator, on_mock), (probe, key)
    for probe in emulator:
        assert emulator[probe] == mock[probe], probe
    # The probes did observe executed machines (not two empty answers compared).
    assert emulator["executions"]["ok"]["status"] == "SUCCEEDED"
    assert emulator["executions"]["ok"]["output"] == {"sum": 42}
    assert emulator["executions"]["bad"]["error"] == "Told.To"
