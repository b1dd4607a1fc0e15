"""Pure checks of what callers send: JSON, names, numbers, sizes and the shape of an ASL definition.

Each check raises the contract's error (400 for shape, 413 for size, 422 for meaning) and
changes nothing, so the handlers call them before they write anything.
"""

import json
import math
import re
from decimal import Decimal
from itertools import accumulate

from .errors import BadRequest, PayloadTooLarge

#: Deeper JSON is malformed (the contract's rule); it also keeps every parser off Python's recursion limit.
MAX_DEPTH = 64
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Step Functions' limit on an execution's input and a task's output (256 KiB), less room for the
#: envelope a worker's task input is wrapped in; the same bound keeps a value well inside one
#: DynamoDB item (400 KB).
MAX_VALUE_BYTES = 256 * 1024 - 4096
#: AWS Batch: vCPUs of a container (Fargate takes 0.25 and 0.5), memory in MiB (an Integer).
MAX_VCPUS = 4096
FRACTIONAL_VCPUS = (0.25, 0.5)
MAX_MEMORY_MIB = 2**31 - 1
MIN_MEMORY_MIB = 4  # "You must specify at least 4 MiB of memory for a job"
#: Step Functions' bound on a Task state's TimeoutSeconds and HeartbeatSeconds.
MAX_SECONDS = 99999999
#: AWS Batch: a job definition's container properties are at most 30 KiB with everything else in them.
MAX_ENVIRONMENT_BYTES = 24 * 1024
#: AWS Batch: an image name is up to 255 characters.
MAX_IMAGE_CHARS = 255

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_NOT_BRACKET = bytes(b for b in range(256) if b not in _DELTA)


def nesting_depth(raw: bytes | str) -> int:
    """How deep the arrays and objects of a JSON text nest, without parsing it (brackets in strings skipped)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    return max(accumulate(brackets, lambda depth, b: depth + _DELTA[b], initial=0))


class _BadNumber(ValueError):
    """A number JSON allows but the service refuses; its text is the message."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str):
    raise _BadNumber(f"{name} is not a JSON number")


