"""Send a boto3 client's requests straight into moto in this process, not over loopback HTTP.

The embedded target runs moto as a server on loopback, for worker processes and presigned
URLs. The service itself runs in the same process: its own calls can skip the socket, the
HTTP parsing and the server's thread per connection, and still reach the very backends that
the loopback server serves. `InProcessTransport` is a botocore `before-send` handler: it
answers requests for its endpoint and lets any other go over HTTP.

Two ways in, with the same answers (tests/test_inprocess_direct.py compares them call by call):

- `direct=False`: the request becomes a WSGI environ (werkzeug's `EnvironBuilder`) and runs
  through the whole WSGI app the loopback server runs (the harness's fault and scope wrappers,
  moto's domain dispatcher, a Flask app per service, moto's view).
- `direct=True` (what `EmbeddedAWS.transport()` gives): the environ is written out directly
  (the same keys and values as `EnvironBuilder`'s, for the plain paths and ASCII queries that
  botocore sends; anything else still goes through `EnvironBuilder`), and it runs through the
  same fault and scope wrappers, in the same order, around `DirectDispatch`, which calls moto's
  view without Flask's request handling (see its docstring) and falls back to the Flask app for
  anything it cannot serve that way. Measured by bench/inprocess_calls.py: half the CPU that
  the transport spends around moto's handler (0.47-0.60x), 0.61-0.80x the CPU per call in all,
  0.91x per trivial two-step job (docs/explanation/performance.md).

`attach(events)` also gives the client's requests to that endpoint a signature that is only a
form: the credential scope moto reads (key, date, region, service), no HMAC chain. Nothing
checks a signature on this path (the loopback server's check is for other processes), and
SigV4 signing was 7 % of the service's CPU. Presigned URLs, and requests to any other endpoint,
are signed as usual.
"""

import functools
import io
import re
import sys
import threading
from urllib.parse import urlsplit

from botocore import auth
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.compat import HTTPHeaders
from botocore.handlers import generate_idempotent_uuid
from flask.globals import _cv_app, _cv_request
from moto.core.utils import convert_to_flask_response
from moto.moto_server.werkzeug_app import BackendRequest
from werkzeug.exceptions import BadRequestKeyError, HTTPException
from werkzeug.sansio.utils import get_current_url, get_host
from werkzeug.utils import cached_property
from werkzeug.test import EnvironBuilder, run_wsgi_app


class _Body:
    """A response body as botocore reads it (`read()`, `stream()`)."""

    def __init__(self, data: bytes):
        self._data = data

    def read(self, *_args, **_kwargs) -> bytes:
        data, self._data = self._data, b""
        return data

    def stream(self, **_kwargs):
        data = self.read()
        if data:
            yield data

    def close(self) -> None:
        self._data = b""


