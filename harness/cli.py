"""The `harness` command: serve the Job Service, replay scenarios, provision resources."""

import logging
import signal
import sys
import threading

import click

from .service import TARGETS, RunningService


def _target_options(fn):
    fn = click.option("--target", type=click.Choice(TARGETS), default="embedded", show_default=True,
                      envvar="HARNESS_TARGET", help="Where AWS is: moto in this process, a LocalStack-"
                      "compatible endpoint, or real AWS (the usual boto3 credential chain).")(fn)
    fn = click.option("--endpoint-url", envvar="HARNESS_ENDPOINT_URL",
                      help="The endpoint of the localstack target (default: localstack-client's, "
                      "http://localhost:4566).")(fn)
    fn = click.option("--redis-url", envvar="HARNESS_REDIS_URL",
                      help="Redis (ElastiCache) URL; without it, fakeredis on a free loopback port.")(fn)
    fn = click.option("--prefix", default="jobservice", show_default=True, envvar="HARNESS_PREFIX",
                      help="Prefix of the table, queue, bucket, Batch and IAM names.")(fn)
    fn = click.option("--region", envvar="AWS_REGION", help="AWS region (default us-east-1).")(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose):
    """Run the Job Service anywhere: embedded (no AWS, no Docker), LocalStack, or AWS."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR if verbose < 2 else logging.DEBUG))


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of the API on 127.0.0.1 (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API listens on.")
@click.option("--api-key", "api_keys", multiple=True, envvar="HARNESS_API_KEYS",
              help="A client API key (repeat for several); none: client calls are open.")
@click.option("--public-url", help="JOBSERVICE_URL given to workers (default: the API's own URL).")
@click.option("--worker-logs", type=click.Path(file_okay=False),
              help="Write each local worker's output to DIR/<batch job id>.log instead of this terminal.")
@_target_options
def serve(port, host, api_keys, public_url, worker_logs, target, endpoint_url, redis_url, prefix, region):
    """Serve the Job Service API until Ctrl-C or SIGTERM."""
    running = RunningService(target=target, host=host, port=port, api_keys=api_keys, endpoint_url=endpoint_url,
                             redis_url=redis_url, prefix=prefix, region=region, public_url=public_url,
                             worker_output=worker_logs, say=lambda text: click.echo(text, err=True))
    try:
        running.start()
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from exc
    stopped = threading.Event()

    def on_signal(signum, _frame):
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    auth = f", {len(api_keys)} API key(s)" if api_keys else ", client calls open (no --api-key)"
    click.echo(f"Job Service ({target}) listening on {running.url}{auth}", err=True)
    click.echo(running.url)
    sys.stdout.flush()
    try:
        stopped.wait()
    finally:
        click.echo("stopping...", err=True)
        running.stop()
        click.echo("stopped", err=True)


def _register_commands() -> None:
    """Add the commands that live in their own modules."""
    import importlib

    for module, names in (("harness.cli_run", ("run",)), ("harness.cli_aws", ("provision", "teardown", "emulate"))):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for name in names:
            if hasattr(mod, name):
                main.add_command(getattr(mod, name))


_register_commands()

if __name__ == "__main__":
    main()
