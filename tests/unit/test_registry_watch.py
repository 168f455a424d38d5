"""The materialisation watch: a moved stamp empties the cache, and a registry that hangs or
fails holds up no read for longer than its timeout."""

import threading
import time

from serving.registry_watch import MaterialisationWatch


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_moved_stamp_is_seen_once_and_only_when_a_check_is_due():
    stamps = iter(["t1", "t1", "t2"])
    clock = Clock()
    watch = MaterialisationWatch(lambda: next(stamps), every_s=5, clock=clock)
    assert watch.landed()  # the first answer: whatever the cache held predates it
    clock.now = 4.9
    assert not watch.landed()  # not due: the registry is not read
    clock.now = 5.0
    assert not watch.landed()  # read: the same stamp
    clock.now = 10.0
    assert watch.landed()  # a materialisation landed


def test_a_hung_registry_holds_a_read_up_for_the_timeout_at_most_and_its_late_answer_counts():
    release = threading.Event()
    calls = []

    def hung() -> str:
        calls.append(1)
        release.wait(10)
        return "t1"

    clock = Clock()
    watch = MaterialisationWatch(hung, every_s=0, timeout_s=0.05, clock=clock)
    started = time.perf_counter()
    assert not watch.landed()
    assert time.perf_counter() - started < 1.0
    started = time.perf_counter()
    for _ in range(5):  # the check is pending: reads neither wait nor start another
        assert not watch.landed()
    assert time.perf_counter() - started < 0.05
    assert len(calls) == 1
    release.set()
    deadline = time.time() + 5
    while not watch.landed():  # the late answer is taken when it lands
        assert time.time() < deadline
        time.sleep(0.01)


def test_a_failing_registry_leaves_the_cache_to_its_ttl_and_is_read_again():
    answers = iter([RuntimeError("registry down"), "t1"])

    def read() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = Clock()
    watch = MaterialisationWatch(read, every_s=5, clock=clock)
    assert not watch.landed()
    clock.now = 5.0
    assert watch.landed()
