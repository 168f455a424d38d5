"""The read-ahead and write-behind threads keep order, stay within their depth, and hand
an error in their thread to the caller."""

from __future__ import annotations

import threading

import pytest

from serving.overlap import WriteBehind, read_ahead


def test_read_ahead_yields_every_item_in_order_from_another_thread():
    threads = []

    def items():
        for i in range(10):
            threads.append(threading.current_thread())
            yield i

    assert list(read_ahead(items(), depth=3)) == list(range(10))
    assert threading.current_thread() not in threads


def test_read_ahead_raises_an_error_in_the_place_of_its_item():
    def items():
        yield 1
        yield 2
        raise ValueError("row group 3 is corrupt")

    seen = []
    with pytest.raises(ValueError, match="row group 3"):
        for item in read_ahead(items(), depth=2):
            seen.append(item)
    assert seen == [1, 2]


def test_read_ahead_stops_reading_soon_after_its_consumer_stops():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    for item in read_ahead(items(), depth=2):
        if item == 4:
            break
    assert len(produced) <= 4 + 1 + 2  # the item at hand, and at most `depth` ahead


def test_write_behind_writes_in_order_in_another_thread_and_waits_on_exit():
    written, threads = [], set()

    def write(item):
        threads.add(threading.current_thread())
        written.append(item)

    with WriteBehind(write, depth=2) as output:
        for i in range(50):
            output.put(i)
    assert written == list(range(50))
    assert threading.current_thread() not in threads


def test_write_behind_raises_a_failed_write_to_the_caller():
    def write(item):
        if item == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), WriteBehind(write, depth=1) as output:
        for i in range(10):
            output.put(i)


def test_write_behind_drops_what_has_not_started_when_the_caller_fails():
    started, release = threading.Event(), threading.Event()
    written = []

    def write(item):
        started.set()
        release.wait(5)
        written.append(item)

    with pytest.raises(RuntimeError, match="scoring failed"), WriteBehind(write, 3) as output:
        output.put(0)
        output.put(1)
        output.put(2)
        started.wait(5)
        # the first write ends only after the exit has dropped the two waiting ones
        threading.Timer(0.5, release.set).start()
        raise RuntimeError("scoring failed")
    assert written == [0]
