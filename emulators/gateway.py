"""EmbeddedAWS as a LocalStack-compatible gateway: moto's endpoint plus LocalStack's health route.

Scripts and CI jobs written for LocalStack wait on `GET /_localstack/health`;
moto has no such route, so it is answered here in front of moto.
"""

import json

from .aws import EmbeddedAWS

# Only LocalStack's own path: any other (e.g. /health) is a valid path-style S3 bucket URL.
HEALTH_PATHS = ("/_localstack/health",)
#: The services the Job Service uses, all served by this endpoint (moto serves more).
SERVICES = ("batch", "dynamodb", "iam", "s3", "sqs", "stepfunctions", "sts")


def with_health(app):
    """Wrap a WSGI app so that LocalStack's health route answers with the services it runs."""
    body = json.dumps({"services": {name: "running" for name in SERVICES},
                       "edition": "community", "version": "harness-emulate"}).encode()

    def gateway(environ, start_response):
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and environ.get("PATH_INFO") in HEALTH_PATHS:
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body] if environ["REQUEST_METHOD"] == "GET" else []
        return app(environ, start_response)

    return gateway


class Gateway(EmbeddedAWS):
    """EmbeddedAWS that also answers LocalStack's health route."""

    def start(self) -> "Gateway":
        super().start()
        # werkzeug's request handler reads `server.app` per request: wrap it before anyone is told the URL.
        server = self._server._server
        server.app = with_health(server.app)
        return self