class InProcessTransport:
    """A `before-send` handler that runs requests for `endpoint` through `app` (a WSGI app) in this thread.

    `direct`: write the environ out directly where it is plain (else, and when False, werkzeug's
    `EnvironBuilder` makes it) and call `app` without werkzeug's `run_wsgi_app`.
    """

    def __init__(self, app, endpoint: str, direct: bool = False):
        self.app = app
        self.netloc = urlsplit(endpoint).netloc
        self.direct = direct
        host, _, port = self.netloc.rpartition(":")
        self._server = (host, port) if host and port.isdigit() else None
        _IN_PROCESS.add(self.netloc)

    def attach(self, events, client=None) -> None:
        """Serve a client's requests for this endpoint in process (`events`: its `client.meta.events`).

        With the `client` itself, the calls of a JSON-protocol client (DynamoDB, SQS, Step Functions)
        also skip botocore's request pipeline where they can (`_DirectCalls`).
        """
        events.register("before-send", self)
        events.register("choose-signer", self._choose_signer)
        if client is not None and _DirectCalls.serves(self, client):
            client._make_api_call = _DirectCalls(self, client)

    def _choose_signer(self, signature_version=None, **_kwargs):
        if signature_version in _FORM_ONLY:  # not a presigned URL ("-query"), which goes to another process
            return _FORM_ONLY[signature_version]
        return None

    def __call__(self, request, **_kwargs):
        if urlsplit(request.url).netloc != self.netloc:
            return None  # another endpoint: over HTTP as usual
        answered = getattr(_answered, "response", None)
        if answered is not None:  # the first attempt of a call whose direct answer was an error (_DirectCalls)
            _answered.response = None
            return answered
        status, headers, content = self.respond(request)
        return AWSResponse(request.url, status, _headers(headers), _Body(content))

    def respond(self, request) -> tuple[int, list, bytes]:
        """(status, headers, body) of the answer to a request (`.method`, `.url`, `.headers`, `.body`)."""
        url = urlsplit(request.url)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        elif isinstance(body, str):
            body = body.encode("utf-8")
        body = body or b""
        headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in request.headers.items()]
        if self.direct:
            environ = self._environ(request.method, url, headers, body) or _built(request.method, url, headers, body)
            status, headers, content = _run(self.app, environ)
        else:
            app_iter, status, headers = run_wsgi_app(self.app, _built(request.method, url, headers, body),
                                                     buffered=True)
            try:
                content = b"".join(app_iter)
            finally:
                if hasattr(app_iter, "close"):
                    app_iter.close()
            headers = headers.items()
        return int(status.split(" ", 1)[0]), list(headers), content

    def _environ(self, method: str, url, headers: list, body: bytes) -> dict | None:
        """The environ `EnvironBuilder` makes of this request, written out; None where it is not that plain."""
        if self._server is None or not _PLAIN_PATH.match(url.path) or not url.query.isascii():
            return None
        environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": url.path, "QUERY_STRING": url.query,
                   "REQUEST_URI": url.path, "RAW_URI": url.path, "SERVER_NAME": self._server[0],
                   "SERVER_PORT": self._server[1], "HTTP_HOST": self.netloc, "SERVER_PROTOCOL": "HTTP/1.1",
                   "wsgi.version": (1, 0), "wsgi.url_scheme": url.scheme, "wsgi.input": io.BytesIO(body),
                   "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
                   "wsgi.run_once": False}
        combined: dict = {}
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-type":
                if not body:
                    return None  # a form or multipart type without a body: EnvironBuilder writes one
                environ["CONTENT_TYPE"] = value
            elif lowered == "content-length":
                continue
            elif "\n" in value or "\r" in value:
                return None  # werkzeug's Headers refuse these
            else:
                combined.setdefault("HTTP_" + name.upper().replace("-", "_"), []).append(value)
        environ.update((key, ", ".join(values)) for key, values in combined.items())
        if body:  # EnvironBuilder counts the body; without one it drops a Content-Length header
            environ["CONTENT_LENGTH"] = str(len(body))
        return environ


#: A path that EnvironBuilder passes on unchanged (no quoting to undo, nothing urlsplit would read as a host).
_PLAIN_PATH = re.compile(r"^/(?!/)[A-Za-z0-9/_.~-]*$")


def _built(method: str, url, headers: list, body: bytes) -> dict:
    """The environ of a request, as werkzeug's test client builds it."""
    return EnvironBuilder(method=method, base_url=f"{url.scheme}://{url.netloc}", path=url.path,
                          query_string=url.query, headers=headers, data=body).get_environ()