def parse_json(raw: bytes | str, what: str = "the body"):
    """The JSON value of `raw`; BadRequest when it is not JSON, nests too deep, or holds NaN or Infinity."""
    if nesting_depth(raw) > MAX_DEPTH:
        raise BadRequest(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _BadNumber as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    except ValueError:  # Python's bound on the digits of an integer, or bytes that are not UTF-8
        raise BadRequest(f"{what} is not valid JSON: not UTF-8 text, or an integer of over 4300 digits") from None


def check_name(name, field: str = "name") -> str:
    """A definition's name: the whole string matches [A-Za-z0-9_-]{1,64}."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadRequest(f"'{field}' must match [A-Za-z0-9_-]{{1,64}}, got {name!r}")
    return name


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_vcpus(value):
    """vCPUs as AWS Batch takes them: 0.25, 0.5 (Fargate) or a whole number up to 4096; None if absent.

    Returned as an int or a Decimal, the two kinds of number DynamoDB stores.
    """
    if value is None:
        return None
    ok = _number(value) and math.isfinite(value) and (
        value in FRACTIONAL_VCPUS or (value == int(value) and 1 <= value <= MAX_VCPUS))
    if not ok:
        raise BadRequest(f"'vcpus' must be 0.25, 0.5 or a whole number from 1 to {MAX_VCPUS}, got {value!r}")
    return Decimal(str(value)) if value in FRACTIONAL_VCPUS else int(value)


def check_count(value, field: str, maximum: int, minimum: int = 1):
    """A whole number from `minimum` to `maximum` (memory, timeouts); None if absent."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise BadRequest(f"'{field}' must be a whole number from {minimum} to {maximum}, got {value!r}")
    return value


#: A variable name a container and a process take; AWS Batch keeps `AWS_BATCH*`, the service the contract's four.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
RESERVED_ENV_PREFIX = "AWS_BATCH"
RESERVED_ENV_NAMES = ("JOBSERVICE_URL", "JOBSERVICE_WORKER_TOKEN", "JOBSERVICE_WORKER_ID", "JOBSERVICE_JOB_URN")


def check_text(value: str, field: str) -> str:
    """A string a process can be given: no NUL character, and valid Unicode (no lone surrogate)."""
    if "\x00" in value:
        raise BadRequest(f"'{field}' must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"'{field}' must be valid Unicode text (no lone surrogates)") from None
    return value


def check_process_fields(image: str | None, command: list | None, environment: dict | None) -> None:
    """The strings a worker's process is started with: names a process takes, text it can be given."""
    if image is not None:
        check_text(image, "image")
    for arg in command or ():
        check_text(arg, "command")
    for name, value in (environment or {}).items():
        if not ENV_NAME.fullmatch(name) or name.upper().startswith(RESERVED_ENV_PREFIX) \
                or name in RESERVED_ENV_NAMES:
            raise BadRequest(f"environment variable {name!r} must match [A-Za-z_][A-Za-z0-9_]*, not start with "
                             f"{RESERVED_ENV_PREFIX} and not be one the service sets ({', '.join(RESERVED_ENV_NAMES)})")
        check_text(value, f"environment.{name}")


#: File keys one result may cite (each is looked up in S3 before the result is stored).
MAX_RESULT_FILES = 100
#: S3's limit on an object key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def check_file_keys(files) -> list[str]:
    """The `files` of a result: at most 100 keys, each text S3 can hold as a key; [] when absent."""
    if files is None:
        return []
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise BadRequest("'files' must be a list of file keys")
    if len(files) > MAX_RESULT_FILES:
        raise BadRequest(f"'files' may cite at most {MAX_RESULT_FILES} keys, got {len(files)}")
    for key in files:
        if len(check_text(key, "files").encode("utf-8")) > MAX_KEY_BYTES:
            raise BadRequest(f"a file key is at most {MAX_KEY_BYTES} bytes")
    return files


def json_size(value) -> int:
    """Bytes of a value's compact JSON text, as it is stored and sent to Step Functions."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


def check_size(value, field: str, limit: int = MAX_VALUE_BYTES) -> None:
    """PayloadTooLarge, naming the field and the way out, when a value is too big to store as given."""
    size = json_size(value)
    if size > limit:
        raise PayloadTooLarge(f"'{field}' is {size} bytes of JSON, over the limit of {limit}: "
                              "upload it as a file (POST /v2/workers/files, or to the bucket) and pass its key instead")


# The ASL's structural fields and the JSON type each must have: a wrong type is malformed (400);
# missing states, unknown state types and dangling names are what the definition means (422).
_MACHINE_FIELDS = {"States": dict, "StartAt": str, "Comment": str, "QueryLanguage": str, "Version": str,
                   "TimeoutSeconds": int}
_STATE_FIELDS = {"Type": str, "Next": str, "End": bool, "Default": str, "Resource": str, "Comment": str,
                 "Branches": list, "ItemProcessor": dict, "Iterator": dict, "Choices": list, "Retry": list,
                 "Catch": list, "QueryLanguage": str}
_TYPE_NAMES = {dict: "an object", str: "a string", bool: "true or false", list: "a list", int: "an integer"}


def _check_fields(obj: dict, fields: dict, at: str) -> None:
    for key, kind in fields.items():
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadRequest(f"{at}.{key} must be {_TYPE_NAMES[kind]}, not {type(value).__name__}")


def check_asl_shape(machine, at: str = "$") -> None:
    """BadRequest naming the first structural field of the ASL with the wrong JSON type."""
    if not isinstance(machine, dict):
        raise BadRequest(f"{at} must be an object with 'StartAt' and 'States'")
    _check_fields(machine, _MACHINE_FIELDS, at)
    for name, state in (machine.get("States") or {}).items():
        where = f"{at}.States.{name}"
        if not isinstance(state, dict):
            raise BadRequest(f"{where} must be an object")
        _check_fields(state, _STATE_FIELDS, where)
        for i, branch in enumerate(state.get("Branches") or []):
            check_asl_shape(branch, f"{where}.Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            if key in state and state[key] is not None:
                check_asl_shape(state[key], f"{where}.{key}")
        for key in ("Choices", "Retry", "Catch"):
            for i, rule in enumerate(state.get(key) or []):
                if not isinstance(rule, dict):
                    raise BadRequest(f"{where}.{key}[{i}] must be an object")
                for field in ("Next", "ErrorEquals"):
                    kind = str if field == "Next" else list
                    if field in rule and not isinstance(rule[field], kind):
                        raise BadRequest(f"{where}.{key}[{i}].{field} must be {_TYPE_NAMES[kind]}")
