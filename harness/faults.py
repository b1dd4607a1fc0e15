"""Faults as users write them (a scenario's `faults:`, `--faults FILE.yaml`, `jobservice.faults.inject`).

One fault is a mapping with one kind key:

    aws: dynamodb:UpdateItem   error, status, latency_ms, probability, seed, first, nth, participant
    sqs: duplicate | late      delay_seconds, probability, seed, first, nth
    redis: down | slow | flush latency_ms (slow)
    api: POST /v2/worker/results   status (503) or drop: true; nth, first, probability, seed
    batch: cannot-pull | host-terminated   nth (the Nth worker run Batch starts)
    worker: kill               after: "POST /v2/worker/results", nth (the worker's Nth such call)
    loop: pause-queue | pause-poller | restart-queue   nth (restart: the Nth message)

and optionally `name`, `when` (a trigger: an arrow of the documented sequence as
the trace or the diagram writes it, `Worker -> Worker Manager: POST /v2/worker/results`, its
Nth time with `{arrow: ..., time: N}`, or `{step: NAME}`) and `for` (seconds
until it heals itself). `Injector` arms and heals them on a RunningService.
"""

import random
import re
import signal
import threading
from dataclasses import dataclass, field

from server import observe

from .errors import UsageError

KINDS = ("aws", "sqs", "redis", "api", "batch", "worker", "loop")
COMMON = ("name", "when", "for")
OPTIONS = {
    "aws": ("error", "status", "message", "latency_ms", "probability", "seed", "first", "nth", "participant",
            "region"),
    "sqs": ("delay_seconds", "probability", "seed", "first", "nth"),
    "redis": ("latency_ms",),
    "api": ("status", "drop", "probability", "seed", "first", "nth"),
    "batch": ("nth",),
    "worker": ("after", "nth"),
    "loop": ("nth",),
}
VALUES = {"sqs": ("duplicate", "late"), "redis": ("down", "slow", "flush"), "batch": ("cannot-pull", "host-terminated"),
          "worker": ("kill",), "loop": ("pause-queue", "pause-poller", "restart-queue")}
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)?( time)?$")


class FaultSpecError(UsageError):
    """A fault that cannot be applied: names the fault and the field."""


@dataclass
class Spec:
    """One fault as the user wrote it, checked."""

    kind: str
    value: str
    options: dict = field(default_factory=dict)
    name: str = ""
    when: dict | None = None
    heal_after: float | None = None
    line: int = 0

    def describe(self) -> str:
        return self.name or f"{self.kind} {self.value}"


