"""pytest plugin: the Job Service as fixtures, and YAML scenarios as test items.

Registered through the `pytest11` entry point `harness`; `-p no:harness` turns it off.
Nothing starts until a test asks for a fixture or a scenario item runs, and the heavy
modules (moto, boto3, Flask) are imported only then.
"""

import fnmatch
import os
import re
import signal
import sys
import threading
import uuid
import warnings
from pathlib import Path

import pytest

from .errors import HarnessError, ServiceStartError, UsageError

# Kept in step with harness.service.TARGETS and WORKERS (a test checks it); importing that module here
# would cost every pytest run in the environment half a second.
TARGETS = ("embedded", "localstack", "aws")
WORKERS = ("batch", "local")
DEFAULT_SCENARIO_FILES = ["*.scenario.yaml"]  # harness.scenario.DEFAULT_PATTERNS (a test checks it)
MARKER = "harness_targets"
CLOCK_MARKER = "harness_clock"


class HarnessWarning(pytest.PytestWarning):
    """Warn about the harness itself (an error nobody could be blamed for, an ignored option)."""


# -- options -------------------------------------------------------------------
def pytest_addoption(parser):
    group = parser.getgroup("harness", "Job Service harness")
    group.addoption("--harness-target", choices=TARGETS, default=None,
                    help="Where AWS is for the jobservice fixtures and scenarios: embedded (moto and "
                         "fakeredis in this process, the default), localstack, or aws. "
                         "Env: HARNESS_TARGET; ini: harness_target.")
    group.addoption("--harness-endpoint-url", default=None,
                    help="Endpoint of the localstack target (default: localstack-client's, "
                         "http://localhost:4566). Env: HARNESS_ENDPOINT_URL.")
    group.addoption("--harness-redis-url", default=None,
                    help="Redis (ElastiCache) URL; without it, fakeredis on a free loopback port. "
                         "Env: HARNESS_REDIS_URL.")
    group.addoption("--harness-workers", choices=WORKERS, default=None,
                    help="Where worker runs go on the localstack and aws targets: the target's AWS Batch "
                         "(the default) or local processes (for an emulator whose Batch runs no containers). "
                         "Env: HARNESS_WORKERS.")
    group.addoption("--harness-clock", default=None, metavar="real|skip|scale=N",
                    help="The clock of the embedded service: real (default), skip (jump to the next timer when "
                         "nothing happens) or scale=N; also over every scenario's own `clock:`. Env: HARNESS_CLOCK.")
    group.addoption("--harness-keep", action="store_true", default=False,
                    help="Leave the Job Service running after the tests, print its URL and wait "
                         "for Ctrl-C (ignored with pytest-xdist).")
    parser.addini("harness_target", "Default target when neither --harness-target nor HARNESS_TARGET "
                  "is given.", default="embedded")
    parser.addini("harness_prefix", "Prefix of the table, queue, bucket, Batch and IAM names "
                  "(env HARNESS_PREFIX wins).", default="jobservice")
    parser.addini("harness_scenario_files", "Glob patterns of YAML scenario files collected as tests.",
                  type="args", default=DEFAULT_SCENARIO_FILES)
    parser.addini("harness_worker_logs", "Folder for each local worker's output (<batch job id>.log), "
                  "relative to the ini file; default: workers write to pytest's own output.", default="")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{MARKER}(*targets): run the test only on these harness targets "
                   f"({', '.join(TARGETS)}); skip it on the others.")
    config.addinivalue_line(
        "markers", "harness_faults(*faults): apply these faults (mappings as in a scenario's 'faults:') to the "
                   "Job Service while the test runs; healed after it.")
    config.addinivalue_line(
        "markers", f"{CLOCK_MARKER}(mode): run the test with the service's clock in mode real, skip or scale=N "
                   "(embedded target; the mode before comes back after the test).")
    config.stash[_HARNESS] = Harness(config)
    if config.getoption("harness_keep") and getattr(config.option, "numprocesses", None):
        config.issue_config_time_warning(
            HarnessWarning("--harness-keep is ignored with pytest-xdist: each worker stops its own service"),
            stacklevel=2)


def pytest_report_header(config):
    return f"harness: target {config.stash[_HARNESS].target}"