def _run(app, environ) -> tuple[str, list, bytes]:
    """(status, headers, body) of a WSGI app's answer to `environ`."""
    started = []

    def start_response(status, headers, exc_info=None):
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return written.append

    written: list = []
    app_iter = app(environ, start_response)
    try:
        content = b"".join(written) + b"".join(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    return started[0], started[1], content


class DirectDispatch:
    """A WSGI app that answers what moto's server answers, calling moto's handler without Flask when it can.

    moto's `DomainDispatcherApplication` picks a Flask app per service; Flask matches the path to
    a view, pushes its contexts, calls the view (moto's `convert_to_flask_response` around a
    response class's `dispatch`), runs its after-request functions (flask-cors) and answers
    with the view's Response. For a view of that kind, in a Flask app with nothing else
    registered, this does the same steps directly: the dispatcher's own choice of app, the app's
    own URL map (its answer kept per method and path), the app's request class (`_DirectRequest`,
    a subclass), the very view and after-request functions, and Flask's answer to an HTTP error
    that escapes the view, under the context variables that `flask.request` and
    `flask.current_app` read. Any other request is the Flask app's, as before.
    """

    _MAX_ROUTES = 4096  # S3 keys make paths unbounded: the cache starts afresh past this

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self._routes: dict = {}

    def __call__(self, environ, start_response):
        app = self.dispatcher.get_application(environ)
        key = (app, environ["REQUEST_METHOD"], environ["PATH_INFO"])
        try:
            route = self._routes[key]
        except KeyError:
            route = _route(app, environ)
            if len(self._routes) >= self._MAX_ROUTES:
                self._routes.clear()
            self._routes[key] = route
        if route is None:
            return app(environ, start_response)
        view, arguments = route
        request = _DirectRequest(environ)
        app_token = _cv_app.set(_AppContext(app))
        request_token = _cv_request.set(_RequestContext(request))
        try:
            try:
                response = view(**arguments)
            except HTTPException as exc:  # Flask's handle_user_exception, for an app without error handlers
                if isinstance(exc, BadRequestKeyError) and (app.debug or app.config["TRAP_BAD_REQUEST_ERRORS"]):
                    exc.show_exception = True
                if app.trap_http_exception(exc):
                    raise
                response = app.response_class.force_type(exc, environ)
            response = _after_request(app, response)
        finally:
            _cv_request.reset(request_token)
            _cv_app.reset(app_token)
            request.close()  # as Flask's request context does when it ends (uploaded files)
        return response(environ, start_response)


class _DirectRequest(BackendRequest):
    """moto's request class (`BackendRequest`, what Flask makes of the environ) without two costs that change nothing.

    - A body that is no form (JSON, for every service here but S3's uploads): werkzeug's form
      loading builds a form parser only to answer an empty form, and Flask (moto runs it in debug
      mode) gives `files` an ad-hoc class of its own whose KeyError names the form field, which an
      empty form never has. The same stream and empty form and files, without the parser or the class.
    - `root_url`: a function of the scheme, the Host header, the server and the root path, kept per
      those values (werkzeug writes it out anew for every request).
    """

    def _load_form_data(self) -> None:
        if "form" in self.__dict__ or "form" in (self.environ.get("CONTENT_TYPE") or "").lower():
            return super()._load_form_data()  # a form, multipart or urlencoded: parsed as always
        stream = self._get_stream_for_parsing() if self.want_form_data_parsed else self.stream
        d = self.__dict__
        d["stream"], d["form"], d["files"] = stream, self.parameter_storage_class(), self.parameter_storage_class()
        return None

    @cached_property
    def root_url(self) -> str:
        return _root_url(self.scheme, self.headers.get("host"), self.server, self.root_path, self.trusted_hosts)


@functools.lru_cache(maxsize=256)
def _root_url(scheme, host_header, server, root_path, trusted_hosts) -> str:
    return get_current_url(scheme, get_host(scheme, host_header, server, trusted_hosts), root_path)


class _AppContext:
    """What `flask.current_app` reads (`.app`)."""

    __slots__ = ("app",)

    def __init__(self, app):
        self.app = app


class _RequestContext:
    """What `flask.request` reads (`.request`)."""

    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request


def _after_request(app, response):
    """Flask's `process_response` for a plain app: its after-request functions, the last registered first."""
    for after in reversed(app.after_request_funcs.get(None, ())):
        response = after(response)
    return response


def _plain(app) -> bool:
    """A Flask app that adds nothing around its views but after-request functions (moto's, with flask-cors)."""
    from flask.sessions import SecureCookieSessionInterface

    return (app.request_class is BackendRequest and not app.blueprints and not app.url_value_preprocessors
            and not app.url_default_functions and not any(app.before_request_funcs.values())
            and not any(handlers for codes in app.error_handler_spec.values() for handlers in codes.values())
            and not any(app.teardown_request_funcs.values())
            and not app.teardown_appcontext_funcs and set(app.after_request_funcs) <= {None}
            and app.secret_key is None and type(app.session_interface) is SecureCookieSessionInterface
            and not app.config.get("SERVER_NAME") and not app.subdomain_matching and not app.url_map.host_matching)


def _route(app, environ):
    """(moto's view, its arguments) for a request to `app`, or None: a request only Flask may answer."""
    if environ["REQUEST_METHOD"] == "OPTIONS" or not _plain(app):  # Flask may answer OPTIONS itself
        return None
    try:
        rule, arguments = app.url_map.bind_to_environ(environ).match(return_rule=True)
    except HTTPException:  # no such path or method, or a redirect: Flask's own answers
        return None
    view = app.view_functions.get(rule.endpoint)
    return (view, arguments) if isinstance(view, convert_to_flask_response) else None


def _form_only(base):
    """`base` (SigV4) that writes only the form of a signature for requests to an in-process endpoint."""

    class FormOnly(base):
        def add_auth(self, request):
            if urlsplit(request.url).netloc not in _IN_PROCESS:
                return super().add_auth(request)
            request.context["timestamp"] = auth.get_current_datetime().strftime(auth.SIGV4_TIMESTAMP)
            self._modify_request_before_signing(request)  # dates, token, S3's payload header, as signed
            request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
                                                f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")
            return None

    FormOnly.__name__ = FormOnly.__qualname__ = f"FormOnly{base.__name__}"
    return FormOnly


class _Request:
    """A request as the transport and the `before-sign` handlers read it."""

    __slots__ = ("method", "url", "headers", "body", "context")

    def __init__(self, url: str, headers: dict, body: bytes):
        self.method, self.url, self.headers, self.body, self.context = "POST", url, headers, body, {}


class _DirectCalls:
    """`_make_api_call` of a JSON-protocol client (DynamoDB, SQS, Step Functions) served in process.

    botocore's pipeline around a call (events for parameters, endpoint rules, the request's
    preparation, signing, retries, the response's wrapping) cost the service more CPU than moto's
    handlers did. A call here takes the steps whose result moto or the caller sees, with botocore's
    own parts: parameter validation when the client has it, idempotency tokens, the serializer, the
    form of a signature (`FormOnly`), the `before-sign` handlers (a fault rule's participant), the
    transport's answer, the parser, and the `after-call` handlers (the sequence's arrows).

    An answer that is an error is not raised from here: the call is made again through botocore's
    whole pipeline, whose first attempt is handed that very answer (`_answered`) instead of being
    sent, so retries, error classes and events are botocore's and moto sees the request once.
    """

    def __init__(self, transport, client):
        meta = client.meta
        self.transport, self.full = transport, client._make_api_call
        self.model, self.events = meta.service_model, meta.events
        self.service_id = self.model.service_id.hyphenize()
        self.url = meta.endpoint_url.rstrip("/") + "/"
        self.region, self.signing_name = meta.region_name, self.model.signing_name or self.model.endpoint_prefix
        self.serializer, self.parser = client._serializer, client._response_parser
        self.signer = client._request_signer
        creator = getattr(client, "_user_agent_creator", None)
        self.user_agent = creator.to_string() if creator is not None else None  # as botocore writes it, once

    @staticmethod
    def serves(transport, client) -> bool:
        meta = client.meta
        return (meta.service_model.protocol == "json" and urlsplit(meta.endpoint_url).netloc == transport.netloc
                and meta.config.signature_version in (None, "v4") and client._request_signer is not None)

    def __call__(self, operation_name: str, api_params: dict):
        operation = self.model.operation_model(operation_name)
        if operation.endpoint or operation.has_streaming_input or operation.has_event_stream_output:
            return self.full(operation_name, api_params)  # a host prefix, a stream: botocore's whole way
        generate_idempotent_uuid(params=api_params, model=operation)
        request_dict = self.serializer.serialize_to_request(api_params, operation)
        headers = dict(request_dict["headers"])
        now = auth.get_current_datetime()
        credentials = self.signer._credentials.get_frozen_credentials()
        headers["X-Amz-Date"] = now.strftime(auth.SIGV4_TIMESTAMP)
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{now:%Y%m%d}/"
                                    f"{self.region}/{self.signing_name}/aws4_request, "
                                    f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")
        body = request_dict["body"]
        request = _Request(self.url, headers, body.encode("utf-8") if isinstance(body, str) else body)
        self.events.emit(f"before-sign.{self.service_id}.{operation_name}", request=request,
                         signing_name=self.signing_name, region_name=self.region, signature_version="v4",
                         request_signer=self.signer, operation_name=operation_name)
        status, answer_headers, content = self.transport.respond(request)
        if status >= 300:
            _answered.response = AWSResponse(self.url, status, _headers(answer_headers), _Body(content))
            try:
                return self.full(operation_name, api_params)
            finally:
                _answered.response = None
        response = {"status_code": status, "headers": HeadersDict(answer_headers), "body": content,
                    "context": {"operation_name": operation_name}}
        parsed = self.parser.parse(response, operation.output_shape)
        parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
        self.events.emit(f"after-call.{self.service_id}.{operation_name}", http_response=None, parsed=parsed,
                         model=operation, context={"operation_name": operation_name})
        return parsed


def _headers(pairs) -> HTTPHeaders:
    headers = HTTPHeaders()
    for key, value in pairs:
        headers[key] = value
    return headers


#: The answer a `_DirectCalls` call had, handed to the first attempt of its remake through botocore.
_answered = threading.local()

#: Signature versions the in-process clients use, and the form-only signer each becomes.
_FORM_ONLY = {"v4": "jobservice-form-v4", "s3v4": "jobservice-form-s3v4"}
auth.AUTH_TYPE_MAPS.setdefault("jobservice-form-v4", _form_only(auth.SigV4Auth))
auth.AUTH_TYPE_MAPS.setdefault("jobservice-form-s3v4", _form_only(auth.S3SigV4Auth))
#: The endpoints (host:port) of this process's in-process transports.
_IN_PROCESS: set[str] = set()
