"""The transformer's calls to a remote predictor, merged: what a merged call carries, what
each caller gets back, and a refusal traced to the request at fault."""

import asyncio

from serving.answers import Answer
from serving.predictor_batch import PredictorBatcher, PredictorCall
from serving.request_errors import RequestError


class Predictor:
    """Scores each row as its `distance` / 1000, refusing a distance over 5000 as the
    predictor's range check does; records what each call carried. The first call is held
    until released, so that the requests after it wait and merge."""

    def __init__(self):
        self.calls: list[PredictorCall] = []
        self.release = asyncio.Event()

    async def __call__(self, call: PredictorCall) -> Answer:
        self.calls.append(call)
        if len(self.calls) == 1:
            await self.release.wait()
        distances = call.columns["distance"]
        if any(d > 5000 for d in distances):
            raise RequestError("predictor_refused", "predictor: distance out of range")
        return Answer([d / 1000 for d in distances], [d > 2000 for d in distances], 0.5, "7")


def _call(distances, authorization=None, request_id=None) -> PredictorCall:
    headers = {"x-request-id": f"r-{distances[0]}"}
    if authorization:
        headers["authorization"] = authorization
    return PredictorCall({"distance": list(distances)}, headers, request_id, {})


async def _submit_behind_a_held_call(predictor, batcher, calls):
    first = asyncio.ensure_future(batcher.submit(_call([1])))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(batcher.submit(c)) for c in calls]
    await asyncio.sleep(0)
    predictor.release.set()
    await first
    return await asyncio.gather(*waiting, return_exceptions=True)


def test_each_caller_gets_its_own_rows_of_a_merged_call():
    async def scenario():
        predictor = Predictor()
        batcher = PredictorBatcher(predictor, max_rows=100, max_in_flight=1)
        answers = await _submit_behind_a_held_call(
            predictor, batcher, [_call([100, 3000]), _call([200]), _call([400, 500, 600])]
        )
        assert [a.probability for a in answers] == [[0.1, 3.0], [0.2], [0.4, 0.5, 0.6]]
        assert [a.delayed for a in answers] == [[False, True], [False], [False, False, False]]
        assert {a.version for a in answers} == {"7"}
        merged = predictor.calls[1]
        assert len(predictor.calls) == 2 and merged.columns["distance"] == [
            100,
            3000,
            200,
            400,
            500,
            600,
        ]
        # no one caller's request id or response headers on another's rows
        assert merged.headers is None and merged.request_id is None
        assert merged.response_headers is None

    asyncio.run(scenario())


def test_a_request_sent_alone_carries_its_own_headers_and_id():
    async def scenario():
        predictor = Predictor()
        predictor.release.set()
        batcher = PredictorBatcher(predictor, max_rows=100)
        alone = PredictorCall({"distance": [300]}, {"x-request-id": "r1"}, "id-1", {})
        assert (await batcher.submit(alone)).probability == [0.3]
        assert predictor.calls == [alone]

    asyncio.run(scenario())


def test_requests_merge_only_with_the_same_credentials_and_within_the_row_limit():
    async def scenario():
        predictor = Predictor()
        batcher = PredictorBatcher(predictor, max_rows=4, max_in_flight=1)
        calls = [
            _call([10, 20], "Bearer a"),
            _call([30], "Bearer b"),
            _call([40, 50], "Bearer a"),
            _call([60, 70], "Bearer a"),  # 6 rows with the two before: a call of its own
        ]
        answers = await _submit_behind_a_held_call(predictor, batcher, calls)
        assert [a.probability for a in answers] == [
            [0.01, 0.02],
            [0.03],
            [0.04, 0.05],
            [0.06, 0.07],
        ]
        sent = {tuple(c.columns["distance"]): c.headers for c in predictor.calls[1:]}
        assert sent == {
            (10, 20, 40, 50): {"authorization": "Bearer a"},
            (30,): {"x-request-id": "r-30", "authorization": "Bearer b"},  # alone: all of them
            (60, 70): {"x-request-id": "r-60", "authorization": "Bearer a"},
        }

    asyncio.run(scenario())


def test_a_refused_merged_call_is_retried_so_only_the_request_at_fault_is_refused():
    async def scenario():
        predictor = Predictor()
        batcher = PredictorBatcher(predictor, max_rows=100, max_in_flight=1)
        answers = await _submit_behind_a_held_call(
            predictor, batcher, [_call([100]), _call([9999]), _call([300])]
        )
        assert answers[0].probability == [0.1] and answers[2].probability == [0.3]
        assert isinstance(answers[1], RequestError) and "distance" in str(answers[1])
        assert [c.columns["distance"] for c in predictor.calls[1:]] == [
            [100, 9999, 300], [100], [9999], [300],
        ]  # fmt: skip

    asyncio.run(scenario())


def test_a_failed_merged_call_fails_every_request_in_it():
    async def scenario():
        predictor = Predictor()

        async def down(call):
            if call.headers is None:  # the merged call
                raise ConnectionError("predictor unreachable")
            return await predictor(call)

        batcher = PredictorBatcher(down, max_rows=100, max_in_flight=1)
        answers = await _submit_behind_a_held_call(predictor, batcher, [_call([1]), _call([2])])
        assert all(isinstance(a, ConnectionError) for a in answers)

    asyncio.run(scenario())