# -- the service, once per session (per xdist worker) ------------------------------
def _running_service_class():
    """The RunningService subclass the fixture returns (defined on first use: harness.service is slow to import)."""
    from .service import RunningService

    class JobService(RunningService):
        """A RunningService with shortcuts for tests: clients, names, endpoints, errors."""

        _errors_seen = 0

        @property
        def clients(self):
            """boto3 clients bound to the target (`.sfn`, `.batch`, `.dynamodb`, `.sqs`, `.s3`, `.iam`, `.redis`)."""
            return self.service.clients

        @property
        def settings(self):
            return self.service.settings

        @property
        def names(self):
            """Names of the table, queue, bucket, Batch and IAM resources."""
            return self.service.settings.names

        @property
        def endpoints(self) -> dict:
            """URL of the API, of each AWS service the service calls, and of Redis."""
            clients = self.service.clients
            urls = {"api": self.url}
            for name in ("stepfunctions", "batch", "dynamodb", "sqs", "s3", "iam"):
                attribute = "sfn" if name == "stepfunctions" else name
                urls[name] = getattr(clients, attribute).meta.endpoint_url
            urls["redis"] = self.service.settings.redis_url
            return urls

        @property
        def errors(self) -> list:
            """Every exception raised in the service's background threads so far."""
            return self.service.errors

        def take_errors(self) -> list:
            """Return the background errors not taken yet, so that nothing raises them again."""
            errors = self.service.errors
            new, self._errors_seen = errors[self._errors_seen:], len(errors)
            return new

        def client(self, api_key=None):
            """A harness.client.Client for this service."""
            from .client import Client

            return Client(self.url, api_key=api_key)

    return JobService


class Harness:
    """The options of one pytest process and, once asked for, its one running service."""

    def __init__(self, config):
        self.config = config
        self.running = None
        self._failed = None
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        return (self.config.getoption("harness_target") or os.environ.get("HARNESS_TARGET")
                or self.config.getini("harness_target") or "embedded")

    @property
    def clock(self) -> str | None:
        return self.config.getoption("harness_clock") or os.environ.get("HARNESS_CLOCK") or None

    @property
    def keep(self) -> bool:
        return self.config.getoption("harness_keep") and not hasattr(self.config, "workerinput")

    def service(self):
        """Start the service on first use and return it; a failed start fails every later use at once."""
        with self._lock:
            if self.running is None:
                if self._failed is not None:
                    raise ServiceStartError(f"the Job Service did not start earlier in this session: "
                                            f"{self._failed!r}") from self._failed
                try:
                    self.running = self._start()
                except Exception as exc:
                    self._failed = exc
                    raise
            return self.running

    def _start(self):
        target = self.target
        if target not in TARGETS:
            raise pytest.UsageError(f"harness target {target!r}: choose one of {', '.join(TARGETS)}")
        option, ini = self.config.getoption, self.config.getini
        return _running_service_class()(
            target=target,
            endpoint_url=option("harness_endpoint_url") or os.environ.get("HARNESS_ENDPOINT_URL") or None,
            redis_url=option("harness_redis_url") or os.environ.get("HARNESS_REDIS_URL") or None,
            prefix=os.environ.get("HARNESS_PREFIX") or ini("harness_prefix") or "jobservice",
            workers=option("harness_workers") or os.environ.get("HARNESS_WORKERS") or "batch",
            worker_output=self._worker_logs(),
            clock=self.clock,
        ).start()

    def _worker_logs(self) -> str | None:
        """The worker log folder, relative to the ini file's folder like other ini paths."""
        value = self.config.getini("harness_worker_logs")
        if not value:
            return None
        base = self.config.inipath.parent if self.config.inipath else self.config.rootpath
        return str(base / value)

    def stop(self) -> None:
        with self._lock:
            running, self.running = self.running, None
        if running is not None:
            running.stop()


_HARNESS = pytest.StashKey[Harness]()


def pytest_sessionfinish(session):
    harness = session.config.stash.get(_HARNESS, None)
    if harness is not None and not harness.keep:
        harness.stop()


def pytest_unconfigure(config):
    harness = config.stash.get(_HARNESS, None)
    if harness is None or harness.running is None:
        return
    try:
        if harness.keep:
            _wait_for_interrupt(config, harness.running)
    finally:
        harness.stop()


