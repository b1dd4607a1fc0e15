"""A worker that finishes at once, with as few imports as the standard library allows: start, finish."""

import http.client
import json
import os
from urllib.parse import urlsplit

URL = urlsplit(os.environ["JOBSERVICE_URL"])
HEADERS = {"Authorization": f"Bearer {os.environ['JOBSERVICE_WORKER_TOKEN']}", "Content-Type": "application/json"}
connection = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)


def call(path, body=None):
    connection.request("POST", path, body=json.dumps(body or {}), headers=HEADERS)
    response = connection.getresponse()
    payload = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {payload}")
    return payload


given = call("/v2/workers/start")["input"]
call("/v2/worker/finish", {"output": {**given, "steps": given.get("steps", 0) + 1}})
