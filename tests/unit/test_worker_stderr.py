"""Workers' stderr is copied line by line by one thread for all of them, keeping each one's last lines."""

import subprocess
import sys
import threading
from collections import deque

from emulators.batch_local import _StderrPump

WRITER = ("import sys, time\n"
          "for i in range(3):\n"
          "    sys.stderr.write(f'{sys.argv[1]} line {i}'); sys.stderr.flush(); time.sleep(0.01)\n"
          "    sys.stderr.write('\\n'); sys.stderr.flush()\n"
          "sys.stderr.write(sys.argv[1] + ' no newline at the end')\n")


def test_each_worker_keeps_its_own_whole_lines_and_one_thread_copies_them_all(capfd):
    pump = _StderrPump()
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, f"w{n}"], stderr=subprocess.PIPE) for n in range(4)]
    tails = [deque(maxlen=3) for _ in workers]
    ended = [pump.add(w.stderr, tail) for w, tail in zip(workers, tails)]
    assert sum(t.name == "worker-stderr" for t in threading.enumerate()) == 1
    for worker, done in zip(workers, ended):
        worker.wait(30)
        assert done.wait(30)
    for n, tail in enumerate(tails):  # the last 3 of 4 lines, none cut where a write paused
        assert list(tail) == [f"w{n} line 1", f"w{n} line 2", f"w{n} no newline at the end"]
    copied = capfd.readouterr().err.splitlines()
    assert sorted(copied) == sorted(f"w{n} {what}" for n in range(4)
                                    for what in ("line 0", "line 1", "line 2", "no newline at the end"))
    pump._thread and pump._thread.join(5)
    assert pump._thread is None  # no stream left: no thread left
