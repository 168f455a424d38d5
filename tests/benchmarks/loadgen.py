"""A closed-loop load generator: `concurrency` callers, each sending its next request as
soon as the last one answers, for a fixed duration. It runs in its own process (its own
core), with the request body built once, so that it is not what limits the server."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import numpy as np


async def _closed_loop(send, concurrency: int, seconds: float):
    """`concurrency` callers each awaiting `send()` (True when answered OK) in turn."""
    latencies, errors = [], 0
    deadline = time.perf_counter() + seconds

    async def caller():
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if await send():
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies, errors


async def _rest(url: str, body: bytes, concurrency: int, seconds: float):
    import aiohttp

    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> bool:
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        return await _closed_loop(send, concurrency, seconds)


async def _grpc(target: str, request_bytes: bytes, concurrency: int, seconds: float):
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

    request = pb.ModelInferRequest.FromString(request_bytes)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = GRPCInferenceServiceStub(channel)

        async def send() -> bool:
            try:
                await stub.ModelInfer(request, timeout=10)
                return True
            except grpc.aio.AioRpcError:
                return False

        return await _closed_loop(send, concurrency, seconds)


async def _logger_events(url: str, body: bytes, concurrency: int, seconds: float):
    """KServe's logger as a drift service sees it: per call, a request event and a response
    event under one new `Ce-Id` (`body` holds both bodies and both header sets, as JSON).
    A call is answered OK when both events are; each counts as two events."""
    import itertools

    import aiohttp

    pair = json.loads(body)
    request_body, response_body = (bytes.fromhex(pair[k]) for k in ("request", "response"))
    ids = itertools.count()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(headers: dict, data: bytes) -> bool:
            async with session.post(url, data=data, headers=headers) as response:
                await response.read()
                return response.status == 202

        async def send() -> bool:
            event_id = f"bench-{next(ids)}"
            try:
                sent = await post({**pair["request_headers"], "Ce-Id": event_id}, request_body)
                answered = await post(
                    {**pair["response_headers"], "Ce-Id": event_id}, response_body
                )
                return sent and answered
            except aiohttp.ClientError:
                return False

        return await _closed_loop(send, concurrency, seconds)


PROTOCOLS = {"rest": _rest, "grpc": _grpc, "logger-events": _logger_events}


def main() -> None:
    spec = json.loads(sys.stdin.read())
    body = bytes.fromhex(spec["body_hex"])
    run = PROTOCOLS[spec["protocol"]]
    started = time.perf_counter()
    latencies, errors = asyncio.run(run(spec["target"], body, spec["concurrency"], spec["seconds"]))
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "errors": errors,
                "throughput": len(latencies) / wall,
                "mean_ms": float(np.mean(ms)),
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "p99_ms": float(np.percentile(ms, 99)),
                "seconds": wall,
            }
        )
    )


if __name__ == "__main__":
    main()
