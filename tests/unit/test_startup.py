"""The `harness` command's end (harness/startup.py `finish`): what a normal exit shows, without the teardown."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("code, status, stderr", [
    ("3", 3, ""), ("0", 0, ""), ("None", 0, ""), ("'it went wrong'", 1, "it went wrong\n"),
])
def test_finish_exits_as_sys_exit_would_after_atexit_handlers_threads_and_buffered_output(code, status, stderr):
    done = python(
        "import atexit, threading, time, sys\n"
        "from harness.startup import finish\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "def late():\n"
        "    time.sleep(0.2)\n"
        "    print('thread done', end=' ')\n"
        "threading.Thread(target=late).start()\n"  # not a daemon: a normal exit waits for it
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"  # a daemon: not waited for
        "print('buffered', end=' ')\n"  # stdout is a pipe here: block-buffered until flushed
        f"finish({code})\n"
        "print('never')\n")
    assert (done.returncode, done.stdout, done.stderr) == (status, "buffered thread done atexit ran\n", stderr)


def test_the_harness_command_keeps_its_exit_codes_and_output():
    listed = subprocess.run([sys.executable, "-m", "harness", "run", "--list", "scenarios/"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.strip().endswith("scenario(s)")
    assert "documented_sequence.scenario.yaml" in listed.stdout
    missing = subprocess.run([sys.executable, "-m", "harness", "run", "no-such.scenario.yaml"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no-such.scenario.yaml" in missing.stderr and "No such file" in missing.stderr
