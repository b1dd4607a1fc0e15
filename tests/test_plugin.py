"""The pytest plugin, used the way users use it: pytest sessions run with pytester."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

pytest_plugins = ["pytester"]

from test_targets import ministack  # noqa: E402,F401 - the fixture: MiniStack on a free port, or a skip

ROOT = Path(__file__).resolve().parents[1]
PYTEST_HOWTO = ROOT / "docs" / "how-to" / "pytest.md"
# Sessions that start a service run in their own process: moto's state is per process, and
# a second service in this one would share it with the project's own session service.
RUN = ("-p", "no:cacheprovider")


def documented_files(page: Path = PYTEST_HOWTO) -> dict:
    """The examples of a documentation page whose first line names a file: {path: text}."""
    files = {}
    section = page.read_text()
    for block in re.findall(r"```(?:python|yaml|ini)\n(.*?)```", section, re.S):
        first = block.split("\n", 1)[0]
        named = re.fullmatch(r"# (\S+\.(?:py|yaml|ini))", first.strip())
        if named:
            files[named.group(1)] = block
    return files


def write(pytester, files: dict) -> None:
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_plugin_knows_the_same_targets_and_workers_as_the_service():
    from harness import pytest_plugin
    from harness.service import TARGETS, WORKERS

    assert (pytest_plugin.TARGETS, pytest_plugin.WORKERS) == (TARGETS, WORKERS)


def test_the_documented_examples_pass_as_written(pytester):
    files = documented_files()
    assert {"tests/workers/echo.py", "tests/test_echo.py", "tests/conftest.py", "tests/echo.scenario.yaml",
            "tests/test_scenarios.py", "pytest.ini"} <= set(files)
    write(pytester, files)
    result = pytester.runpytest_subprocess(*RUN, "-rs", "-v")
    result.assert_outcomes(passed=13, skipped=1)
    result.stdout.fnmatch_lines(["tests/echo.scenario.yaml::echo twice PASSED*",
                                 "tests/echo.scenario.yaml::a failing worker fails the job PASSED*"])
    result.stdout.fnmatch_lines(["SKIPPED*tests/test_targets.py:*runs on harness target(s) aws; "
                                 "this run's target is embedded*"])


def test_the_first_worker_of_the_readme_passes_and_its_failure_leads_with_the_cause(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # a terminal wide enough for the whole summary line
    files = documented_files(ROOT / "README.md")
    assert set(files) == {"workers/upper.py", "test_upper.py", "upper.scenario.yaml"}
    write(pytester, files)
    result = pytester.runpytest_subprocess(*RUN, "-ra")
    result.assert_outcomes(passed=2)
    broken = files["workers/upper.py"].replace('worker.finish({"upper": text.upper()', 'worker.finish({"upper": text.uper()')
    write(pytester, {"workers/upper.py": broken})
    failed = pytester.runpytest_subprocess(*RUN, "-ra")
    failed.assert_outcomes(failed=2)
    # The short summary carries the cause: the run, its step, its exit code and its stderr's last line.
    failed.stdout.fnmatch_lines([
        "FAILED test_upper.py::test_upper_shouts - harness.errors.JobFailed: worker upper-* (step Step1, attempt 1) "
        "FAILED: Worker.Exited, exit code 1, stderr: AttributeError: *uper*",
        "FAILED upper.scenario.yaml::upper - worker upper (step Upper, attempt 1) FAILED: Worker.Exited, "
        "exit code 1, stderr: AttributeError*"], consecutive=False)


def test_a_suite_that_uses_no_fixture_starts_and_imports_nothing(pytester):
    pytester.makepyfile(test_plain="""
        import sys

        def test_plain():
            heavy = [name for name in ("moto", "boto3", "flask", "harness.service") if name in sys.modules]
            assert heavy == []
    """)
    result = pytester.runpytest_subprocess(*RUN)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["harness: target embedded"])


def test_p_no_harness_disables_the_plugin(pytester):
    pytester.makefile(".scenario.yaml", broken="{not: [valid yaml")
    pytester.makepyfile(test_uses="def test_it(jobservice):\n    pass\n")
    result = pytester.runpytest("-p", "no:harness")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'jobservice' not found*"])
    assert "broken.scenario.yaml" not in result.stdout.str()
    assert "harness: target" not in result.stdout.str()
    usage = pytester.runpytest("-p", "no:harness", "--harness-target", "aws")
    assert usage.ret == pytest.ExitCode.USAGE_ERROR
    usage.stderr.fnmatch_lines(["*unrecognized arguments: --harness-target*"])


MARKED = """
    import pytest

    @pytest.mark.harness_targets("aws")
    def test_aws():
        pass

    @pytest.mark.harness_targets("embedded", "localstack")
    def test_local():
        pass

    def test_everywhere():
        pass
