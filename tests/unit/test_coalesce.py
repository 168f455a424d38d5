"""Coalesced calls: a lone request goes at once; requests that arrive while the calls in
flight are out merge into the next; each gets its own result or error; a queue that waited
too long goes out anyway."""

import asyncio

import pytest

from serving.coalesce import Coalescer


class Recorded:
    """A call that records each batch it got and answers when released."""

    def __init__(self):
        self.batches: list[list] = []
        self.release = asyncio.Event()

    async def __call__(self, batch: list) -> list:
        self.batches.append(batch)
        await self.release.wait()
        return [ValueError(f"bad {item}") if item < 0 else item * 10 for item in batch]


def test_requests_that_wait_for_the_calls_in_flight_merge_into_one_call():
    async def scenario():
        call = Recorded()
        coalescer = Coalescer(call, max_in_flight=2)
        first = [asyncio.ensure_future(coalescer.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0)  # both sent at once: two calls out
        waiting = [asyncio.ensure_future(coalescer.submit(i)) for i in (3, -4, 5)]
        await asyncio.sleep(0)
        assert call.batches == [[1], [2]]  # the later three wait
        call.release.set()
        assert await asyncio.gather(*first) == [10, 20]
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert call.batches == [[1], [2], [3, -4, 5]]
        assert results[0] == 30 and results[2] == 50
        assert isinstance(results[1], ValueError) and str(results[1]) == "bad -4"
        assert await coalescer.submit(6) == 60  # every call landed: sent at once again
        assert call.batches[-1] == [6]

    asyncio.run(scenario())


def test_an_error_the_call_raises_is_every_waiting_requests_and_the_next_call_goes():
    async def scenario():
        calls = []

        async def failing(batch):
            calls.append(batch)
            await asyncio.sleep(0.01)
            if len(calls) == 1:
                raise ConnectionError("predictor gone")
            return batch

        coalescer = Coalescer(failing)
        first = asyncio.ensure_future(coalescer.submit("a"))
        await asyncio.sleep(0)
        second = [asyncio.ensure_future(coalescer.submit(x)) for x in "bc"]
        with pytest.raises(ConnectionError):
            await first
        assert await asyncio.gather(*second) == ["b", "c"]
        assert calls == [["a"], ["b", "c"]]

    asyncio.run(scenario())


def test_a_queue_behind_hung_calls_goes_out_after_the_longest_wait():
    async def scenario():
        hung = Recorded()  # never released: a predictor that stopped answering
        coalescer = Coalescer(hung, max_in_flight=1, max_wait_s=0.05)
        stuck = asyncio.ensure_future(coalescer.submit(1))
        await asyncio.sleep(0)
        behind = [asyncio.ensure_future(coalescer.submit(i)) for i in (2, 3)]
        await asyncio.sleep(0.01)
        assert hung.batches == [[1]]  # still waiting to merge
        await asyncio.sleep(0.08)
        assert hung.batches == [[1], [2, 3]]  # gone out behind the hung call
        hung.release.set()
        assert await asyncio.gather(stuck, *behind) == [10, 20, 30]

    asyncio.run(scenario())


def test_a_call_answering_the_wrong_number_of_results_fails_its_requests_not_hangs():
    async def scenario():
        async def short(batch):
            return batch[:1]

        coalescer = Coalescer(short)
        first = asyncio.ensure_future(coalescer.submit("a"))
        await asyncio.sleep(0)
        merged = [asyncio.ensure_future(coalescer.submit(x)) for x in "bc"]
        assert await first == "a"
        results = await asyncio.wait_for(asyncio.gather(*merged, return_exceptions=True), 1)
        assert all(isinstance(r, RuntimeError) and "1 results for 2" in str(r) for r in results)

    asyncio.run(scenario())


def test_a_caller_that_went_away_leaves_the_others_their_answers():
    async def scenario():
        call = Recorded()
        coalescer = Coalescer(call)
        first = asyncio.ensure_future(coalescer.submit(1))
        await asyncio.sleep(0)
        gone, kept = (asyncio.ensure_future(coalescer.submit(i)) for i in (2, 3))
        await asyncio.sleep(0)
        gone.cancel()
        call.release.set()
        assert await first == 10 and await kept == 30
        assert call.batches == [[1], [2, 3]]

    asyncio.run(scenario())


def test_at_least_one_call_in_flight():
    with pytest.raises(ValueError, match="max_in_flight: 0"):
        Coalescer(Recorded(), max_in_flight=0)
