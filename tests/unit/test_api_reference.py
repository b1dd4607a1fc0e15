"""The HTTP API reference (docs/reference/http-api.md) and the OpenAPI document describe the same endpoints."""

import json
import re
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference" / "http-api.md"
OPENAPI = ROOT / "server" / "openapi.json"
ENDPOINT = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/v2/[^`?\s]*)")


def normal(path: str) -> str:
    """A path with every parameter spelled `{}` (`{urn}`, `{key:path}`, `<urn>` alike)."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "{}", path.rstrip("/"))


def documented() -> set:
    return {(method, normal(path)) for method, path in ENDPOINT.findall(REFERENCE.read_text())}


def test_the_reference_documents_every_endpoint_of_the_contract():
    contract = {("GET", "/v2/health"), ("POST", "/v2/definitions"), ("GET", "/v2/definitions/{}"),
                ("GET", "/v2/definitions"), ("POST", "/v2/jobs/requests"), ("GET", "/v2/jobs/requests/{}"),
                ("GET", "/v2/jobs/{}"), ("GET", "/v2/jobs"), ("POST", "/v2/jobs/{}/cancel"),
                ("POST", "/v2/workers/start"), ("POST", "/v2/workers/files"), ("GET", "/v2/workers/files/{}"),
                ("GET", "/v2/files/{}"), ("POST", "/v2/worker/results"), ("POST", "/v2/worker/heartbeat"),
                ("POST", "/v2/worker/finish"), ("GET", "/v2/openapi.json")}
    assert contract - documented() == set()


def test_the_reference_and_the_openapi_document_name_the_same_endpoints():
    spec = json.loads(OPENAPI.read_text())
    described = {(method.upper(), normal(path)) for path, item in spec["paths"].items()
                 for method in item if method.lower() in ("get", "post", "put", "patch", "delete")}
    text = REFERENCE.read_text()
    assert documented() - described == set(), "documented here, missing from the OpenAPI document"
    missing = {(m, p) for m, p in described - documented() if p not in text}  # aliases are named in the text
    assert missing == set(), "in the OpenAPI document, missing from the reference"
