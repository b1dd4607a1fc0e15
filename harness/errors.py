"""The one error model of the harness: every error it raises on purpose is a HarnessError.

Each kind carries the exit code `harness` ends with when it reaches the command
line; `harness.cli` turns any of them into a one-line message in one place.
"""

#: Exit codes of `harness` (documented in `harness run --help` and docs/reference/cli.md).
EXIT_FAILED, EXIT_USAGE, EXIT_NO_SERVICE = 1, 2, 3


class HarnessError(Exception):
    """An error of the harness, with the exit code the command line ends with."""

    exit_code = EXIT_FAILED


class UsageError(HarnessError):
    """Bad input from the user (a scenario, an option): nothing ran."""

    exit_code = EXIT_USAGE


class ServiceStartError(HarnessError):
    """The Job Service (or one of its emulators) could not start."""

    exit_code = EXIT_NO_SERVICE


class JobFailed(HarnessError):
    """A job or job request ended otherwise than expected; the message leads with the cause."""

    def __init__(self, summary: str, resource: dict | None = None):
        super().__init__(summary)
        self.summary, self.resource = summary, resource