def _wait_for_interrupt(config, running) -> None:
    """Keep the service up for inspection until Ctrl-C or SIGTERM."""
    capture = config.pluginmanager.getplugin("capturemanager")
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        with capture.global_and_fixture_disabled() if capture else _nothing():
            print(f"\nharness: Job Service ({running.target}) kept running at {running.url}; "
                  f"Ctrl-C to stop", flush=True)
            try:
                while not stopped.wait(0.2):
                    pass
            except KeyboardInterrupt:
                pass
            print("harness: stopping the Job Service", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- fixtures ------------------------------------------------------------------
@pytest.fixture(scope="session")
def jobservice(pytestconfig):
    """The Job Service on the selected target, started once per session (per xdist worker)."""
    return pytestconfig.stash[_HARNESS].service()


@pytest.fixture(autouse=True)
def _harness_clock(request):
    """Put the service's clock in the mode of the test's `harness_clock` marker for the test."""
    mark = request.node.get_closest_marker(CLOCK_MARKER)
    if mark is None:
        yield
        return
    if len(mark.args) != 1 or not isinstance(mark.args[0], str):
        raise pytest.UsageError(f"{request.node.nodeid}: @pytest.mark.{CLOCK_MARKER} takes one mode: "
                                "'real', 'skip' or 'scale=N'")
    service = request.getfixturevalue("jobservice")
    with service.clock.use(mark.args[0]):
        yield


@pytest.fixture
def jobservice_client(jobservice):
    """A harness.client.Client of the running service, as a user calls it."""
    client = jobservice.client()
    yield client
    client.close()


@pytest.fixture
def unique_name(request):
    """Make names no other test uses: `unique_name("extract")` -> "extract-test_x-3f9a1c"."""
    test = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:24].strip("-") or "test"

    def make(base: str = "t") -> str:
        suffix = f"-{test}-{uuid.uuid4().hex[:6]}"
        return base[:64 - len(suffix)] + suffix

    return make


@pytest.fixture
def worker_definition(request, jobservice_client, unique_name):
    """Register a worker definition under a per-test name and return the resource."""
    here = request.path.parent

    def register(command, *, name: str = "worker", **fields) -> dict:
        return jobservice_client.register_worker(unique_name(name), command=_command(command, here), **fields)

    return register


@pytest.fixture
def job_definition(jobservice_client, unique_name):
    """Register a job definition (ASL, or a list of workers run in turn) under a per-test name."""

    def register(definition, *, name: str = "job") -> dict:
        if isinstance(definition, (list, tuple)):
            definition = chain(definition)
        return jobservice_client.register_job(unique_name(name), definition)

    return register


@pytest.fixture
def scenario_runner(request, jobservice):
    """Run a scenario from a file (relative to the test file), a dict or a Scenario; return its Result."""
    def run(source, name: str | None = None):
        from .runner import run_scenario

        scenario = _scenario(source, name, request)
        lines = []
        result = run_scenario(scenario, jobservice, say=lines.append)
        if lines:
            request.node.add_report_section("call", f"harness {scenario.name}", "\n".join(map(str, lines)))
        return result

    return run


def chain(workers) -> dict:
    """ASL that runs the given workers (resources or URNs) one after the other."""
    urns = [w["urn"] if isinstance(w, dict) else str(w) for w in workers]
    if not urns:
        raise ValueError("a job needs at least one worker")
    states = {}
    for i, urn in enumerate(urns, 1):
        state = {"Type": "Task", "Resource": urn}
        if i < len(urns):
            state["Next"] = f"Step{i + 1}"
        else:
            state["End"] = True
        states[f"Step{i}"] = state
    return {"StartAt": "Step1", "States": states}


def _command(command, here: Path) -> list:
    """A command list as given; a path to a Python file, relative to the test's folder, runs with python."""
    if isinstance(command, (str, os.PathLike)):
        path = Path(command)
        path = path if path.is_absolute() else here / path
        if not path.is_file():
            raise FileNotFoundError(f"worker script not found: {path}")
        return [sys.executable, str(path)]
    return [os.fspath(part) for part in command]


def _scenario(source, name, request):
    from . import scenario as scenarios

    here = request.path.parent
    if isinstance(source, dict):
        # Named after the test; relative paths in it resolve next to the test file.
        return scenarios.load_dict({"name": name or request.node.name, **source}, source=str(request.path))
    if not isinstance(source, (str, os.PathLike)):
        return source  # already a Scenario
    path = Path(source)
    loaded = scenarios.load(path if path.is_absolute() else here / path)
    if name is not None:
        for scenario in loaded:
            if scenario.name == name:
                return scenario
        raise UsageError(f"{source}: no scenario named {name!r} (has: {', '.join(s.name for s in loaded)})")
    if len(loaded) != 1:
        raise UsageError(f"{source} holds {len(loaded)} scenarios: pass name= one of "
                          f"{', '.join(s.name for s in loaded)}")
    return loaded[0]


