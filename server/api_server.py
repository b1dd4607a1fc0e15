"""The API Server: a Flask app with one blueprint per participant that serves HTTP."""

import hmac
import json
import logging
from importlib import resources

import redis
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, g, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from . import clock, definitions, files, jobs, observe, worker_clock, worker_helper, worker_manager
from .errors import ApiError, PayloadTooLarge, ServiceUnavailable, Unauthorized

log = logging.getLogger(__name__)

#: Which participant serves each blueprint, and who calls it, in the diagram's words.
PARTICIPANTS = {
    "definitions": ("API Server", "Client"),
    "jobs": ("API Server", "User"),
    "files": ("API Server", "User"),
    "worker_manager": ("Worker Manager", "Worker"),
    "worker_helper": ("Worker Helper", "Worker"),
    "worker_clock": ("Worker Manager", "Worker"),
}
CLIENT_BLUEPRINTS = {"definitions", "jobs", "files"}


def create_app(service) -> Flask:
    """Build the API for one running service."""
    app = Flask("jobservice", static_folder=None)  # no /static route: the API serves no files of its own
    app.config["MAX_CONTENT_LENGTH"] = service.settings.max_upload_bytes
    app.json.sort_keys = False
    app.extensions["jobservice"] = service
    for module in (definitions, jobs, files, worker_manager, worker_helper, worker_clock):
        app.register_blueprint(module.bp)

    @app.get("/v2/health")
    def health():
        body, ok = service.health()
        return jsonify(body), 200 if ok else 503

    document = json.loads(resources.files(__package__).joinpath("openapi.json").read_text())

    @app.get("/v2/openapi.json")
    def openapi():
        return jsonify(document)

    @app.before_request
    def enter():
        if request.method not in ("GET", "HEAD"):  # a call that changes something holds the clock still (skip)
            g.clock_key = clock.thread_key()
            clock.CLOCK.hold(g.clock_key)
        participant, caller = PARTICIPANTS.get(request.blueprint, ("API Server", "User"))
        g.observed = observe.acting_as(participant)
        g.observed.__enter__()
        g.caller = caller
        observe.record(caller, participant, f"{request.method} {request.path}")
        if request.blueprint in CLIENT_BLUEPRINTS:
            check_api_key(service.settings.api_keys, request.headers.get("Authorization"))

    @app.after_request
    def leave(response):
        if "observed" in g:
            observe.record(observe.current(), g.caller, str(response.status_code), kind="return")
        return response

    @app.teardown_request
    def teardown(_exc=None):
        if "clock_key" in g:
            clock.CLOCK.release(g.pop("clock_key"))
        if "observed" in g:
            g.pop("observed").__exit__(None, None, None)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        if exc.status_code >= 500 and exc.__cause__ is not None:  # the detail goes to the log, not the caller
            log.warning("%s: %s", exc.message, exc.__cause__, exc_info=exc.__cause__)
        return jsonify(exc.to_dict()), exc.status_code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 413:
            return api_error(PayloadTooLarge(
                f"the body is over the limit of {service.settings.max_upload_bytes} bytes"))
        code = "".join(w.capitalize() for w in (exc.name or "Error").split())
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}  # e.g. a 405's Allow
        return jsonify({"error": {"code": code, "message": exc.description}}), exc.code, headers

    @app.errorhandler(ClientDisconnected)
    def read_timeout(_exc):  # a body shorter than its Content-Length: it stalled past the read timeout, or ended
        error = ApiError("the request's body stopped arriving before it was complete", "RequestTimeout", 408)
        return jsonify(error.to_dict()), 408, {"Connection": "close"}

    @app.errorhandler(ClientError)
    @app.errorhandler(BotoCoreError)
    @app.errorhandler(redis.RedisError)
    def backend_error(exc):
        component = failing_component(exc)
        log.warning("%s failed on %s %s", component, request.method, request.path, exc_info=True)
        return api_error(ServiceUnavailable(f"{component} failed; the detail is in the server's log"))

    @app.errorhandler(Exception)
    def unexpected(exc):
        service.report_error()
        log.error("unexpected error on %s %s", request.method, request.path, exc_info=True)
        message = f"an unexpected error in the {PARTICIPANTS.get(request.blueprint, ('API Server',))[0]}; " \
                  "the detail is in the server's log"
        return jsonify({"error": {"code": "InternalError", "message": message}}), 500

    return app


#: boto3 service names as the diagram names the participants.
COMPONENTS = {"dynamodb": "DynamoDB", "sqs": "SQS", "stepfunctions": "Step Functions", "batch": "AWS Batch",
              "s3": "S3", "iam": "IAM"}


def failing_component(exc: BaseException) -> str:
    """The backing service an exception came from, named for an error message: never its text."""
    if isinstance(exc, redis.RedisError):
        return "the cache (Redis)"
    tb = exc.__traceback__
    while tb is not None:  # botocore raises inside the client's own method: its `self` names the service
        model = getattr(getattr(tb.tb_frame.f_locals.get("self"), "meta", None), "service_model", None)
        name = getattr(model, "service_name", None)
        if isinstance(name, str):
            return COMPONENTS.get(name, name)
        tb = tb.tb_next
    return "a backing service"


def check_api_key(keys, header: str | None) -> None:
    """Allow the call if no key is configured or it carries `Bearer <one of the keys>`."""
    if not keys:
        return
    scheme, _, key = (header or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or not any(hmac.compare_digest(key, k) for k in keys):
        raise Unauthorized("this call needs 'Authorization: Bearer <api key>'")
