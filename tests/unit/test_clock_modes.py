"""The process clock's semantics: modes, advance, deadlines, idle detection and skip."""

import threading

import pytest
from hypothesis import given, strategies as st

from server.clock import Clock, ClockError, parse_mode, worker_key


class FakeWall:
    def __init__(self, start=1_800_000_000.0):
        self.t = start

    def __call__(self):
        return self.t


positive = st.floats(min_value=0.001, max_value=1e4, allow_nan=False, allow_infinity=False)
durations = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.sampled_from(["real", "skip"]) | positive.map(lambda n: f"scale={n:g}"))
def test_every_valid_mode_parses_and_is_reported_back(mode):
    clock = Clock(wall=FakeWall())
    clock.configure(mode)
    assert clock.mode == mode
    clock.reset()


@pytest.mark.parametrize("mode", ["", "fast", "scale=", "scale=0", "scale=-2", "scale=x", "skip=3", "REAL "])
def test_a_bad_mode_is_a_clear_error(mode):
    with pytest.raises(ClockError, match="real, skip, scale=N|positive"):
        parse_mode(mode)


@given(positive, st.lists(durations, max_size=5))
def test_scale_runs_virtual_time_n_times_faster(rate, steps):
    wall = FakeWall(start=0.0)  # near the epoch a float step of the wall is exact enough to scale by 10^4
    clock = Clock(wall=wall)
    start = clock.now()
    clock.configure(f"scale={rate}")
    for step in steps:
        wall.t += step
    assert clock.now() - start == pytest.approx(sum(steps) * rate, rel=1e-9, abs=1e-3)
    assert clock.wall_seconds(60) == pytest.approx(60 / rate)


def test_real_is_the_wall_clock_and_refuses_advance():
    wall = FakeWall()
    clock = Clock(wall=wall)
    wall.t += 12.5
    assert clock.now() == wall.t
    assert not clock.virtual
    with pytest.raises(ClockError, match="advance needs --clock skip or scale=N"):
        clock.advance(10)


@given(st.lists(st.tuples(st.sampled_from(["skip", "scale=2", "real"]), durations, durations), max_size=8))
def test_virtual_time_never_goes_back_across_modes_and_advances(moves):
    wall = FakeWall()
    clock = Clock(wall=wall)
    last = clock.now()
    for mode, advance, elapsed in moves:
        clock.configure(mode)
        if mode != "real":
            before = clock.now()
            assert clock.advance(advance) == pytest.approx(before + advance)
        wall.t += elapsed
        assert clock.now() >= last - 1e-6
        last = clock.now()


def test_advance_refuses_negative_and_non_finite_seconds():
    clock = Clock(wall=FakeWall())
    clock.configure("skip")
    for bad in (-1, float("nan"), float("inf"), "10"):
        with pytest.raises(ClockError):
            clock.advance(bad)
    clock.reset()


def manual_skip_clock():
    """A skip clock whose background skipper never acts (a settle period of an hour): tests call step()."""
    clock = Clock(wall=FakeWall(), settle=3600)
    clock.configure("skip")
    return clock


@given(st.lists(st.floats(min_value=1, max_value=1e6), min_size=1, max_size=6))
def test_skip_jumps_to_the_earliest_deadline_when_idle(offsets):
    clock = manual_skip_clock()
    start = clock.now()
    removers = [clock.deadline(start + o) for o in offsets]
    assert clock.step()
    assert clock.now() == pytest.approx(start + min(offsets))
    for remove in removers:
        remove()
    assert not clock.step()  # no deadline left: nothing to jump to


def test_skip_does_not_jump_while_something_holds_the_clock():
    clock = manual_skip_clock()
    start = clock.now()
    clock.deadline(start + 3600)
    with clock.busy("api call"):
        assert not clock.idle()
        assert not clock.step()
    assert clock.idle()
    assert clock.step()
    assert clock.now() == pytest.approx(start + 3600)


def test_skip_does_not_jump_while_an_idle_check_sees_work():
    clock = manual_skip_clock()
    clock.deadline(clock.now() + 60)
    visible = [True]
    clock.add_idle_check(lambda: not visible[0])
    assert not clock.step()
    visible[0] = False
    assert clock.step()