# -- the marker ------------------------------------------------------------------
def pytest_collection_modifyitems(config, items):
    target = config.stash[_HARNESS].target
    for item in items:
        marks = list(item.iter_markers(MARKER))
        if not marks:
            continue
        allowed = set()
        for mark in marks:
            unknown = [t for t in mark.args if t not in TARGETS]
            if unknown or not mark.args:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER}{mark.args!r}: name one or "
                                        f"more of {', '.join(TARGETS)}")
            allowed.update(mark.args)
        if target not in allowed:
            item.add_marker(pytest.mark.skip(reason=f"runs on harness target(s) {', '.join(sorted(allowed))}; "
                                                    f"this run's target is {target}"))


# -- errors of the service's background threads, raised in the test that caused them
def _uses_service(item) -> bool:
    return isinstance(item, ScenarioItem) or "jobservice" in getattr(item, "fixturenames", ())


def _running(item):
    harness = item.config.stash.get(_HARNESS, None)
    return harness.running if harness is not None else None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    running = _running(item)
    if running is not None and _uses_service(item):
        leftover = running.take_errors()
        if leftover:
            warnings.warn(HarnessWarning(
                f"{len(leftover)} error(s) in the Job Service's background threads after the last test "
                f"that used it ended: " + "; ".join(f"{type(e).__name__}: {e}" for e in leftover)))
    outcome = yield
    _raise_background_errors(item, "setup")
    return outcome


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    injector = _marked_faults(item)
    try:
        outcome = yield
    except BaseException:
        _raise_background_errors(item, "call", failed=True)
        raise
    finally:
        if injector is not None:
            injector.clear()
    _raise_background_errors(item, "call")
    return outcome


def _marked_faults(item):
    """Arm the faults of the test's `harness_faults` markers; the injector to clear after, or None."""
    marks = list(item.iter_markers("harness_faults"))
    running = _running(item)
    if not marks or running is None:
        return None
    from .faults import parse

    specs = [parse(fault, f"fault {i + 1} of the harness_faults marker")
             for mark in marks for i, fault in enumerate(mark.args)]
    running.faults.arm(specs)
    return running.faults


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    outcome = yield
    _raise_background_errors(item, "teardown")
    return outcome


def _raise_background_errors(item, when: str, failed: bool = False) -> None:
    """Raise the first new background error (or, when the test failed already, report them beside it)."""
    running = _running(item)
    if running is None or not _uses_service(item):
        return
    errors = running.take_errors()
    if not errors:
        return
    import traceback

    text = "\n".join("".join(traceback.format_exception(e)) for e in errors)
    item.add_report_section(when, "harness background errors", text)
    if not failed:
        raise errors[0]


# -- scenarios as test items -------------------------------------------------------
def pytest_collect_file(file_path, parent):
    patterns = parent.config.getini("harness_scenario_files")
    if not any(fnmatch.fnmatch(file_path.name, p.rsplit("/", 1)[-1]) for p in patterns):
        return None  # most files: decided without importing the scenario module
    from .scenario import is_scenario_file  # the rule `harness run DIR` follows too

    if is_scenario_file(file_path, patterns):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(HarnessError):
    """Raise when a scenario ran and did not pass; carries its Result (its message leads with the cause)."""

    def __init__(self, result):
        super().__init__(result.format_failure())
        self.result = result


def _is_scenario_error(excinfo) -> bool:
    try:
        from .scenario import ScenarioError
    except ImportError:
        return False
    return excinfo.errisinstance(ScenarioError)


class ScenarioFile(pytest.File):
    """A YAML file of scenarios; a file that does not load is a collection error with its line."""

    def collect(self):
        from .scenario import load

        for scenario in load(self.path):
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)

    def repr_failure(self, excinfo):
        if _is_scenario_error(excinfo):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class ScenarioItem(pytest.Item):
    """One scenario, run against the session's service."""

    def __init__(self, *, scenario, **kwargs):
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self):
        from .runner import run_scenario

        running = self.config.stash[_HARNESS].service()
        lines = []
        try:
            result = run_scenario(self.scenario, running, say=lines.append,
                                  clock=self.config.stash[_HARNESS].clock)
        finally:
            if lines:
                self.add_report_section("call", "harness", "\n".join(map(str, lines)))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo):
        if excinfo.errisinstance(ScenarioFailed):
            # The first line is the cause: pytest's short summary (-ra) shows it.
            return excinfo.value.result.format_failure(full=self.config.option.verbose >= 2)
        if _is_scenario_error(excinfo):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        line = getattr(self.scenario, "line", None)
        return self.path, (line - 1 if isinstance(line, int) and line > 0 else None), f"scenario: {self.name}"