"""


def test_the_marker_skips_tests_on_other_targets(pytester, monkeypatch):
    monkeypatch.delenv("HARNESS_TARGET", raising=False)
    pytester.makepyfile(MARKED)
    default = pytester.runpytest("--strict-markers", "-rs")
    default.assert_outcomes(passed=2, skipped=1)
    default.stdout.fnmatch_lines(["*runs on harness target(s) aws; this run's target is embedded"])
    on_aws = pytester.runpytest("--harness-target", "aws", "-rs")
    on_aws.assert_outcomes(passed=2, skipped=1)
    on_aws.stdout.fnmatch_lines(["*runs on harness target(s) embedded, localstack; this run's target is aws"])


def test_the_option_beats_the_environment_which_beats_the_ini(pytester, monkeypatch):
    pytester.makepyfile(MARKED)
    pytester.makeini("[pytest]\nharness_target = aws\n")
    monkeypatch.delenv("HARNESS_TARGET", raising=False)
    pytester.runpytest("-rs").stdout.fnmatch_lines(["*this run's target is aws"])
    monkeypatch.setenv("HARNESS_TARGET", "localstack")
    pytester.runpytest("-rs").stdout.fnmatch_lines(["*this run's target is localstack"])
    pytester.runpytest("-rs", "--harness-target", "embedded").stdout.fnmatch_lines(
        ["*this run's target is embedded"])


def test_a_marker_naming_an_unknown_target_is_a_usage_error(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.harness_targets("embeded")
        def test_typo():
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_typo*harness_targets('embeded',)*name one or more of embedded, "
                                 "localstack, aws*"])


BACKGROUND = """
    import time

    import pytest

    EARLIER = {}


    @pytest.fixture
    def provoke(jobservice, jobservice_client, worker_definition, job_definition):
        '''Make the queue processor raise once, on a job request; wait until it did.'''
        job = job_definition([worker_definition(["python", "-c", "pass"])])
        queue = jobservice.service.queue

        def broken(request_urn):
            del queue.process_request  # once: the class's method is back for the redelivery
            raise RuntimeError("queue processor broke on " + request_urn)

        def run():
            before = len(jobservice.errors)
            queue.process_request = broken
            jobservice_client.request_job(job["urn"])
            deadline = time.monotonic() + 10
            while len(jobservice.errors) == before:
                assert time.monotonic() < deadline, "the queue processor never raised"
                time.sleep(0.01)

        EARLIER["provoke"] = run
        return run


    def test_caused_it(provoke):
        provoke()


    def test_failed_anyway(provoke):
        provoke()
        assert False, "the test's own failure"


    def test_expected_it(provoke, jobservice):
        provoke()
        errors = jobservice.take_errors()
        assert [type(e).__name__ for e in errors] == ["RuntimeError"]


    def test_uses_no_fixture_of_the_service():
        EARLIER["provoke"]()  # the service's error, in a test that cannot be blamed for it


    def test_uses_the_service_afterwards(jobservice_client):
        assert jobservice_client.health()["status"] == "ok"
"""


def test_an_error_in_a_background_thread_fails_the_test_that_caused_it(pytester):
    pytester.makepyfile(test_background=BACKGROUND)
    result = pytester.runpytest_subprocess(*RUN)
    result.assert_outcomes(passed=3, failed=2, warnings=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*_ test_caused_it _*",
        "E*RuntimeError: queue processor broke on urn:jobservice:request:*",
        "*harness background errors*",
        "*server/queue.py*in _handle_safely*",
        "*_ test_failed_anyway _*",
        "E*AssertionError: the test's own failure*",
        "*harness background errors*",
        "RuntimeError: queue processor broke on urn:jobservice:request:*",
        "*warnings summary*",
        "test_background.py::test_uses_the_service_afterwards",
        "*HarnessWarning: 1 error(s) in the Job Service's background threads after the last test that used it "
        "ended: RuntimeError: queue processor broke on urn:jobservice:request:*",
    ])
    assert "FAILED test_background.py::test_expected_it" not in out


def _lines(stream, sink: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        sink.put(line.decode(errors="replace"))
    sink.put(None)


def test_keep_leaves_the_service_running_until_interrupted(pytester):
    pytester.makepyfile(test_keep="def test_up(jobservice):\n    assert jobservice.url\n")
    proc = pytester.popen([sys.executable, "-m", "pytest", *RUN, "-q", "--harness-keep"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    seen, url = [], None
    try:
        deadline = time.monotonic() + 60
        while url is None:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert line is not None, "pytest ended without keeping the service:\n" + "".join(seen)
            seen.append(line)
            kept = re.search(r"kept running at (http://127\.0\.0\.1:\d+)", line)
            url = kept and kept.group(1)
        assert any("1 passed" in line for line in seen), "".join(seen)
        assert requests.get(f"{url}/v2/health", timeout=5).json()["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/health", timeout=5)


TWO_SCENARIOS = """
name: crash fails the job
workers:
  crasher:
    scripted: [start, {crash: {exit_code: 3}}]