def test_a_sleeping_worker_lets_time_jump_a_running_one_holds_it():
    clock = manual_skip_clock()
    start = clock.now()
    key = worker_key("w1")
    clock.hold(key)
    clock.deadline(start + 300)
    assert not clock.step()  # the worker runs: time stands still
    slept = threading.Event()

    def worker_sleeps():
        clock.sleep(1000, release=(key,))
        slept.set()

    thread = threading.Thread(target=worker_sleeps, daemon=True)
    thread.start()
    deadline_seen = threading.Event()
    for _ in range(1000):
        if clock.idle():
            deadline_seen.set()
            break
        threading.Event().wait(0.005)
    assert deadline_seen.is_set(), "the sleeping worker's hold was not lifted"
    assert clock.step() and clock.now() == pytest.approx(start + 300)
    assert clock.step() and clock.now() == pytest.approx(start + 1000, abs=0.5)
    assert slept.wait(10)
    clock.release(key)


def test_a_wait_that_does_not_drive_registers_no_deadline():
    clock = manual_skip_clock()
    done = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: (clock.wait(stop, 5, drive=False), done.set()), daemon=True)
    thread.start()
    assert clock.next_deadline() is None
    clock.advance(5)  # time passing for another reason still ends it
    assert done.wait(10)


def test_skip_mode_sleeps_an_hour_without_waiting_an_hour():
    clock = Clock(settle=0.01)
    clock.configure("skip")
    start = clock.now()
    finished = threading.Event()
    threading.Thread(target=lambda: (clock.sleep(3600), finished.set()), daemon=True).start()
    assert finished.wait(30), "skip mode did not jump to the sleeper's deadline"
    assert clock.now() - start >= 3600
    assert clock.jumps >= 1
    clock.reset()


def test_event_waits_end_at_the_virtual_timeout_or_when_set():
    clock = Clock(settle=0.01)
    clock.configure("skip")
    event = threading.Event()
    start = clock.now()
    assert clock.wait(event, 600) is False
    assert clock.now() - start >= 600
    event.set()
    assert clock.wait(event, 600) is True
    clock.reset()


def test_skip_never_jumps_to_a_sweep_unless_only_a_sweep_can_see_what_waits():
    clock = manual_skip_clock()
    start = clock.now()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: clock.wait(stop, 5, drive=False), daemon=True)
    thread.start()
    for _ in range(1000):
        if clock.next_deadline(sweep=True) is not None:
            break
        threading.Event().wait(0.005)
    clock.deadline(start + 3600)
    assert clock.step() and clock.now() == pytest.approx(start + 3600)  # past the sweep: not to it
    stop.set()
    thread.join(10)
    sweep_done = threading.Event()
    thread = threading.Thread(target=lambda: (clock.wait(threading.Event(), 5, drive=False), sweep_done.set()),
                              daemon=True)
    thread.start()
    for _ in range(1000):
        if clock.next_deadline(sweep=True) is not None:
            break
        threading.Event().wait(0.005)
    unread = [True]
    clock.add_idle_check(lambda: not unread[0], until_sweep=True)
    before = clock.now()
    clock.deadline(before + 3600)
    assert clock.step()  # only the sweep can see the news: time goes to the sweep, not to the hour
    assert clock.now() == pytest.approx(before + 5, abs=0.5)
    assert sweep_done.wait(10)
    clock.add_idle_check(lambda: False)  # something that no sweep resolves
    assert not clock.step()


def test_holders_say_in_words_what_keeps_a_skipping_clock_still():
    clock = Clock(wall=FakeWall())
    clock.configure("skip")
    pending = {"task": True}

    def no_task_waiting():
        return not pending["task"]

    no_task_waiting.waiting = "an activity task waits for a poller"
    clock.add_idle_check(no_task_waiting)
    clock.hold(worker_key("w1"))
    assert clock.holders() == ["held by worker w1", "an activity task waits for a poller"]
    clock.release(worker_key("w1"))
    pending["task"] = False
    assert clock.holders() == [] and clock.idle()
    clock.reset()


def until(condition, what: str) -> None:
    """Poll `condition` (a few seconds at most): the threads of these tests act on their own."""
    for _ in range(2000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"never happened: {what}")


def test_a_jump_waits_for_a_hold_and_happens_once_it_is_released():
    clock = Clock(settle=0)  # the background skipper acts on its own
    clock.configure("skip")
    start = clock.now()
    clock.hold("api call")
    finished = threading.Event()
    threading.Thread(target=lambda: (clock.sleep(3600), finished.set()), daemon=True).start()
    until(lambda: clock.next_deadline() is not None, "the sleeper registers its deadline")
    assert clock.jumps == 0 and not finished.is_set()  # held: the skipper cannot jump
    clock.release("api call")  # notifies the skipper: nothing else happens
    assert finished.wait(30), "the clock did not jump once the hold was released"
    assert clock.now() - start >= 3600 and clock.jumps >= 1
    clock.reset()