def parse(item, where: str = "a fault") -> Spec:
    """Check one fault mapping and return its Spec (FaultSpecError says what is wrong)."""
    if not isinstance(item, dict):
        raise FaultSpecError(f"{where} must be a mapping with one of: {', '.join(KINDS)}")
    kinds = [k for k in item if k in KINDS]
    if len(kinds) != 1:
        raise FaultSpecError(f"{where} needs exactly one of {', '.join(KINDS)}, got {', '.join(kinds) or 'none'}")
    kind = kinds[0]
    allowed = (kind,) + COMMON + OPTIONS[kind]
    for key in item:
        if key not in allowed:
            raise FaultSpecError(f"unknown key {key!r} in {where} ({kind}); expected: {', '.join(allowed)}")
    value = item[kind]
    if not isinstance(value, str) or not value:
        raise FaultSpecError(f"{kind!r} of {where} must be a string")
    if kind in VALUES and value not in VALUES[kind]:
        raise FaultSpecError(f"{kind!r} of {where} must be one of {', '.join(VALUES[kind])}, got {value!r}")
    options = {k: item[k] for k in OPTIONS[kind] if k in item}
    for key in ("first", "nth", "seed", "latency_ms", "delay_seconds"):
        least = 1 if key in ("first", "nth") else 0
        if key in options and (isinstance(options[key], bool) or not isinstance(options[key], int)
                               or options[key] < least):
            raise FaultSpecError(f"{key!r} of {where} must be a {'positive' if least else 'non-negative'} "
                                 f"integer, got {options[key]!r}")
    if "drop" in options and not isinstance(options["drop"], bool):
        raise FaultSpecError(f"'drop' of {where} must be true or false")
    if "name" in item and not isinstance(item["name"], str):
        raise FaultSpecError(f"'name' of {where} must be a string")
    if "probability" in options and (isinstance(options["probability"], bool) or
                                     not isinstance(options["probability"], (int, float))
                                     or not 0 <= options["probability"] <= 1):
        raise FaultSpecError(f"'probability' of {where} must be a number from 0 to 1")
    spec = Spec(kind=kind, value=value, options=options, name=str(item.get("name") or ""))
    if "when" in item:
        spec.when = parse_trigger(item["when"], where)
    if "for" in item:
        seconds = item["for"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise FaultSpecError(f"'for' of {where} must be a positive number of seconds")
        spec.heal_after = float(seconds)
    if kind == "aws":
        _aws_rule(spec)  # refused now if it cannot match
    elif kind == "sqs":
        _sqs_rule(spec)
    elif kind == "api":
        _api_call(spec.value, where)
        if "status" in options and not (isinstance(options["status"], int) and 400 <= options["status"] <= 599):
            raise FaultSpecError(f"'status' of {where} must be an HTTP error status (400-599)")
    elif kind == "worker":
        _api_call(options.get("after", "POST /v2/worker/results"), where)
    return spec


def parse_trigger(raw, where: str) -> dict:
    """`when:` as {"arrow": text, "time": N} or {"step": name}."""
    if isinstance(raw, str):
        raw = {"arrow": raw}
    if not isinstance(raw, dict) or len(set(raw) & {"arrow", "step"}) != 1 or set(raw) - {"arrow", "step", "time"}:
        raise FaultSpecError(f"'when' of {where} names an arrow ('Worker -> Worker Manager: POST /v2/worker/results',"
                             f" with 'time: N' for its Nth time) or a step ({{step: NAME}})")
    time = raw.get("time", 1)
    if isinstance(time, str) and _ORDINAL.match(time.strip()):
        time = int(_ORDINAL.match(time.strip()).group(1))
    if isinstance(time, bool) or not isinstance(time, int) or time < 1:
        raise FaultSpecError(f"'time' of the trigger of {where} must be 1, 2, ... or '1st', '2nd' ...")
    if "arrow" in raw:
        text = raw["arrow"]
        if not isinstance(text, str) or not re.match(r"^.+ -> .+: .+$", text):
            raise FaultSpecError(f"the arrow of {where} must read 'Source -> Target: label', got {text!r}")
        return {"arrow": _norm(text), "time": time}
    if not isinstance(raw["step"], str):
        raise FaultSpecError(f"the step of {where} must be a step's name")
    return {"step": raw["step"], "time": time}


def _norm(text: str) -> str:
    return " ".join(text.split())


_documented: dict | None = None


def _documented_arrows(text: str) -> list:
    """The arrows of the documented sequence that read `Source -> Target: text` in the diagram's words."""
    global _documented
    if _documented is None:
        from .conformance import load_sequence, plain

        found: dict = {}
        for arrow in load_sequence():
            if arrow.kind != "note" and not arrow.unobservable and not arrow.implied:
                found.setdefault(f"{arrow.source} -> {arrow.target}: {plain(arrow.text)}", []).append(arrow)
        _documented = found
    return _documented.get(text, [])


def arrow_matches(text: str, event) -> bool:
    """Whether an observed event is the arrow a trigger names: in the trace's words, or the diagram's."""
    if event.kind == "note":
        return False
    if f"{event.source} -> {event.target}: {event.label}" == text:
        return True
    return any(arrow.matches(event) for arrow in _documented_arrows(text))


def _api_call(text, where) -> tuple[str, str]:
    if not isinstance(text, str) or not re.match(r"^(GET|POST|PUT|DELETE|PATCH) /v2/\S+$", text.strip()):
        raise FaultSpecError(f"{where} names an API call as 'METHOD /v2/path', got {text!r}")
    method, path = text.split()
    return method, path


def _aws_rule(spec: Spec):
    from emulators import faults

    try:
        service, operation = faults.parse_target(spec.value)
        rule = faults.Rule(service=service, operation=operation, name=spec.name, **spec.options)
        return faults.validate(rule)
    except (faults.FaultError, TypeError) as exc:
        raise FaultSpecError(f"fault {spec.describe()!r}: {exc}") from None


def _sqs_rule(spec: Spec):
    from emulators import faults

    operation = "ReceiveMessage" if spec.value == "duplicate" else "SendMessage"
    try:
        return faults.validate(faults.Rule(service="sqs", operation=operation, sqs=spec.value, name=spec.name,
                                           **spec.options))
    except faults.FaultError as exc:
        raise FaultSpecError(f"fault {spec.describe()!r}: {exc}") from None


def load_file(path) -> list:
    """The faults of a YAML file: a list, or a mapping with a `faults:` list."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise FaultSpecError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise FaultSpecError(f"{path}: invalid YAML: {exc}") from None
    items = data.get("faults") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise FaultSpecError(f"{path} must hold a list of faults (or a mapping with 'faults:')")
    return [parse(item, f"fault {i + 1} of {path}") for i, item in enumerate(items)]


# -- the API as a worker sees it --------------------------------------------------------------
class ApiFaults:
    """A WSGI wrapper around the API app: 503s, dropped connections and killed workers at a call of theirs."""

    def __init__(self, app, on_kill=None):
        self.app, self.on_kill = app, on_kill
        self.rules: list = []
        self._lock = threading.Lock()

    @staticmethod
    def _paths(path: str) -> tuple:
        # The contract's /v2/worker/... routes answer at /v2/workers/... too.
        return (path, path.replace("/v2/worker/", "/v2/workers/"), path.replace("/v2/workers/", "/v2/worker/"))

    def _fires(self, rule, method, path) -> bool:
        if rule["method"] != method or path not in self._paths(rule["path"]):
            return False
        with self._lock:
            rule["calls"] += 1
            calls = rule["calls"]
            if rule.get("nth") is not None and calls != rule["nth"]:
                return False
            if rule.get("first") is not None and calls > rule["first"]:
                return False
            return rule["random"].random() < rule.get("probability", 1.0)

    def __call__(self, environ, start_response):
        if not self.rules:
            return self.app(environ, start_response)
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        for rule in list(self.rules):
            if rule["action"] == "kill" or not self._fires(rule, method, path):
                continue
            observe.note("Worker Manager", f"fault: {'connection dropped' if rule.get('drop') else rule['status']} "
                         f"for {method} {path} (call {rule['calls']})", fault=rule["name"])
            if rule.get("drop"):  # the service does the work; its answer is lost with the connection
                answer = self.app(environ, lambda *a, **k: (lambda data: None))
                try:
                    b"".join(answer)
                finally:
                    if hasattr(answer, "close"):
                        answer.close()
                sock = environ.get("werkzeug.socket")
                if sock is not None:
                    try:
                        sock.shutdown(2)
                    except OSError:
                        pass
                raise ConnectionAbortedError("fault: connection dropped")
            body = (b'{"error": {"code": "ServiceUnavailable", "message": "injected fault: the service is '
                    b'unavailable; retry"}}')
            start_response(f"{rule['status']} Service Unavailable", [("Content-Type", "application/json"),
                                                                       ("Content-Length", str(len(body))),
                                                                       ("Retry-After", "0")])
            return [body]
        answer = self.app(environ, start_response)
        for rule in list(self.rules):
            if rule["action"] == "kill" and self._fires(rule, method, path) and self.on_kill:
                observe.note("Worker", f"fault: worker killed after {method} {path} (call {rule['calls']})",
                             fault=rule["name"])
                self.on_kill(environ.get("HTTP_AUTHORIZATION", ""))
        return answer


# -- arming and healing -----------------------------------------------------------------------
class Injected:
    """A fault given to an Injector (in effect, or waiting for its trigger); `heal()` ends it (idempotent)."""

    def __init__(self, spec: Spec):
        self.spec, self._undo, self.healed = spec, None, False

    def heal(self) -> None:
        if self.healed:
            return
        self.healed = True
        if self._undo is not None:  # it was in effect
            self._undo()
            observe.note(_where(self.spec), f"fault healed: {self.spec.describe()}", fault=self.spec.describe())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.heal()


def _where(spec: Spec) -> str:
    if spec.kind == "aws":
        service = spec.value.split(":")[0]
        return observe.AWS_PARTICIPANTS.get(service, "AWS " + service)
    if spec.kind == "loop":
        return "Activity Poller" if spec.value.endswith("poller") else "Queue"
    return {"sqs": "AWS Queue", "redis": "AWS ElastiCache", "api": "Worker Manager", "batch": "AWS Batch",
            "worker": "Worker"}[spec.kind]


class Injector:
    """Faults on one RunningService: `inject(...)` now, or when its trigger (an arrow, a step) comes."""

    def __init__(self, service):
        self.service = service
        self.given: list[Injected] = []
        self._pending: list[list] = []  # [Injected, times its trigger came]
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._listening = False

    # -- the API users call --
    def inject(self, fault=None, **fields) -> Injected:
        """Apply one fault (a Spec, a mapping, or keyword fields as in a scenario), now or at its `when`.

        The answer heals it (`heal()`, or the end of a `with` block), whether it fired yet or not.
        """
        spec = fault if isinstance(fault, Spec) else parse(dict(fault or {}, **fields))
        injected = Injected(spec)
        with self._lock:
            self.given.append(injected)
        if spec.when is None:
            self._activate(injected)
            return injected
        if "inject" not in spec.when:  # else an `inject:` step of the scenario applies it
            with self._lock:
                self._pending.append([injected, 0])
            if "arrow" in spec.when and not self._listening:
                observe.subscribe(self._event)
                self._listening = True
        return injected

    def arm(self, specs) -> None:
        """Give the injector each fault (in effect now, or at its trigger)."""
        for spec in specs:
            self.inject(spec)

    def step(self, name: str) -> None:
        """A scenario step begins: apply the faults waiting for it."""
        self._trigger(lambda when: when.get("step") == name)

    def heal(self, name: str | None = None) -> None:
        """Heal the faults of that name (every one with no name), waiting ones included."""
        with self._lock:
            chosen = [i for i in self.given if name is None or i.spec.name == name]
        for injected in chosen:
            injected.heal()

    def clear(self) -> None:
        """Heal everything and stop listening (the end of a run, a test's teardown)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.heal()
        if self._listening:
            observe.unsubscribe(self._event)
            self._listening = False
        with self._lock:
            self.given.clear()
            self._pending.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.clear()

    def _activate(self, injected: Injected) -> None:
        spec = injected.spec
        if injected.healed:
            return
        injected._undo = self._apply(spec)
        observe.note(_where(spec), f"fault injected: {spec.describe()}", fault=spec.describe())
        if spec.heal_after:
            timer = threading.Timer(spec.heal_after, injected.heal)
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    # -- triggers --
    def _event(self, event) -> None:
        if event.kind != "note":
            self._trigger(lambda when: "arrow" in when and arrow_matches(when["arrow"], event))

    def _trigger(self, matches) -> None:
        due = []
        with self._lock:
            for entry in list(self._pending):
                injected, count = entry
                if injected.healed:
                    self._pending.remove(entry)
                elif matches(injected.spec.when):
                    entry[1] = count + 1
                    if entry[1] == injected.spec.when["time"]:
                        self._pending.remove(entry)
                        due.append(injected)
        for injected in due:
            self._activate(injected)

    # -- how each kind is applied --
    def _apply(self, spec: Spec):
        return getattr(self, f"_apply_{spec.kind}")(spec)

    def _emulated(self, spec):
        from emulators import faults

        if getattr(self.service, "aws", None) is None:
            raise FaultSpecError(f"fault {spec.describe()!r} acts on the emulated AWS: run on the embedded target "
                                 f"(or, against `harness emulate`, use its /_localstack/chaos/faults API)")
        return faults

    def _apply_aws(self, spec):
        faults = self._emulated(spec)
        rule = faults.add(_aws_rule(spec))
        return lambda: faults.remove(rule)

    def _apply_sqs(self, spec):
        faults = self._emulated(spec)
        rule = faults.add(_sqs_rule(spec))
        return lambda: faults.remove(rule)

    def _apply_redis(self, spec):
        import time

        import redis

        client = self.service.service.clients.redis
        if spec.value == "flush":
            client.flushdb()
            return lambda: None
        original = client.execute_command
        latency = spec.options.get("latency_ms", 500) / 1000

        def down(*args, **kwargs):
            raise redis.ConnectionError("Error 111 connecting to the cache: Connection refused (injected fault)")

        def slow(*args, **kwargs):
            time.sleep(latency)
            return original(*args, **kwargs)

        client.execute_command = down if spec.value == "down" else slow
        return lambda: client.__dict__.pop("execute_command", None)

    def _api_rule(self, spec, action):
        method, path = _api_call(spec.value if spec.kind == "api" else spec.options.get(
            "after", "POST /v2/worker/results"), spec.describe())
        rule = {"name": spec.describe(), "action": action, "method": method, "path": path, "calls": 0,
                "status": spec.options.get("status", 503), "drop": spec.options.get("drop", False),
                "nth": spec.options.get("nth"), "first": spec.options.get("first"),
                "probability": spec.options.get("probability", 1.0),
                "random": random.Random(spec.options.get("seed"))}
        api = getattr(self.service, "api_faults", None)
        if api is None:
            raise FaultSpecError(f"fault {spec.describe()!r} acts on the API this process serves: not available "
                                 f"with --url")
        api.rules.append(rule)
        return lambda: api.rules.remove(rule) if rule in api.rules else None

    def _apply_api(self, spec):
        return self._api_rule(spec, "answer")

    def _apply_worker(self, spec):
        return self._api_rule(spec, "kill")

    def _apply_loop(self, spec):
        return _loop_fault(self, spec)

    def _apply_batch(self, spec):
        from emulators import batch_local

        self._emulated(spec)
        if spec.value == "host-terminated":  # now: the hosts of the running worker runs go away
            reason = "Host EC2 (instance i-0fa1e1d5c0ffee000) terminated."
            jobs = batch_local.kill_running(reason)
            observe.note("AWS Batch", f"fault: {reason} ({len(jobs)} running job(s) killed)", fault=spec.describe())
            return lambda: None
        state = {"count": 0}

        def cannot_pull(job):
            state["count"] += 1
            if state["count"] != spec.options.get("nth", 1):
                return None
            observe.note("AWS Batch", f"fault: CannotPullContainerError for Batch job {job.job_id[:8]}",
                         fault=spec.describe())
            image = job._get_container_property("image", "") or "the image"
            return (f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve "
                    f"ref {image}: not found")

        batch_local.start_faults.append(cannot_pull)
        return lambda: batch_local.start_faults.remove(cannot_pull) if cannot_pull in batch_local.start_faults \
            else None


def _loop_fault(injector, spec):
    """Pause a loop of the service before it handles its next message or task, or restart the queue's mid-message.

    A paused loop waits (up to 5 minutes) until the fault heals. A restarted one drops the message it
    was handling without deleting it, as a process that died would; the message comes back at once, as
    it would after its visibility timeout.
    """
    service = injector.service.service
    loop = service.poller if spec.value.endswith("poller") else service.queue
    where, original = _where(spec), loop.handle
    resume, state = threading.Event(), {"count": 0}

    def paused(*args, **kwargs):
        observe.note(where, "fault: paused before handling", fault=spec.describe())
        resume.wait(300)
        return original(*args, **kwargs)

    def restarted(message, *args, **kwargs):
        state["count"] += 1
        if state["count"] != spec.options.get("nth", 1):
            return original(message, *args, **kwargs)
        observe.note(where, "fault: restarted mid-message (the message is not deleted)", fault=spec.describe())
        service.clients.sqs.change_message_visibility(QueueUrl=loop.url, ReceiptHandle=message["ReceiptHandle"],
                                                      VisibilityTimeout=0)
        return None

    loop.handle = paused if spec.value.startswith("pause") else restarted

    def heal():
        loop.__dict__.pop("handle", None)
        resume.set()

    return heal


def kill_worker(service, authorization: str) -> None:
    """Kill the process of the worker run that sent this bearer token (SIGKILL, as an OOM or a lost host would)."""
    import os

    from emulators import batch_local

    try:
        info = service.service.worker_info.authenticate(authorization)
    except Exception:  # noqa: BLE001 - a token we cannot read names no process
        return
    pid = batch_local.pid_of(info.get("batch_job_id") or "")
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)