jobs:
  once:
    definition:
      StartAt: Run
      States:
        Run: {Type: Task, Resource: "worker:crasher", End: true}
steps:
  - request: {job: once}
    as: request
  - wait: {request: "${request}", status: FULFILLED}
    capture: {job: job}
  - wait: {job: "${job}", status: FAILED}
---
name: wrong expectation
workers:
  crasher:
    scripted: [start, {crash: {exit_code: 3}}]
jobs:
  once:
    definition:
      StartAt: Run
      States:
        Run: {Type: Task, Resource: "worker:crasher", End: true}
steps:
  - request: {job: once}
    as: request
  - wait: {request: "${request}", status: FULFILLED}
    capture: {job: job}
  - name: job COMPLETED
    wait: {job: "${job}", status: COMPLETED}
"""


def test_scenario_items_run_and_a_failing_one_shows_step_expected_actual_and_sequence(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # a terminal wide enough for the whole short summary line
    pytester.makefile(".scenario.yaml", flows=TWO_SCENARIOS)
    pytester.makeini("[pytest]\nharness_worker_logs = worker-logs\n")
    result = pytester.runpytest_subprocess(*RUN, "-v", "-ra")
    result.assert_outcomes(passed=1, failed=1)
    assert len(list((pytester.path / "worker-logs").glob("*.log"))) == 2
    result.stdout.fnmatch_lines([
        "flows.scenario.yaml::crash fails the job PASSED*",
        "flows.scenario.yaml::wrong expectation FAILED*",
        "*_ scenario: wrong expectation _*",
        # The cause first: the run, its step and attempt, its error and exit code.
        "worker crasher (step Run, attempt 1) FAILED: Worker.Exited, exit code 3; job FAILED, expected COMPLETED",
        "  scenario 'wrong expectation' (*flows.scenario.yaml) failed at step 'job COMPLETED'",
        "  run * of worker crasher (step Run, attempt 1) FAILED: Worker.Exited",
        "    cause: worker * exited with code 3 without calling /v2/worker/finish*",
        "    exit code: 3",
        "*flows.scenario.yaml:33: urn:jobservice:job:*: status is FAILED, expected COMPLETED (it has ended)",
        '  expected: {"status": "COMPLETED"}',
        '  actual:   {"status": "FAILED"}',
        "  observed sequence (* events, without polling and housekeeping*):",
    ])
    result.stdout.fnmatch_lines(["FAILED flows.scenario.yaml::wrong expectation - worker crasher (step Run, attempt 1) "
                                 "FAILED: Worker.Exited, exit code 3*"])  # -ra's short summary: the cause
    # The sequence's last events depend on timing (which loop wrote last), so these are looked for anywhere.
    output = result.stdout.str()
    report = output[output.index("  observed sequence ("):]
    assert re.search(r"Queue -> DynamoDB Connection: Update Job Resource", report)
    assert "GET /v2/jobs/" not in report.split("Captured harness call")[0]  # the user's polling is left out
    assert "Captured harness call" in report and "FAIL   3. job COMPLETED" in report
    assert "Traceback" not in output


BROKEN = {
    "undeclared": """
name: undeclared job
steps:
  - request: {job: nowhere}
""",
    "syntax": "name: bad\nsteps:\n  - request: {job: [unclosed\n",
}


def test_a_bad_scenario_file_is_a_collection_error_with_file_and_line(pytester):
    pytester.makefile(".scenario.yaml", **BROKEN)
    result = pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines_random([
        "*ERROR collecting syntax.scenario.yaml*",
        "*syntax.scenario.yaml:3: invalid YAML:*",
        "*ERROR collecting undeclared.scenario.yaml*",
        "*undeclared.scenario.yaml:3: step 1 (request) requests job 'nowhere', which the scenario does not "
        "declare under 'jobs'*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_only_files_matching_the_ini_patterns_are_collected(pytester):
    scenario = "name: {name}\nsteps:\n  - sleep: 0\n"
    pytester.makefile(".scenario.yaml", default=scenario.format(name="by default"))
    pytester.makefile(".yaml", plain=scenario.format(name="plain yaml"))
    (pytester.path / "flows").mkdir()
    (pytester.path / "flows" / "checkout.yaml").write_text(scenario.format(name="in flows"))
    default = pytester.runpytest("--collect-only", "-q")
    default.stdout.fnmatch_lines(["default.scenario.yaml::by default", "*1 test collected*"])
    pytester.makeini("[pytest]\nharness_scenario_files = flows/*.yaml plain.yaml\n")
    configured = pytester.runpytest("--collect-only", "-q")
    configured.stdout.fnmatch_lines_random(["flows/checkout.yaml::in flows", "plain.yaml::plain yaml",
                                            "*2 tests collected*"])


SERVICE_PER_WORKER = """
    import os

    import pytest

    from harness import pytest_plugin


    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(session):
        running = session.config.stash[pytest_plugin._HARNESS].running
        if running is not None:  # each xdist worker says which service it ran its items on
            with open(os.environ["PYTEST_XDIST_WORKER"] + ".url", "w") as out:
                out.write(running.url + " " + running.endpoints["sqs"])
