"""The transformer's calls to a remote predictor, merged across concurrent requests.

In split mode (transformer and predictor as two servers, as on a cluster) a call per
caller's request pays the protocol on both sides for one row: the round trip, one named
input per feature encoded by the transformer and decoded by the predictor, which together
cost more CPU than the features and the model. The calls coalesce instead
(`serving.coalesce`): while `max_in_flight` calls are out, arriving requests wait and go
together, as one request of many rows, and each caller gets its own rows of the answer. A
lone caller waits for nothing, and a queue goes out after `MAX_WAIT_S` even while the calls
ahead are still out, so a predictor replica that hangs holds up only the calls it holds.

What a merged call carries: requests merge only with requests that carry the same
`authorization` header (one caller's credentials never stand for another's rows), and a
merged call forwards that header alone, with no request id. A request sent alone is the call
KServe's transformer makes: every header it forwards (`authorization`, `x-request-id`,
`x-b3-traceid`) and the caller's v2 id. A merged call the predictor refuses (any 4xx, or
gRPC INVALID_ARGUMENT: a value out of its range, say) goes again request by request, so
that only the request at fault is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from serving.answers import Answer
from serving.coalesce import Coalescer
from serving.columns import Columns, merged, row_count
from serving.metrics import COALESCED_REQUESTS
from serving.request_errors import RequestError

IN_FLIGHT = 4
"""Calls out at once before requests wait to merge: enough to keep a few predictor
replicas busy; fewer calls out means bigger merges and less CPU per request."""
MAX_WAIT_S = 0.1
"""How long requests wait behind the calls out before they go anyway: above a healthy
call's time under load (a split request's p99 at concurrency 64 on one core is 55-75 ms)."""


@dataclass(frozen=True)
class PredictorCall:
    """A caller's request, as the predictor gets its rows."""

    columns: Columns  # the model input
    headers: dict[str, str] | None  # the caller's, lower-case names
    request_id: str | None  # the caller's v2 id
    response_headers: dict[str, str] | None  # where the predictor's go, for the caller


Send = Callable[[PredictorCall], Awaitable[Answer]]
"""One call to the predictor; a refusal of its rows is a `RequestError`."""


class PredictorBatcher:
    def __init__(self, send: Send, max_rows: int, max_in_flight: int = IN_FLIGHT):
        """`max_rows`: rows a merged call holds at most (a request bigger than that goes
        alone): the transformer's own limit, which a predictor's default matches."""
        self.send, self.max_rows = send, max_rows
        self.calls = Coalescer(self._call, max_in_flight, MAX_WAIT_S)
        self.requests_per_call = COALESCED_REQUESTS.labels("predictor")

    async def submit(self, call: PredictorCall) -> Answer:
        return await self.calls.submit(call)

    async def _call(self, batch: list[PredictorCall]) -> list[Answer | BaseException]:
        merges = self._merges(batch)
        answered = await asyncio.gather(*(self._merged([batch[i] for i in m]) for m in merges))
        # (each merge answers every request in it, with a value or its error: none raises)
        results: list[Answer | BaseException] = [None] * len(batch)  # type: ignore[list-item]
        for merge, answers in zip(merges, answered, strict=True):
            for i, answer in zip(merge, answers, strict=True):
                results[i] = answer
        return results

    def _merges(self, batch: list[PredictorCall]) -> list[list[int]]:
        """The calls to make, as positions in `batch`: one per credential, split where the
        rows would pass `max_rows`."""
        open_merges: dict[str | None, tuple[list[int], int]] = {}  # credential: merge, rows
        merges = []
        for i, call in enumerate(batch):
            credential, rows = _authorization(call), row_count(call.columns)
            merge, held = open_merges.get(credential, (None, 0))
            if merge is None or held + rows > self.max_rows:
                merge, held = [], 0
                merges.append(merge)
            merge.append(i)
            open_merges[credential] = merge, held + rows
        return merges

    async def _merged(self, calls: list[PredictorCall]) -> list[Answer | BaseException]:
        self.requests_per_call.observe(len(calls))
        if len(calls) == 1:
            return await self._alone(calls)
        authorization = _authorization(calls[0])
        call = PredictorCall(
            merged([c.columns for c in calls]),
            None if authorization is None else {"authorization": authorization},
            None,
            None,
        )
        try:
            return (await self.send(call)).split([row_count(c.columns) for c in calls])
        except RequestError:  # some request's rows were refused: which one's?
            return await self._alone(calls)
        except Exception as error:  # every request's
            return [error] * len(calls)

    async def _alone(self, calls: list[PredictorCall]) -> list[Answer | BaseException]:
        return await asyncio.gather(*(self.send(c) for c in calls), return_exceptions=True)


def _authorization(call: PredictorCall) -> str | None:
    return None if call.headers is None else call.headers.get("authorization")
