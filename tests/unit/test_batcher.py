import asyncio
import threading

import numpy as np
import pytest

from serving import batcher as batcher_module
from serving.batcher import MicroBatcher, ModelRunner, inline_rows_within


def _score(calls):
    def score(categorical, numeric):
        calls.append((len(categorical), threading.current_thread().name))
        return _expected(categorical, numeric)

    return score


def _requests(n, most=5):
    rng = np.random.default_rng(1)
    return [
        (rng.integers(0, 5, size=(k, 1)), rng.normal(size=(k, 2)).astype(np.float32))
        for k in rng.integers(1, most + 1, size=n)
    ]


def _expected(categorical, numeric):
    """Two outputs, as the model has: each caller must get its own rows of both."""
    return numeric[:, 0] * 2 + categorical[:, 0], categorical[:, 0] % 2


def test_requests_arriving_during_a_threaded_call_share_the_next_and_get_their_rows():
    calls: list = []
    requests = _requests(50)

    async def main():
        batcher = MicroBatcher(ModelRunner(_score(calls), 0), max_batch_rows=64, max_wait_s=0.01)
        return await asyncio.gather(*(batcher.submit(c, n) for c, n in requests))

    results = asyncio.run(main())
    for (categorical, numeric), result in zip(requests, results, strict=True):
        np.testing.assert_allclose(result, _expected(categorical, numeric))
    assert len(calls) < len(requests)  # merged
    assert sum(rows for rows, _ in calls) == sum(len(c) for c, _ in requests)
    assert max(rows for rows, _ in calls) <= 64 + 4  # the limit closes a batch


def test_requests_of_one_turn_of_the_loop_share_one_call_on_the_loop():
    calls: list = []
    requests = _requests(20)

    async def main():
        batcher = MicroBatcher(ModelRunner(_score(calls), 10_000), max_wait_s=10)
        return await asyncio.gather(*(batcher.submit(c, n) for c, n in requests))

    results = asyncio.run(main())
    for (categorical, numeric), result in zip(requests, results, strict=True):
        np.testing.assert_allclose(result, _expected(categorical, numeric))
    assert [rows for rows, _ in calls] == [sum(len(c) for c, _ in requests)]
    assert {name for _, name in calls} == {threading.main_thread().name}


def test_a_request_waits_for_as_many_as_the_last_call_had_and_no_longer_than_the_limit(
    monkeypatch,
):
    monkeypatch.setattr(batcher_module, "QUIET_S", 60.0)  # no quiet spell in this test
    calls: list = []
    wait, apart = 0.5, 0.1

    async def main():
        batcher = MicroBatcher(ModelRunner(_score(calls), 10_000), max_wait_s=wait)
        loop = asyncio.get_running_loop()

        async def spaced(count: int) -> float:
            """`count` one-row requests `apart` seconds apart (less than `wait`, so no quiet
            spell between them); the seconds until all are answered."""
            started = loop.time()
            tasks = []
            for categorical, numeric in _requests(count, most=1):
                tasks.append(asyncio.ensure_future(batcher.submit(categorical, numeric)))
                await asyncio.sleep(apart)
            await asyncio.gather(*tasks)
            return loop.time() - started

        await asyncio.gather(*(batcher.submit(c, n) for c, n in _requests(4, most=1)))
        four = await spaced(4)  # the last call had 4: these wait for each other
        two = await spaced(2)  # only 2 come: they go when the limit is up
        lone = await spaced(1)  # the last call had 2: the lone caller waits once
        again = await spaced(1)  # and then not at all
        return four, two, lone, again

    four, two, lone, again = asyncio.run(main())
    assert [rows for rows, _ in calls] == [4, 4, 2, 1, 1]
    assert four < wait and two >= wait and lone >= wait and again < wait


def test_after_a_quiet_spell_a_request_waits_for_nobody(monkeypatch):
    quiet = 0.1
    monkeypatch.setattr(batcher_module, "QUIET_S", quiet)
    calls: list = []
    wait = 10.0  # what a request after a call of four would wait for the other three

    async def main():
        batcher = MicroBatcher(ModelRunner(_score(calls), 10_000), max_wait_s=wait)
        await asyncio.gather(*(batcher.submit(c, n) for c, n in _requests(4, most=1)))
        await asyncio.sleep(quiet * 2)
        started = asyncio.get_running_loop().time()
        await batcher.submit(*_requests(1, most=1)[0])
        return asyncio.get_running_loop().time() - started

    alone = asyncio.run(main())
    assert [rows for rows, _ in calls] == [4, 1]
    assert alone < quiet


def test_a_caller_that_went_away_is_not_scored_and_the_rest_get_their_rows():
    calls: list = []
    requests = _requests(3, most=3)

    async def main():
        batcher = MicroBatcher(ModelRunner(_score(calls), 10_000), max_wait_s=10)
        tasks = [asyncio.ensure_future(batcher.submit(c, n)) for c, n in requests]
        await asyncio.sleep(0)  # all three are queued for the end of this turn
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[1], asyncio.CancelledError)
    for index in (0, 2):
        np.testing.assert_allclose(results[index], _expected(*requests[index]))
    assert [rows for rows, _ in calls] == [len(requests[0][0]) + len(requests[2][0])]


