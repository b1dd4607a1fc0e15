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
"""

import gc

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


def main():
    """The `harness` command, with start-up paused as above."""
    pause()
    try:
        from .cli import main as cli
    except BaseException:
        resume()
        raise
    return cli()
