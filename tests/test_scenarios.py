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
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=env, capture_output=True,
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