def test_a_call_that_cannot_start_fails_its_callers_instead_of_leaving_them_waiting():
    async def main():
        runner = ModelRunner(_score([]), inline_max_rows=0)
        runner.executor.shutdown()  # the model thread is gone: no call can start
        batcher = MicroBatcher(runner, max_wait_s=10)
        return await asyncio.wait_for(
            asyncio.gather(
                *(batcher.submit(c, n) for c, n in _requests(3)), return_exceptions=True
            ),
            timeout=2,
        )

    outcomes = asyncio.run(main())
    assert len(outcomes) == 3
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes


def test_an_answer_that_cannot_be_taken_apart_fails_every_caller():
    async def main():
        batcher = MicroBatcher(ModelRunner(lambda categorical, numeric: None, 10_000))
        return await asyncio.wait_for(
            asyncio.gather(
                *(batcher.submit(c, n) for c, n in _requests(3)), return_exceptions=True
            ),
            timeout=2,
        )

    outcomes = asyncio.run(main())
    assert len(outcomes) == 3 and all(isinstance(o, TypeError) for o in outcomes), outcomes


@pytest.mark.parametrize("answer", ["short", "scalar"])
def test_an_answer_not_one_value_a_row_fails_every_caller_of_the_call(answer):
    calls = []

    def broken(categorical, numeric):
        probability, bits = _score(calls)(categorical, numeric)
        return (probability, bits[:-1]) if answer == "short" else (probability, np.int64(0))

    requests = _requests(4)

    async def main():
        batcher = MicroBatcher(ModelRunner(broken, 10_000), max_wait_s=10)
        return await asyncio.gather(
            *(batcher.submit(c, n) for c, n in requests), return_exceptions=True
        )

    outcomes = asyncio.run(main())
    assert [rows for rows, _ in calls] == [sum(len(c) for c, _ in requests)]  # one call
    assert len(outcomes) == 4, outcomes
    for outcome in outcomes:
        assert isinstance(outcome, ValueError), outcome
        assert "output 1 has shape" in str(outcome), outcome


def test_small_calls_run_on_the_loop_and_big_ones_on_the_model_thread():
    calls: list = []
    small, big = _requests(1, most=4)[0], _requests(1, most=1)[0]
    big = (np.repeat(big[0], 100, axis=0), np.repeat(big[1], 100, axis=0))

    async def main():
        runner = ModelRunner(_score(calls), inline_max_rows=8)
        for scorer in (MicroBatcher(runner), runner):  # batching on, off
            for categorical, numeric in (small, big):
                result = await scorer.submit(categorical, numeric)
                np.testing.assert_allclose(result, _expected(categorical, numeric))

    asyncio.run(main())
    loop_thread = threading.main_thread().name
    assert [(rows, name == loop_thread) for rows, name in calls] == [
        (len(small[0]), True),
        (100, False),
    ] * 2


@pytest.mark.parametrize("inline_max_rows", [0, 10_000], ids=["threaded", "inline"])
def test_a_lone_request_waits_for_nothing_and_errors_reach_every_caller(inline_max_rows):
    calls: list = []

    def broken(categorical, numeric):
        raise ValueError("model failed")

    async def main():
        batcher = MicroBatcher(ModelRunner(_score(calls), inline_max_rows), max_wait_s=10)
        single = await asyncio.wait_for(batcher.submit(*_requests(1)[0]), timeout=1)
        failing = MicroBatcher(ModelRunner(broken, inline_max_rows))
        outcomes = await asyncio.gather(
            *(failing.submit(c, n) for c, n in _requests(3)), return_exceptions=True
        )
        return single, outcomes

    single, outcomes = asyncio.run(main())
    assert [rows for rows, _ in calls] == [len(single[0])]
    assert all(isinstance(o, ValueError) for o in outcomes) and len(outcomes) == 3


def test_requests_queued_behind_a_threaded_call_go_next_without_the_wait():
    calls: list = []
    release = threading.Event()

    def slow(categorical, numeric):
        release.wait(5)
        return _score(calls)(categorical, numeric)

    async def main():
        batcher = MicroBatcher(ModelRunner(slow, inline_max_rows=0), max_wait_s=30)
        first = asyncio.ensure_future(batcher.submit(*_requests(1)[0]))
        await asyncio.sleep(0.05)  # the first call is now on the model thread
        queued = [asyncio.ensure_future(batcher.submit(c, n)) for c, n in _requests(5)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.wait_for(asyncio.gather(first, *queued), timeout=3)

    results = asyncio.run(main())
    assert len(results) == 6 and len(calls) == 2  # one call, then the five queued together


def test_the_inline_limit_is_the_largest_batch_within_the_time_budget():
    now = [0.0]

    def score(categorical, numeric):  # costs 1 µs a row on a fake clock
        assert categorical.shape[1] == 3 and numeric.shape[1] == 5
        now[0] += len(categorical) * 1e-6

    def rows_within(budget_s, largest=1024):
        return inline_rows_within(score, (3, 5), budget_s, largest, clock=lambda: now[0])

    assert rows_within(50e-6) == 32
    assert rows_within(1e-3) == 512
    assert rows_within(1.0, largest=256) == 256
    assert rows_within(0.5e-6) == 0 and rows_within(0) == 0
