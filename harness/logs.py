"""Logging of the `harness` command: how much each -v shows, and secrets redacted from every record.

-v    the lifecycle of requests, jobs and runs (INFO of the service and the harness);
-vv   every service call in the diagram's words (DEBUG);
-vvv  botocore, urllib3, werkzeug and moto detail as well.

A filter on the handler redacts worker tokens, API keys, task tokens and AWS
credentials in every record, whatever logger it comes from and at any level.
"""

import logging
import re
import threading

#: Loggers whose detail only -vvv shows.
NOISY = ("botocore", "urllib3", "werkzeug", "moto", "boto3", "s3transfer")
MASK = "***"
_PATTERNS = [
    # A worker token: `<32 hex worker id>.<secret>` (the id stays: it names the run).
    (re.compile(r"\b([0-9a-f]{32})\.[A-Za-z0-9_-]{16,}"), r"\1." + MASK),
    # The token in a Batch job's environment (SubmitJob bodies, DescribeJobs answers), any quoting.
    (re.compile(r"""(JOBSERVICE_WORKER_TOKEN\\?["']\s*,\s*\\?["']value\\?["']\s*:\s*\\?["'])[^"'\\]+"""),
     r"\1" + MASK),
    (re.compile(r"(JOBSERVICE_WORKER_TOKEN=)\S+"), r"\1" + MASK),
    (re.compile(r"(\b[Bb]earer\s+)[^\s\"',;}]+"), r"\1" + MASK),
    (re.compile(r"""(\\?["']?(?:taskToken|task_token|token_hash|aws_secret_access_key|SecretAccessKey|"""
                r"""X-Amz-Security-Token|SessionToken)\\?["']?\s*[:=]\s*[b]?\\?["']?)[^"'\\\s,&}]+"""),
     r"\1" + MASK),
    (re.compile(r"((?:X-Amz-)?Credential=)[^/&\s,\"']+"), r"\1" + MASK),
    (re.compile(r"((?:X-Amz-)?Signature=)[0-9a-f]+"), r"\1" + MASK),
]
_secrets: set = set()
_lock = threading.Lock()


def secret(value: str | None) -> None:
    """Redact this exact value (an API key, an emulator's credential) from every later record."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """The text with every known secret and every secret-shaped value masked."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Format each record once, redacted, so no handler sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record with bad args still gets logged, as logging would
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def level_for(verbose: int) -> int:
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def configure_logging(verbose: int, stream=None) -> logging.Handler:
    """Log to stderr at the level -v asks for, every record redacted; return the handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_harness", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler._harness = True
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    level = level_for(verbose)
    root.setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
    if verbose >= 2:
        _log_service_calls()
    return handler


def _log_service_calls() -> None:
    """-vv: every interaction the service records, one DEBUG line each, in the diagram's words."""
    from server import observe

    from .trace import format_event

    calls = logging.getLogger("jobservice.sequence")
    observe.subscribe(lambda event: calls.debug(format_event(event).strip()))
