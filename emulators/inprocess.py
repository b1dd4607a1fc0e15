"""Send a boto3 client's requests straight into moto's WSGI app in this process, not over loopback HTTP.

The embedded target runs moto as a server on loopback, for worker processes and presigned
URLs. The service itself runs in the same process: its own calls can skip the socket, the
HTTP parsing and the server's thread per connection, and still reach the very backends (and
the very WSGI app) that the loopback server serves. `InProcessTransport` is a botocore
`before-send` handler: it answers requests for its endpoint and lets any other go over HTTP.
"""

from urllib.parse import urlsplit

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
