"""The Job Service API for a production WSGI server, configured by environment variables.

    gunicorn -w 4 -b 0.0.0.0:8080 'harness.wsgi:create_app()'

Serves the API role only: run the loops with `harness serve --role queue`
and `--role poller`, and the resources with `harness provision`, first.
"""

import os

from server.service import Service

from .service import names_for, target_settings


def settings_from_env(environ=os.environ):
    """Settings from HARNESS_TARGET, HARNESS_ENDPOINT_URL, HARNESS_REDIS_URL, HARNESS_PREFIX, ...

    The region comes from AWS_REGION, or boto3's own configuration.
    """
    target = environ.get("HARNESS_TARGET", "aws")
    public_url = environ.get("HARNESS_PUBLIC_URL")
    redis_url = environ.get("HARNESS_REDIS_URL")
    if not public_url or not redis_url:
        raise RuntimeError("set HARNESS_PUBLIC_URL (the URL workers call) and HARNESS_REDIS_URL (Redis, "
                           "e.g. the ElastiCache endpoint) for the WSGI app")
    keys = tuple(k for k in environ.get("HARNESS_API_KEYS", "").replace(",", " ").split() if k)
    prefix = environ.get("HARNESS_PREFIX", "jobservice")
    return target_settings(target, environ.get("HARNESS_ENDPOINT_URL"), prefix, environ.get("AWS_REGION"),
                           names=names_for(prefix, environ), redis_url=redis_url, public_url=public_url.rstrip("/"),
                           api_keys=keys)


def create_app(environ=None):
    """Build the API's Flask app for the deployment the environment describes."""
    return Service(settings_from_env(os.environ if environ is None else environ)).app
