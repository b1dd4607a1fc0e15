"""The `harness` command: serve the Job Service, replay scenarios, provision resources."""

import signal
import sys
import threading

import click
from botocore.exceptions import ClientError

from .errors import HarnessError
from .http_server import MAX_CONNECTIONS, READ_TIMEOUT
from .logs import configure_logging, secret
from .options import _target_options, clock_option
from .service import RETAIN_ENDED_JOBS, WORKERS, RunningService

ROLES = ("api", "queue", "poller")


class _Group(click.Group):
    """The `harness` group: every HarnessError becomes one line and its exit code, here and only here."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            error = click.ClickException(str(exc))
            error.exit_code = exc.exit_code
            raise error from exc


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jobservice-harness")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), "--version", prog_name="harness", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True,
              help="Log more: -v the lifecycle of requests, jobs and runs; -vv every service call; "
                   "-vvv botocore and urllib3 too. Secrets are never logged.")
def main(verbose):
    """Run the Job Service anywhere: embedded (no AWS, no Docker), LocalStack, or AWS.

    \b
    Start here:
      harness run scenarios/                 replay every *.scenario.yaml, say pass or fail
      harness serve --port 8080              serve the API on the embedded target
    """
    configure_logging(verbose)


#: Error codes of an endpoint that does not take the credentials it was sent (AWS's, and `harness emulate`'s).
REFUSED_CREDENTIALS = ("InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId",
                       "SignatureDoesNotMatch", "InvalidSignatureException")


@main.command(short_help="Serve the Job Service API until Ctrl-C.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of the API on 127.0.0.1 (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API listens on.")
@click.option("--api-key", "api_keys", multiple=True, envvar="HARNESS_API_KEYS",
              help="A client API key (repeat for several); none: client calls are open.")
@click.option("--public-url", help="JOBSERVICE_URL given to workers (default: the API's own URL).")
@click.option("--worker-logs", type=click.Path(file_okay=False),
              help="Write each local worker's output to DIR/<batch job id>.log instead of this terminal.")
@click.option("--role", "roles", multiple=True, type=click.Choice((*ROLES, "all")), envvar="HARNESS_ROLES",
              help="What this process runs (repeat for several; default all): the API, the queue processor, "
                   "the activity poller. Run any number of processes of each role on one target.")
@click.option("--workers", type=click.Choice(WORKERS), default="batch", show_default=True, envvar="HARNESS_WORKERS",
              help="Where worker runs go: the target's AWS Batch, or local processes started by this harness "
                   "(for a target whose Batch runs no containers). The embedded target always runs them locally.")
@click.option("--batch-endpoint-url", envvar="HARNESS_BATCH_ENDPOINT_URL",
              help="Send worker runs to the Batch at this endpoint instead (e.g. one `harness emulate` that "
                   "processes of several roles share); the rest stays on the target.")
@click.option("--max-upload-bytes", type=click.IntRange(1), envvar="HARNESS_MAX_UPLOAD_BYTES",
              help="Largest worker file upload (larger: 413). Default 64 MiB.")
@click.option("--read-timeout", type=click.FloatRange(0.1), default=READ_TIMEOUT, show_default=True,
              help="Seconds a connection may send nothing while its request or body is awaited; then it is closed.")
@click.option("--max-connections", type=click.IntRange(1), default=MAX_CONNECTIONS, show_default=True,
              help="Connections served at once (a thread each, long polls included); past it, an immediate 503.")
@click.option("--retain-ended-jobs", type=click.IntRange(1), default=RETAIN_ENDED_JOBS, show_default=True,
              envvar="HARNESS_RETAIN_ENDED_JOBS",
              help="Embedded target: ended jobs kept in memory; past it, the oldest ended job's items, execution "
                   "and Batch jobs are dropped (reading it answers 404 saying so). Other targets keep everything.")
@clock_option("The service's clock on the embedded target: real (default), skip (jump to the next timer "
              "when nothing happens) or scale=N (N times faster). GET /v2/health shows the mode and the virtual now.")
@_target_options
def serve(port, host, api_keys, public_url, worker_logs, roles, workers, batch_endpoint_url, max_upload_bytes,
          read_timeout, max_connections, retain_ended_jobs, clock, target, endpoint_url, redis_url, prefix, region):
    """Serve the Job Service API until Ctrl-C or SIGTERM.

    \b
    Examples:
      harness serve --port 8080 --api-key "$KEY"
      harness serve --target localstack --workers local
    The embedded target keeps every definition and job in memory: a restart loses them.
    """
    roles = ROLES if not roles or "all" in roles else tuple(r for r in ROLES if r in roles)
    if target == "embedded" and roles != ROLES:
        raise click.UsageError("--role needs a shared target (localstack or aws): "
                               "the embedded target lives in one process")
    if workers == "local" and not batch_endpoint_url and len({"api", "poller"} & set(roles)) == 1:
        raise click.UsageError("--workers local keeps Batch inside this process, where the API registers worker "
                               "definitions and the poller submits their runs: with roles in separate processes, "
                               "give them all one --batch-endpoint-url (a `harness emulate`) instead")
    if "poller" in roles and "api" not in roles and not public_url:
        raise click.UsageError("--role poller without --role api needs --public-url: "
                               "the API's URL that workers call (JOBSERVICE_URL)")
    for key in api_keys:
        secret(key)
    say = lambda text: click.echo(text, err=True)  # noqa: E731
    say(f"starting the Job Service on the {target} target ({' + '.join(roles)})...")
    running = RunningService(target=target, host=host, port=port, api_keys=api_keys, endpoint_url=endpoint_url,
                             redis_url=redis_url, prefix=prefix, region=region, public_url=public_url,
                             worker_output=worker_logs, roles=roles, workers=workers,
                             batch_endpoint_url=batch_endpoint_url,
                             settings_overrides={"max_upload_bytes": max_upload_bytes} if max_upload_bytes else None,
                             say=say, read_timeout=read_timeout, max_connections=max_connections, clock=clock,
                             retain_ended_jobs=retain_ended_jobs)
    try:
        running.start()
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from exc
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in REFUSED_CREDENTIALS:
            raise
        raise click.ClickException(
            f"the endpoint refused this process's credentials ({exc.response['Error']['Code']}): give it the "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY that `harness emulate` printed") from exc
    memory = ", in memory: a restart loses every definition and job" if target == "embedded" else ""
    stopped = threading.Event()

    def on_signal(signum, _frame):
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if "api" in roles:
        auth = f"; {len(api_keys)} API key(s)" if api_keys else ""
        say(click.style(f"Job Service ({target}{memory}) listening on {running.url}", bold=True) + auth)
        if not api_keys:
            say("warning: no --api-key: any local process can register commands that this service will run")
        click.echo(running.url)
    else:
        say(f"Job Service ({target}{memory}) running {' + '.join(roles)}")
        click.echo("running " + ",".join(roles))
    sys.stdout.flush()
    try:
        while not stopped.wait(0.2):  # a bare wait() can miss a signal delivered to another thread
            pass
    finally:
        click.echo("stopping...", err=True)
        running.stop()
        click.echo("stopped", err=True)


def _register_commands() -> None:
    """Add the commands that live in their own modules (they import `_target_options` from here)."""
    from .cli_aws import emulate, provision, teardown
    from .cli_run import run

    for command in (run, provision, teardown, emulate):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
