"""A worker using only the standard library; its job input says how to behave.

Input keys: "mode" (ok, fail, crash, exit0, sleep, results), "count" (results to post
concurrently), "seconds" (sleep), "text" (content of the file it uploads), "gate" and
"gate_at_step" (before finishing, the run whose input "step" equals gate_at_step waits
until the file "gate" exists).
"""

import json
import os
import sys
import threading
import time
import urllib.request

URL, TOKEN = os.environ["JOBSERVICE_URL"], os.environ["JOBSERVICE_WORKER_TOKEN"]


def call(method, path, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def main():
    start = call("POST", "/v2/workers/start")
    given = start["input"] if isinstance(start["input"], dict) else {}
    mode = given.get("mode", "ok")
    if mode == "crash":
        sys.exit(3)
    if mode == "exit0":
        sys.exit(0)
    if mode == "sleep":
        time.sleep(given.get("seconds", 30))
    text = given.get("text", "hello")
    key = call("POST", "/v2/workers/files?name=out.txt", raw=text.encode())["key"]
    info = call("GET", f"/v2/workers/files/{key}")
    with urllib.request.urlopen(info["url"], timeout=30) as resp:
        assert resp.read() == text.encode()
    if mode == "results":
        threads = [threading.Thread(target=call, args=("POST", "/v2/worker/results", {"data": {"i": i}}))
                   for i in range(given.get("count", 20))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        call("POST", "/v2/worker/results", {"data": {"len": len(text)}, "files": [key]})
    if given.get("gate") and given.get("step", 0) == given.get("gate_at_step"):
        deadline = time.monotonic() + 30
        while not os.path.exists(given["gate"]) and time.monotonic() < deadline:
            time.sleep(0.01)
    if mode == "fail":
        call("POST", "/v2/worker/finish", {"error": "Worker.Failed", "cause": "asked to fail"})
        return
    step = given.get("step", 0) + 1
    call("POST", "/v2/worker/finish", {"output": {**given, "step": step, "key": key,
                                                  "worker": start["worker"]}})


if __name__ == "__main__":
    main()
