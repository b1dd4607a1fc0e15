"""`harness emulate`, `harness provision`, `harness teardown`: the AWS side of the harness."""

import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager

import click
from botocore.exceptions import BotoCoreError, ClientError

from . import provision as provisioning, startup
from .options import _target_options, clock_option
from .service import target_settings


def _free(host: str, port: int) -> None:
    """Fail early on a taken port: moto's server thread would otherwise wait forever for it."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc


def _settings(target, endpoint_url, prefix, region):
    if target == "embedded":
        raise click.UsageError("choose --target localstack or aws: the embedded target provisions itself "
                               "and ends with its process")
    return target_settings(target, endpoint_url, prefix, region)


@contextmanager
def _aws_errors(doing: str):
    """Turn AWS's and the endpoint's errors into one line instead of a traceback."""
    try:
        yield
    except (BotoCoreError, ClientError, provisioning.ProvisionError) as exc:
        raise click.ClickException(f"cannot {doing}: {exc}") from exc


def _wait_for_signal() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    # Wake now and then: a signal the kernel hands to another thread only runs its handler
    # once the main thread executes Python again, which a wait without timeout never does.
    while not stopped.wait(0.2):
        pass


@click.command(short_help="Serve the embedded emulators as one AWS endpoint and a Redis.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address both emulators listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=4566, show_default=True,
              help="Port of the AWS endpoint (0: any free port).")
@click.option("--redis-port", type=click.IntRange(0, 65535), default=6379, show_default=True,
              help="Port of the fakeredis server (0: any free port).")
@click.option("--worker-logs", type=click.Path(file_okay=False),
              help="Write each Batch job's output to DIR/<batch job id>.log instead of this terminal.")
@click.option("--no-credential-check", is_flag=True,
              help="Accept requests signed with any credentials, or none (moto's default). Anyone who can reach "
                   "the port can then read and complete every job.")
@clock_option("The emulators' clock: real (default), skip (jump to the next timer when idle) or scale=N. "
              "Step Functions timers, Batch timeouts and SQS times follow it; a service in another process "
              "keeps the wall clock for its own times.")
def emulate(host, port, redis_port, worker_logs, no_credential_check, clock):
    """Serve the embedded emulators alone: one LocalStack-compatible AWS endpoint and a Redis.

    Batch jobs submitted to it run as local processes on this machine. Prints
    the endpoint and Redis URLs as HARNESS_* variables that `harness serve`
    reads, then the only credentials the endpoint accepts (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, fresh each start), and runs until Ctrl-C or SIGTERM.

    \b
    Example:
      harness emulate --port 4566 &
      harness serve --target localstack --endpoint-url http://127.0.0.1:4566 --workers local
    """
    _free(host, port)
    _free(host, redis_port)
    if clock:
        from server.clock import CLOCK

        CLOCK.configure(clock)
    from emulators import EmbeddedRedis
    from emulators.gateway import Gateway

    aws = Gateway(host=host, port=port, worker_output=worker_logs, check_credentials=not no_credential_check).start()
    try:
        redis = EmbeddedRedis(host=host, port=redis_port).start()
    except OSError as exc:
        aws.stop()
        raise click.ClickException(f"cannot serve Redis on {host}:{redis_port}: {exc}") from exc
    try:
        click.echo(f"HARNESS_ENDPOINT_URL={aws.endpoint}")
        click.echo(f"AWS_ENDPOINT_URL={aws.endpoint}")
        click.echo(f"HARNESS_REDIS_URL={redis.url}")
        click.echo(f"AWS_ACCESS_KEY_ID={aws.credentials.access_key_id}")
        click.echo(f"AWS_SECRET_ACCESS_KEY={aws.credentials.secret_access_key}")
        sys.stdout.flush()
        checked = ("only the credentials above are accepted" if not no_credential_check
                   else "credentials are NOT checked (--no-credential-check)")
        click.echo(f"AWS endpoint (Step Functions, Batch, SQS, DynamoDB, S3, IAM, ...) on {aws.endpoint}; "
                   f"Redis on {redis.url}; {checked}. Batch jobs run as local processes here. Ctrl-C stops.",
                   err=True)
        startup.resume()  # the `harness` command paused the collector for its start-up
        _wait_for_signal()
    finally:
        started = time.monotonic()
        click.echo("stopping: ending worker processes...", err=True)
        aws.stop()
        redis.stop()
        click.echo(f"stopped in {time.monotonic() - started:.1f} s", err=True)


@click.command(short_help="Create the AWS resources the service needs.")
@_target_options(redis=False)
def provision(target, endpoint_url, prefix, region):
    """Create the table, queue, bucket, Batch environment and roles that are missing; print each.

    \b
    Example:
      harness provision --target aws --prefix jobservice-staging
    """
    settings = _settings(target, endpoint_url, prefix, region)
    with _aws_errors(f"provision on {settings.endpoint_url or 'AWS'}"):
        created = provisioning.provision(provisioning.clients_for(settings), settings.names,
                                         log=lambda text: click.echo(text))
    if not created:
        click.echo(f"nothing to create: every resource of prefix {prefix!r} exists")


@click.command(short_help="Delete what `harness provision` created.")
@_target_options(redis=False)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def teardown(target, endpoint_url, prefix, region, yes):
    """Delete the resources that `harness provision` created (tagged by it), and nothing else.

    \b
    Example:
      harness teardown --target localstack --yes
    """
    settings = _settings(target, endpoint_url, prefix, region)
    if target == "aws" and not yes:
        click.confirm(f"Delete the resources of prefix {prefix!r} that `harness provision` created?", abort=True)
    with _aws_errors(f"tear down on {settings.endpoint_url or 'AWS'}"):
        removed = provisioning.teardown(provisioning.clients_for(settings), settings.names,
                                        log=lambda text: click.echo(text))
    if not removed:
        click.echo(f"nothing deleted: no resource of prefix {prefix!r} that carries the provision tag could be deleted")