"""


def test_scenarios_run_in_parallel_with_xdist_each_worker_on_its_own_service(pytester):
    one = TWO_SCENARIOS.split("---")[0]
    for i in range(4):
        pytester.makefile(".scenario.yaml", **{f"flow{i}": one.replace("crash fails the job", f"crash {i}")})
    pytester.makeconftest(SERVICE_PER_WORKER)
    result = pytester.runpytest_subprocess(*RUN, "-n", "2", "-v")
    result.assert_outcomes(passed=4)
    workers = set(re.findall(r"\[(gw\d)\].*PASSED", result.stdout.str()))
    assert workers == {"gw0", "gw1"}
    services = {path.stem: path.read_text().split() for path in pytester.path.glob("gw*.url")}
    assert set(services) == {"gw0", "gw1"}
    apis, aws = zip(*services.values())
    assert len(set(apis)) == 2 and len(set(aws)) == 2


ON_LOCALSTACK = """
    import os

    import pytest


    def test_a_job_runs_against_the_endpoint(jobservice, jobservice_client, worker_definition, job_definition):
        assert jobservice.target == "localstack"
        assert jobservice_client.health()["target"] == "localstack"
        for service in ("stepfunctions", "sqs", "dynamodb", "s3"):
            assert jobservice.endpoints[service] == os.environ["HARNESS_ENDPOINT_URL"]
        fakeredis = jobservice.redis and jobservice.redis.url  # started when no Redis URL is given
        assert jobservice.endpoints["redis"] == os.environ.get("HARNESS_REDIS_URL", fakeredis)
        assert jobservice.names.queue == os.environ["HARNESS_PREFIX"] + "-queue"
        job = job_definition([worker_definition("workers/echo.py")])
        done = jobservice_client.run_job(job["urn"], {"on": "localstack"})
        assert done["status"] == "COMPLETED", done["error"]
        assert done["output"]["echo"] == {"on": "localstack"}


    @pytest.mark.harness_targets("embedded")
    def test_embedded_only():
        pass
"""


def run_on_localstack(pytester, monkeypatch, endpoint, *args, redis_url=None):
    pytester.makepyfile(**{"workers/echo.py": documented_files()["tests/workers/echo.py"]})
    pytester.makepyfile(test_localstack=ON_LOCALSTACK)
    monkeypatch.setenv("HARNESS_TARGET", "localstack")
    monkeypatch.setenv("HARNESS_ENDPOINT_URL", endpoint)
    if redis_url:
        monkeypatch.setenv("HARNESS_REDIS_URL", redis_url)
    else:
        monkeypatch.delenv("HARNESS_REDIS_URL", raising=False)
    monkeypatch.setenv("HARNESS_PREFIX", f"plugin{os.getpid()}")
    result = pytester.runpytest_subprocess(*RUN, "-rs", *args)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["harness: target localstack"])


def test_the_fixtures_work_on_the_localstack_target(pytester, monkeypatch):
    from procs import emulate

    with emulate() as emulator:
        values = emulator.values()
        run_on_localstack(pytester, monkeypatch, values["HARNESS_ENDPOINT_URL"], redis_url=values["HARNESS_REDIS_URL"])


def test_harness_workers_local_runs_workers_where_batch_runs_no_containers(pytester, monkeypatch, ministack):
    run_on_localstack(pytester, monkeypatch, ministack, "--harness-workers", "local")


def test_keep_is_ignored_with_a_warning_under_xdist(pytester):
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess(*RUN, "-n", "2", "--harness-keep")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*HarnessWarning: --harness-keep is ignored with pytest-xdist*"])


def test_the_clock_option_sets_the_session_and_the_marker_one_test(pytester):
    pytester.makepyfile(test_clocked="""
        import pytest

        @pytest.mark.harness_clock("skip")
        def test_marked(jobservice):
            assert jobservice.clock.mode == "skip"
            before = jobservice.clock.now()
            jobservice.clock.advance(3600)
            assert (jobservice.clock.now() - before).total_seconds() >= 3600

        def test_session(jobservice):
            assert jobservice.clock.mode == "scale=10"
    """)
    result = pytester.runpytest_subprocess(*RUN, "--harness-clock", "scale=10", "-v")
    result.assert_outcomes(passed=2)
