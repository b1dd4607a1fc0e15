"""Scenarios: validation that names file and line, the runner, and `harness run` as users call it."""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.cli_run import select
from harness.runner import run_scenario
from harness.scenario import ScenarioError, load, load_dict, loads

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
DOCUMENTED = SCENARIOS / "documented_sequence.scenario.yaml"


def documented_text() -> str:
    return DOCUMENTED.read_text()


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based line of the nth line holding `needle`."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth]


def broken(tmp_path, old: str, new: str) -> Path:
    """A copy of the documented scenario with one edit, next to a copy of nothing else."""
    text = documented_text()
    assert old in text, old
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


# -- validation: every problem names the file, the line and what was expected ------------------
BROKEN = {
    "bad YAML": ("timeout: 20", "timeout: 20: seconds", "timeout: 20: seconds", "invalid YAML"),
    "unknown key": ("    as: request\n", "    as: request\n    retries: 3\n", "retries: 3", "unknown key 'retries'"),
    "wrong type": ("timeout: 20", "timeout: soon", "timeout: soon", "'timeout' of the scenario must be a positive"),
    "undeclared worker": ("          Resource: worker:extract\n          Parameters: {text.$: $.text, stage: 2}",
                          "          Resource: worker:extractor\n          Parameters: {text.$: $.text, stage: 2}",
                          "Resource: worker:extractor", "runs worker 'extractor', which the scenario does not declare"),
    "undeclared job": ("request: {job: two-step,", "request: {job: three-step,", "three-step",
                       "requests job 'three-step', which the scenario does not declare"),
    "unknown status": ("wait: {request: \"${request}\", status: FULFILLED}", "wait: {request: \"${request}\", status: DONE}",
                       "status: DONE", "'status' of step 4 (wait) must be one of PENDING, FULFILLED, FAILED"),
    "undefined variable": ("key: \"${done.output.result}\"", "key: \"${finished.output.result}\"",
                           "${finished.output.result}", "'finished' is not defined at this point"),
    "unknown worker step": ("      - start\n", "      - begin\n", "      - begin", "unknown scripted step 'begin'"),
    "duplicate key": ("timeout: 20\n", "timeout: 20\ntimeout: 30\n", "timeout: 30", "duplicate key 'timeout'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_scenario_names_its_file_line_and_problem(tmp_path, case):
    old, new, marker, words = BROKEN[case]
    path = broken(tmp_path, old, new)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == line_of(path.read_text(), marker)
    assert words in error.message
    assert str(error) == f"{path}:{error.line}: {error.message}"


def test_a_bad_scenario_file_exits_2_before_anything_runs(tmp_path):
    path = broken(tmp_path, "timeout: 20", "timeout: soon")
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{line_of(path.read_text(), 'timeout: soon')}:" in result.output
    assert "service ready" not in result.output


def test_bad_usage_exits_2(tmp_path):
    assert CliRunner().invoke(main, ["run", str(tmp_path / "missing.yaml")]).exit_code == 2
    no_match = CliRunner().invoke(main, ["run", str(DOCUMENTED), "-k", "nothing-is-named-so"])
    assert no_match.exit_code == 2
    assert "no scenario matches" in no_match.output
    assert CliRunner().invoke(main, ["run"]).exit_code == 2


def test_every_scenario_in_the_project_loads():
    scenarios = load(SCENARIOS)
    names = [s.name for s in scenarios]
    assert "documented sequence" in names
    assert len(names) == len(set(names)) >= 6


def test_a_file_holds_several_scenarios_and_a_job_can_come_from_a_file():
    crash = load(SCENARIOS / "crash.scenario.yaml")
    assert [s.name for s in crash] == ["crash fails the job", "crash caught by the state machine"]
    fan_out = load(SCENARIOS / "parallel_map.scenario.yaml")[0].jobs["fan-out"]
    assert fan_out.workers == ["count", "diagram", "square"]


def test_an_asl_file_that_is_missing_is_named_with_its_line(tmp_path):
    text = "workers: {w: {command: [python, -c, pass]}}\njobs:\n  j: {file: nowhere.json}\nsteps: [{request: {job: j}}]\n"
    with pytest.raises(ScenarioError) as caught:
        loads(text, str(tmp_path / "s.yaml"))
    assert caught.value.line == 3
    assert "nowhere.json" in caught.value.message


def test_a_scenario_from_a_dict_is_validated_too():
    with pytest.raises(ScenarioError, match="needs exactly one of command, callable, scripted"):
        load_dict({"workers": {"w": {}}, "steps": [{"register": "all"}]}, "inline")
    scenario = load_dict({"steps": [{"sleep": 0}]}, "inline")
    assert scenario.path == "inline" and len(scenario.steps) == 1


def test_k_selects_by_name_and_not_excludes():
    scenarios = load(SCENARIOS)
    assert [s.name for s in select(scenarios, "DOCUMENTED")] == ["documented sequence"]
    assert "documented sequence" not in [s.name for s in select(scenarios, "not documented")]
    assert select(scenarios, None) == scenarios


# -- running -----------------------------------------------------------------------------------
def test_the_documented_scenario_passes_step_by_step(service):
    lines = []
    result = run_scenario(load(DOCUMENTED)[0], service, say=lines.append)
    assert result.passed, result.format_failure()
    assert result.failure is None and result.format_failure() == ""
    assert all(step.ok for step in result.steps)
    assert [s.name for s in result.steps][:3] == ["Client registers the worker", "Client registers the job",
                                                  "User requests the job"]
    assert any(line.startswith("  ok") and "job COMPLETED" in line for line in lines)
    assert lines[-1].startswith("PASSED documented sequence")
    assert result.events and result.seconds > 0


def test_a_wrong_expected_status_fails_with_expected_actual_and_the_sequence(service, tmp_path):
    path = broken(tmp_path, "      status: COMPLETED\n", "      status: FAILED\n")
    result = run_scenario(load(path)[0], service)
    assert not result.passed
    failure = result.failure
    assert failure.step == "job COMPLETED"
    assert failure.expected["status"] == "FAILED"
    assert failure.actual["status"] == "COMPLETED"
    assert f"{path}:{line_of(path.read_text(), 'name: job COMPLETED')}:" in failure.message
    report = result.format_failure()
    assert "expected:" in report and "actual:" in report
    assert "observed sequence" in report and "Worker -> Worker Manager: POST /v2/worker/finish" in report
    assert [s.ok for s in result.steps][-1] is False


def test_variables_are_captured_and_a_callable_worker_failure_is_the_job_error(service):
    scenario = load_dict({
        "workers": {"refuser": {"callable": "workers.callables:refuse"}},
        "jobs": {"once": {"definition": {"StartAt": "Run", "States": {
            "Run": {"Type": "Task", "Resource": "urn:jobservice:worker:refuser", "End": True}}}}},
        "steps": [
            {"request": {"job": "once", "input": {"n": 1}}, "as": "request"},
            {"wait": {"request": "${request}", "status": "FULFILLED"}, "capture": {"job": "job"}},
            {"expect": {"job": "${job}", "input": {"n": 1}}},
            {"wait": {"job": "${job}", "status": "FAILED",
                      "error": {"error": "Worker.ValueError", "cause": "re:refuses every input"}}},
        ]}, str(SCENARIOS / "inline.yaml"))
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()



@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.scenario.yaml") if p.name != DOCUMENTED.name))
def test_every_scenario_in_the_project_passes(service, name):
    for scenario in load(SCENARIOS / name):
        result = run_scenario(scenario, service)
        assert result.passed, result.format_failure()


def test_the_documented_example_passes_as_written(service, tmp_path):
    text = (ROOT / "docs" / "how-to" / "scenarios.md").read_text()
    example = next(block for block in re.findall(r"```yaml\n(.*?)```", text, re.S)
                   if block.startswith("# example.yaml"))
    path = tmp_path / "example.yaml"
    path.write_text(example)
    result = run_scenario(load(path)[0], service)
    assert result.passed, result.format_failure()


# -- the command, as a user runs it ------------------------------------------------------------
def harness(*args, cwd=ROOT, timeout=120):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_harness_run_passes_the_documented_sequence_and_exits_0():
    done = harness("run", "scenarios/documented_sequence.scenario.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conformance with the documented sequence" in done.stdout
    assert "PASSED: 1 passed, 0 failed" in done.stdout


def test_harness_run_keeps_going_exits_1_and_writes_junit_trace_and_diagram(tmp_path):
    bad = broken(tmp_path, "      status: COMPLETED\n", "      status: CANCELLED\n")
    junit, trace, diagram = tmp_path / "junit.xml", tmp_path / "trace.json", tmp_path / "run.html"
    done = harness("run", str(bad), str(DOCUMENTED), "--keep-going", "--junit-xml", str(junit),
                   "--trace", str(trace), "--diagram", str(diagram))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED: 1 passed, 1 failed" in done.stdout
    assert "expected: " in done.stdout and "CANCELLED" in done.stdout
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("classname") for case in failed] == [str(bad)]
    document = json.loads(trace.read_text())
    assert [s["passed"] for s in document["scenarios"]] == [False, True]
    assert all(s["events"] for s in document["scenarios"])
    assert "sequenceDiagram" in diagram.read_text()


def test_without_keep_going_the_run_stops_at_the_first_failure(tmp_path):
    bad = broken(tmp_path, "      status: COMPLETED\n", "      status: CANCELLED\n")
    junit = tmp_path / "junit.xml"
    done = harness("run", str(bad), str(DOCUMENTED), "--junit-xml", str(junit))
    assert done.returncode == 1
    assert "1 not run" in done.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("skipped") == "1"


# -- a failure leads with its cause ------------------------------------------------------------
CRASH = """
name: crash probe
timeout: 20
workers:
  crasher:
    command: [python, -c, "import sys; print('loading the model', file=sys.stderr); sys.exit(3)"]
jobs:
  one-step:
    definition:
      StartAt: Crash
      States:
        Crash: {Type: Task, Resource: worker:crasher, End: true}
steps:
  - request: {job: one-step}
    as: request
  - wait: {request: "${request}", status: FULFILLED}
    capture: {job: job}
  - wait: {job: "${job}", status: COMPLETED}
"""


def test_a_crashed_worker_is_reported_cause_first_with_step_exit_code_and_stderr(service, tmp_path):
    path = tmp_path / "crash.scenario.yaml"
    path.write_text(CRASH)
    result = run_scenario(load(path)[0], service)
    assert not result.passed
    report = result.format_failure()
    first = report.splitlines()[0]
    assert first == result.reason()
    assert first.startswith("worker crasher (step Crash, attempt 1) FAILED: Worker.Exited, exit code 3")
    assert "stderr: loading the model" in first and "expected COMPLETED" in first
    assert "    exit code: 3" in report and "      loading the model" in report
    assert re.search(r"failed at step 'wait for job urn:jobservice:job:\w+ COMPLETED'", report)
    sequence = report.split("observed sequence", 1)[1]
    assert "SendTaskFailure" in sequence and "GET /v2/jobs" not in sequence  # no polling by default
    assert "DescribeJobs" not in sequence  # no housekeeping
    assert "GET /v2/jobs" in result.format_failure(full=True)


def test_harness_run_prints_a_failure_once_cause_first(tmp_path):
    path = tmp_path / "crash.scenario.yaml"
    path.write_text(CRASH)
    done = harness("run", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("observed sequence") == 1
    assert done.stdout.count("FAILED: Worker.Exited, exit code 3") == 2  # the report's first line and the summary
    assert "  failed: crash probe" in done.stdout


def test_run_job_with_expect_raises_the_cause(service, tmp_path):
    from harness.errors import HarnessError, JobFailed

    client = service.client() if hasattr(service, "client") else None
    from harness.client import Client

    client = client or Client(service.url)
    suffix = os.urandom(3).hex()
    worker = client.register_worker(f"crasher-{suffix}", command=[
        sys.executable, "-c", "import sys; print('no input for me', file=sys.stderr); sys.exit(2)"])
    job = client.register_job(f"crash-{suffix}", {"StartAt": "Only", "States": {
        "Only": {"Type": "Task", "Resource": worker["urn"], "End": True}}})
    with pytest.raises(JobFailed) as caught:
        client.run_job(job["urn"], {}, expect="COMPLETED")
    message = str(caught.value)
    assert isinstance(caught.value, HarnessError)
    assert message.startswith(f"worker crasher-{suffix} (step Only, attempt 1) FAILED: Worker.Exited, exit code 2")
    assert "no input for me" in message
    assert caught.value.resource["status"] == "FAILED"


# -- load-time checks --------------------------------------------------------------------------
def test_a_missing_command_script_or_callable_module_is_found_at_load_time(tmp_path):
    path = tmp_path / "s.scenario.yaml"
    path.write_text("workers:\n  w:\n    command: [python, workers/nowhere.py]\nsteps: [{sleep: 0}]\n")
    with pytest.raises(ScenarioError) as caught:
        load(path)
    assert caught.value.line == 3 and "'workers/nowhere.py', which does not exist" in caught.value.message
    path.write_text("workers:\n  w:\n    callable: nowhere_at_all.mod:run\nsteps: [{sleep: 0}]\n")
    with pytest.raises(ScenarioError) as caught:
        load(path)
    assert caught.value.line == 3 and "module 'nowhere_at_all.mod'" in caught.value.message
    path.write_text("workers:\n  w:\n    command: [no-such-program-here]\nsteps: [{sleep: 0}]\n")
    with pytest.raises(ScenarioError, match="'no-such-program-here', which is not on PATH"):
        load(path)
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "there.py").write_text("")
    path.write_text("workers:\n  w: {command: [python, workers/there.py]}\n  c: {callable: workers.there:f}\n"
                    "steps: [{sleep: 0}]\n")
    assert load(path)[0].workers["w"].kind == "command"


@pytest.mark.parametrize("typo, suggestion, line", [
    ("workers:\n  w:\n    comand: [python, -c, pass]\nsteps: [{sleep: 0}]\n", "command", 3),
    ("steps:\n  - sleep: 0\n    nmae: x\n", "name", 3),
    ("workers:\n  w:\n    scripted: [strat]\nsteps: [{sleep: 0}]\n", "start", 3),
])
def test_an_unknown_key_gets_a_did_you_mean(tmp_path, typo, suggestion, line):
    with pytest.raises(ScenarioError) as caught:
        loads(typo, str(tmp_path / "t.scenario.yaml"))
    assert f"(did you mean {suggestion!r}?)" in caught.value.message
    assert caught.value.line == line


# -- what a scenario file is, and the command line ---------------------------------------------
def test_a_directory_run_takes_scenario_files_recursively_and_nothing_else(tmp_path):
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "one.scenario.yaml").write_text("name: one\nsteps: [{sleep: 0}]\n")
    (tmp_path / "two.scenario.yaml").write_text("name: two\nsteps: [{sleep: 0}]\n")
    (tmp_path / "machine.yaml").write_text("StartAt: A\nStates: {A: {Type: Pass, End: true}}\n")  # an ASL file
    assert sorted(s.name for s in load(tmp_path)) == ["one", "two"]
    listed = CliRunner().invoke(main, ["run", "--list", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert f"{tmp_path / 'deep' / 'er' / 'one.scenario.yaml'}:1: one" in listed.output
    assert "2 scenario(s)" in listed.output and "service ready" not in listed.output
    plain = CliRunner().invoke(main, ["run", "--list", "--pattern", "machine.yaml", str(tmp_path)])
    assert plain.exit_code == 2 and "machine.yaml:1:" in plain.output  # the ASL is no scenario


def test_version_and_help_with_examples_and_exit_codes():
    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0 and re.fullmatch(r"harness \S+\n", version.output)
    helped = CliRunner().invoke(main, ["run", "--help"])
    assert "Examples:" in helped.output and "Exit codes:" in helped.output and "--url" in helped.output
    top = CliRunner().invoke(main, ["--help"])
    for line in top.output.split("Commands:", 1)[1].strip().splitlines():
        assert not line.rstrip().endswith("..."), line  # no summary cut off
    for command in ("provision", "teardown"):
        assert "--redis-url" not in CliRunner().invoke(main, [command, "--help"]).output


def test_harness_run_url_runs_against_a_service_already_running(service, tmp_path):
    path = tmp_path / "remote.scenario.yaml"
    path.write_text(DOCUMENTED.read_text())
    done = CliRunner().invoke(main, ["run", "--url", service.url, str(path)])
    assert done.exit_code == 0, done.output
    assert f"service ready ({service.url})" in done.output
    assert "PASSED: 1 passed" in done.output
    nobody = CliRunner().invoke(main, ["run", "--url", "http://127.0.0.1:9", str(path)])
    assert nobody.exit_code == 3 and "no Job Service answers at http://127.0.0.1:9" in nobody.output


def test_a_wait_whose_condition_holds_already_does_not_wait_for_a_change(service):
    """The worker changes nothing until it gets the signal the step after these waits sends: a wait that
    long-polled for a change before looking would sit out its whole time, and the task its timeout."""
    scenario = load_dict({
        "timeout": 12,
        "workers": {"held": {"scripted": ["start", {"wait": "go"}, {"finish": {"output": {"ok": True}}}]}},
        "jobs": {"once": {"definition": {"StartAt": "Run", "States": {
            "Run": {"Type": "Task", "Resource": "worker:held", "TimeoutSeconds": 10, "End": True}}}}},
        "steps": [
            {"register": "held"}, {"register": "once"},
            {"request": {"job": "once", "input": {}}, "as": "request"},
            {"wait": {"request": "${request}", "status": "FULFILLED"}, "capture": {"job": "job"}},
            {"wait": {"job": "${job}", "status": "RUNNING", "where": {"workers.0.status": "RUNNING"}}},
            {"wait": {"job": "${job}", "status": "RUNNING", "where": {"workers.0.status": "RUNNING"}}},
            {"wait": {"job": "${job}", "status": "RUNNING", "where": {"workers.0.status": "RUNNING"}}},
            {"signal": "go"},
            {"wait": {"job": "${job}", "status": "COMPLETED", "output": {"ok": True}}},
        ]}, str(SCENARIOS / "inline.yaml"))
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()
