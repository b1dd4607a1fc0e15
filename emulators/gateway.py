"""EmbeddedAWS as a LocalStack-compatible gateway: moto's endpoint plus LocalStack's health and Chaos API routes.

Scripts and CI jobs written for LocalStack wait on `GET /_localstack/health`;
moto has no such route, so it is answered here in front of moto.
"""

import json

from . import faults
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


CHAOS_FAULTS, CHAOS_EFFECTS = "/_localstack/chaos/faults", "/_localstack/chaos/effects"


def _json(start_response, status: str, value) -> list:
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _read_json(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(min(length, 1 << 20)) if length else b""
    return json.loads(raw or b"null")


def chaos(environ, start_response):
    """LocalStack's Chaos API: GET/POST (replace)/PATCH or PUT (add)/DELETE (remove) fault rules; latency effects."""
    method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
    try:
        body = _read_json(environ) if method in ("POST", "PUT", "PATCH", "DELETE") else None
        if path == CHAOS_EFFECTS:
            if method == "POST":
                latency = (body or {}).get("latency", 0) if isinstance(body, dict) else None
                if isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency <= 60_000:
                    raise faults.FaultError("'latency' must be a number of milliseconds, 0-60000")
                faults.effects["latency"] = latency
            elif method != "GET":
                return _json(start_response, "405 Method Not Allowed", {"error": "use GET or POST"})
            return _json(start_response, "200 OK", {"latency": faults.effects.get("latency", 0)})
        if method == "GET":
            return _json(start_response, "200 OK", [r.to_chaos() for r in faults.rules()])
        items = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
        if items is None:
            raise faults.FaultError("send a JSON list of fault rules")
        given = [faults.rule_from_chaos(item) for item in items]  # every rule checked before any applies
        if method == "POST":
            faults.replace_all(given)
        elif method in ("PUT", "PATCH"):
            for rule in given:
                faults.add(rule)
        elif method == "DELETE":
            shapes = [r.to_chaos() for r in given]
            faults.replace_all([r for r in faults.rules() if r.to_chaos() not in shapes])
        else:
            return _json(start_response, "405 Method Not Allowed", {"error": "use GET, POST, PUT, PATCH or DELETE"})
        return _json(start_response, "200 OK", [r.to_chaos() for r in faults.rules()])
    except (faults.FaultError, ValueError, TypeError) as exc:
        message = str(exc) if isinstance(exc, faults.FaultError) else "the body is not valid JSON fault rules"
        return _json(start_response, "400 Bad Request", {"error": {"code": "InvalidFaultRule", "message": message}})


def with_chaos(app):
    """Wrap a WSGI app so that LocalStack's Chaos API routes configure the fault rules of emulators/faults.py."""

    def gateway(environ, start_response):
        if environ.get("PATH_INFO") in (CHAOS_FAULTS, CHAOS_EFFECTS):
            return chaos(environ, start_response)
        return app(environ, start_response)

    return gateway


class Gateway(EmbeddedAWS):
    """EmbeddedAWS that also answers LocalStack's health route."""

    def start(self) -> "Gateway":
        super().start()
        # werkzeug's request handler reads `server.app` per request: wrap it before anyone is told the URL.
        server = self._server._server
        server.app = with_chaos(with_health(server.app))
        return self
