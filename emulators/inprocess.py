"""Send a boto3 client's requests straight into moto's WSGI app in this process, not over loopback HTTP.

The embedded target runs moto as a server on loopback, for worker processes and presigned
URLs. The service itself runs in the same process: its own calls can skip the socket, the
HTTP parsing and the server's thread per connection, and still reach the very backends (and
the very WSGI app) that the loopback server serves. `InProcessTransport` is a botocore
`before-send` handler: it answers requests for its endpoint and lets any other go over HTTP.

`attach(events)` also gives the client's requests to that endpoint a signature that is only a
form: the credential scope moto reads (key, date, region, service), no HMAC chain. Nothing
checks a signature on this path (the loopback server's check is for other processes), and
SigV4 signing was 7 % of the service's CPU. Presigned URLs, and requests to any other endpoint,
are signed as usual.
"""

from urllib.parse import urlsplit

from botocore import auth
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
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
    """A `before-send` handler that runs requests for `endpoint` through `app` (a WSGI app) in this thread."""

    def __init__(self, app, endpoint: str):
        self.app = app
        self.netloc = urlsplit(endpoint).netloc
        _IN_PROCESS.add(self.netloc)

    def attach(self, events) -> None:
        """Serve a client's requests for this endpoint in process (`events`: its `client.meta.events`)."""
        events.register("before-send", self)
        events.register("choose-signer", self._choose_signer)

    def _choose_signer(self, signature_version=None, **_kwargs):
        if signature_version in _FORM_ONLY:  # not a presigned URL ("-query"), which goes to another process
            return _FORM_ONLY[signature_version]
        return None

    def __call__(self, request, **_kwargs):
        url = urlsplit(request.url)
        if url.netloc != self.netloc:
            return None  # another endpoint: over HTTP as usual
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        elif isinstance(body, str):
            body = body.encode("utf-8")
        headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in request.headers.items()]
        environ = EnvironBuilder(method=request.method, base_url=f"{url.scheme}://{url.netloc}", path=url.path,
                                 query_string=url.query, headers=headers,
                                 data=body or b"").get_environ()
        app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            content = b"".join(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        response_headers = HTTPHeaders()
        for key, value in headers.items():
            response_headers[key] = value
        return AWSResponse(request.url, int(status.split(" ", 1)[0]), response_headers, _Body(content))


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


#: Signature versions the in-process clients use, and the form-only signer each becomes.
_FORM_ONLY = {"v4": "jobservice-form-v4", "s3v4": "jobservice-form-s3v4"}
auth.AUTH_TYPE_MAPS.setdefault("jobservice-form-v4", _form_only(auth.SigV4Auth))
auth.AUTH_TYPE_MAPS.setdefault("jobservice-form-s3v4", _form_only(auth.S3SigV4Auth))
#: The endpoints (host:port) of this process's in-process transports.
_IN_PROCESS: set[str] = set()
