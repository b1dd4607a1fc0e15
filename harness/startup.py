"""Start-up of a `harness` command without the cyclic garbage collector.

Importing moto, botocore and the emulators allocates a few hundred thousand long-lived
objects (service models, region and instance-type tables, ANTLR parsers). Each of them
would be traversed again by every full collection that the allocations themselves trigger:
about 0.3 s of a cold `harness run` on 2 cores. The `harness` command pauses the collector
before its first import (`harness/__main__.py`, the `harness` console script) and resumes it
once its service or emulator is up, moving what start-up left alive into the permanent
generation (`gc.freeze()`), so later collections do not walk it again.

Only a process that `pause()` itself does this: importing the harness as a library (the
pytest plugin, a user's script) leaves the collector as it is.

The command also ends without the interpreter's teardown (`finish`): what a normal exit does that
anybody sees still happens, but the million-odd objects of moto, botocore and the ASL parser are not
freed one by one first (about 80 ms at the end of every `harness run`).
"""

import atexit
import gc
import os
import sys
import threading

_paused = False


def pause() -> None:
    """Stop cyclic collection until `resume()` (a no-op if the collector is already off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what start-up left alive and collect again (only after this process's own `pause()`)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def finish(code=0):
    """Exit as `sys.exit(code)` would, without tearing down the interpreter's objects.

    Non-daemon threads are waited for, the atexit handlers run (logging's flush, a coverage run's data
    file), and the standard streams are flushed; then the process ends (`os._exit`) with the status
    `sys.exit` gives `code`: 0 for None, an int as it is, anything else printed to stderr and 1.
    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: as at a normal exit, nothing more to write
            status = status or 120
    os._exit(status)


def main():
    """The `harness` command, with start-up paused as above, ended by `finish`."""
    pause()
    try:
        from .cli import main as cli
    except BaseException:
        resume()
        raise
    try:
        cli()
    except SystemExit as exc:
        finish(exc.code)
    finish(0)