def test_a_thread_that_left_a_wait_holds_the_clock_until_it_waits_again():
    clock = Clock(wall=FakeWall(), settle=3600, awake=3600)  # manual steps; awake as long as the test needs
    clock.configure("skip")
    start = clock.now()
    clock.deadline(start + 3600)
    woken, left, go_on = threading.Event(), threading.Event(), threading.Event()

    def interpreter():
        clock.wait(woken, None)  # e.g. a Task's callback
        left.set()
        go_on.wait()  # between two states: not on the clock, not holding anything
        clock.sleep(60)  # the next state's timer

    thread = threading.Thread(target=interpreter, daemon=True)
    thread.start()
    until(lambda: clock.idle(), "the interpreter waits on the clock")
    woken.set()
    assert not clock.idle()  # its event is set: it is about to act, woken or not
    assert left.wait(10)
    assert not clock.idle() and not clock.step()  # awake: no jump to the hour behind its back
    assert any("(awake)" in holder for holder in clock.holders())
    go_on.set()
    until(lambda: clock.next_deadline() == pytest.approx(start + 60), "the next state's timer")
    assert clock.step() and clock.now() == pytest.approx(start + 60)  # its own timer first, then the hour
    thread.join(10)
    assert clock.step() and clock.now() == pytest.approx(start + 3600)


def test_a_started_thread_is_awake_until_it_waits_and_a_parked_one_is_not():
    clock = Clock(wall=FakeWall(), settle=3600, awake=3600)
    clock.configure("skip")
    clock.deadline(clock.now() + 3600)
    go = threading.Event()
    thread = threading.Thread(target=lambda: (go.wait(), clock.sleep(60)), daemon=True)
    clock.wake(thread)  # started for an execution: happening from before its start
    thread.start()
    assert not clock.idle()
    go.set()
    until(clock.idle, "the started thread waits on the clock")
    clock.wake()  # this thread got work from a long poll
    assert not clock.idle()
    clock.park()  # and waits for work again
    assert clock.idle()


def test_an_awake_thread_that_blocks_elsewhere_stops_holding_after_its_bound():
    clock = Clock(wall=FakeWall(), settle=3600, awake=0)
    clock.configure("skip")
    clock.deadline(clock.now() + 3600)
    clock.wake()  # awake for no time at all: as if it had blocked outside the clock for longer
    assert clock.idle() and clock.step()


def test_a_sleep_that_lifts_a_worker_hold_ends_with_the_worker_and_is_no_deadline_then():
    clock = Clock(wall=FakeWall(), settle=3600)
    clock.configure("skip")
    start = clock.now()
    key = worker_key("w1")
    clock.hold(key)  # the worker's process runs
    clock.deadline(start + 5000)
    slept = threading.Event()
    threading.Thread(target=lambda: (clock.sleep(3000, release=(key,)), slept.set()), daemon=True).start()
    until(lambda: clock.next_deadline() == pytest.approx(start + 3000), "the worker's sleep")
    clock.release(key)  # its process ended (killed while it slept)
    assert clock.next_deadline() == pytest.approx(start + 5000)  # its sleep is no reason to jump any more
    assert slept.wait(10)
    assert clock.now() == pytest.approx(start)


def test_a_deleted_or_purged_queue_leaves_no_redelivery_deadline(monkeypatch):
    """A received message's visibility end is a deadline until the message is gone, however it goes."""
    from moto.sqs import models as sqs_models

    from emulators import clocked, scope
    from server import clock as clock_module

    clocked.install()  # first: it gives the process's clock its idle checks, once (not to the one below)
    manual = Clock(wall=FakeWall(), settle=3600)
    manual.configure("skip")
    monkeypatch.setattr(clock_module, "CLOCK", manual)
    monkeypatch.setattr(scope, "active", lambda: True)  # as for the harness's requests
    backend = sqs_models.SQSBackend("us-east-1", "123456789012")
    for drop in (backend.purge_queue, backend.delete_queue):
        backend.create_queue("work")
        backend.send_message("work", "a job")
        backend.receive_message("work", 1, 0, 600, [])  # its handler dies: it comes back in 600 s
        assert manual.next_deadline() == pytest.approx(manual.now() + 600, abs=1)
        drop("work")
        assert manual.next_deadline() is None, f"{drop.__name__} left the message's deadline"
    manual.reset()
