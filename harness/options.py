"""Options several `harness` commands share (kept apart so that every command module can import them)."""

import click

from .service import TARGETS


def _check_clock(ctx, param, value):
    from server.clock import ClockError, parse_mode

    if value is not None:
        try:
            parse_mode(value)
        except ClockError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def clock_option(help_text: str):
    """--clock real|skip|scale=N (HARNESS_CLOCK)."""
    return click.option("--clock", metavar="real|skip|scale=N", envvar="HARNESS_CLOCK", callback=_check_clock,
                        help=help_text)


def _target_options(fn=None, *, redis=True):
    """The options that say where AWS is (and Redis, for commands that use it)."""
    if fn is None:
        return lambda f: _target_options(f, redis=redis)
    fn = click.option("--target", type=click.Choice(TARGETS), default="embedded", show_default=True,
                      envvar="HARNESS_TARGET", help="Where AWS is: moto in this process, a LocalStack-"
                      "compatible endpoint, or real AWS (the usual boto3 credential chain).")(fn)
    fn = click.option("--endpoint-url", envvar="HARNESS_ENDPOINT_URL",
                      help="The endpoint of the localstack target (default: localstack-client's, "
                      "http://localhost:4566).")(fn)
    if redis:
        fn = click.option("--redis-url", envvar="HARNESS_REDIS_URL",
                          help="Redis (ElastiCache) URL; without it, fakeredis on a free loopback port.")(fn)
    fn = click.option("--prefix", default="jobservice", show_default=True, envvar="HARNESS_PREFIX",
                      help="Prefix of the table, queue, bucket, Batch and IAM names.")(fn)
    fn = click.option("--region", envvar="AWS_REGION", help="AWS region (default us-east-1).")(fn)
    return fn
