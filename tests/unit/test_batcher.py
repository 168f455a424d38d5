import asyncio

import numpy as np

from serving.batcher import DirectScorer, MicroBatcher


def _score(calls):
    def score(categorical, numeric):
        calls.append(len(categorical))
        return numeric[:, 0] * 2 + categorical[:, 0]

    return score


def _requests(n):
    rng = np.random.default_rng(1)
    return [
        (rng.integers(0, 5, size=(k, 1)), rng.normal(size=(k, 2)).astype(np.float32))
        for k in rng.integers(1, 6, size=n)
    ]


def test_concurrent_requests_share_model_calls_and_get_their_own_rows():
    calls: list[int] = []
    requests = _requests(50)

    async def main():
        batcher = MicroBatcher(_score(calls), max_batch_rows=64, max_wait_s=0.01)
        return await asyncio.gather(*(batcher.submit(c, n) for c, n in requests))

    results = asyncio.run(main())
    for (categorical, numeric), result in zip(requests, results, strict=True):
        np.testing.assert_allclose(result, numeric[:, 0] * 2 + categorical[:, 0])
    assert len(calls) < len(requests)  # merged
    assert sum(calls) == sum(len(c) for c, _ in requests)


def test_a_lone_request_is_scored_at_once_and_errors_reach_the_caller():
    calls: list[int] = []

    async def main():
        batcher = MicroBatcher(_score(calls), max_batch_rows=64, max_wait_s=10)
        single = await asyncio.wait_for(batcher.submit(*_requests(1)[0]), timeout=1)
        broken = MicroBatcher(lambda c, n: 1 / 0)
        try:
            await broken.submit(*_requests(1)[0])
        except ZeroDivisionError:
            return single, True
        return single, False

    single, raised = asyncio.run(main())
    assert len(single) >= 1 and raised and calls == [len(single)]


def test_direct_scorer_matches():
    calls: list[int] = []
    categorical, numeric = _requests(1)[0]
    result = asyncio.run(DirectScorer(_score(calls)).submit(categorical, numeric))
    np.testing.assert_allclose(result, numeric[:, 0] * 2 + categorical[:, 0])
