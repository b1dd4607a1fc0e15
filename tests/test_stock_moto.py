"""A user's own `mock_aws` test keeps stock moto after the harness's emulator has run in the same process.

The check runs in a child process: `mock_aws` resets every moto backend of its process
(the embedded service's included), which must not reach the other tests of this session.
"""

import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws
    from emulators import EmbeddedAWS

    ROLE = "arn:aws:iam::123456789012:role/states"
    PASS = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    folder = sys.argv[1]
    out = {}

    def until(check, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value is not None:
                return value
            time.sleep(0.05)
        return "still waiting"

    def exercise(make, tag, settle):
        """The same calls on the emulator and in a mock: return what a user would look at."""
        sfn = make("stepfunctions")
        arn = sfn.create_state_machine(name="m", definition=PASS, roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, name="e")["executionArn"]
        # An executing backend ends the Pass machine; stock moto leaves it RUNNING for good.
        status = lambda: sfn.describe_execution(executionArn=execution)["status"]
        result = {"execution": until(lambda: None if status() == "RUNNING" else status(), settle)}
        result["execution"] = status()
        sfn.create_activity(name="twice")
        try:
            sfn.create_activity(name="twice")
            result["create_activity_twice"] = "same ARN"
        except ClientError as exc:
            result["create_activity_twice"] = exc.response["Error"]["Code"]
        iam, batch = make("iam"), make("batch")
        role = iam.create_role(RoleName="batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        batch.create_compute_environment(computeEnvironmentName="compute", type="UNMANAGED", state="ENABLED",
                                         serviceRole=role)
        batch.create_job_queue(jobQueueName="queue", state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "compute"}])
        marker = os.path.join(folder, tag)
        definition = batch.register_job_definition(
            jobDefinitionName="definition", type="container",
            containerProperties={"image": "local", "command": [sys.executable, "-c",
                                                               f"open({marker!r}, 'w').write('ran')"],
                                 "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                                          {"type": "MEMORY", "value": "128"}]})
        job = batch.submit_job(jobName="job", jobQueue="queue", jobDefinition=definition["jobDefinitionArn"])["jobId"]
        result["batch_job"] = until(lambda: (lambda s: s if s in ("SUCCEEDED", "FAILED") else None)(
            batch.describe_jobs(jobs=[job])["jobs"][0]["status"]))
        result["batch_command_ran"] = os.path.exists(marker)
        return result

    with EmbeddedAWS() as aws:
        out["emulator"] = exercise(lambda service: boto3.client(
            service, endpoint_url=aws.endpoint, region_name="us-east-1",
            aws_access_key_id=aws.credentials.access_key_id,
            aws_secret_access_key=aws.credentials.secret_access_key), "emulator", 30)
        with mock_aws():
            out["mock_aws"] = exercise(lambda service: boto3.client(service, region_name="us-east-1"), "mock", 1)
    print(json.dumps(out))
''')


def test_a_plain_mock_aws_test_is_stock_moto_after_the_emulator_ran(tmp_path):
    """moto's documented defaults for `mock_aws`: state machines are not executed unless
    `execute_state_machine` is set, CreateActivity with a taken name raises ActivityAlreadyExists,
    and Batch runs a job's container in Docker (never the `command` as a local process). The
    harness's emulator, which has just done all three differently in the same process, changes none.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["emulator"] == {"execution": "SUCCEEDED", "create_activity_twice": "same ARN",
                               "batch_job": "SUCCEEDED", "batch_command_ran": True}
    assert out["mock_aws"]["execution"] == "RUNNING"
    assert out["mock_aws"]["create_activity_twice"] == "ActivityAlreadyExists"
    assert out["mock_aws"]["batch_command_ran"] is False and out["mock_aws"]["batch_job"] != "SUCCEEDED"
