"""The online store's health: how failed reads turn it down, and a probe brings it back."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import redis.exceptions
from prometheus_client import REGISTRY

from serving.online_store import PROBE_INTERVAL_S, OnlineStoreHealth


def _errors(reason: str) -> float:
    return REGISTRY.get_sample_value("sluice_online_store_errors_total", {"reason": reason}) or 0


def test_reads_failing_in_a_row_turn_it_down_and_a_probe_brings_it_back():
    probes: list[int] = []

    def probe() -> None:  # the store answers from the second probe on
        probes.append(1)
        if len(probes) < 2:
            raise redis.exceptions.ConnectionError("refused")

    async def scenario() -> None:
        health = OnlineStoreHealth(probe, ThreadPoolExecutor(1), failures_to_down=3)
        before = {r: _errors(r) for r in ("timeout", "error", "down")}
        assert health.failed(redis.exceptions.TimeoutError("slow"), 1) == "read timed out"
        health.failed(redis.exceptions.ConnectionError("refused"), 1)
        health.succeeded()  # a read in between: the count starts again
        for _ in range(2):
            health.failed(redis.exceptions.ConnectionError("refused"), 4)  # 4 waited for it
        assert health.up  # two in a row, not three
        assert health.failed(redis.exceptions.ConnectionError("refused"), 1) == "read failed"
        assert not health.up and REGISTRY.get_sample_value("sluice_online_store_down") == 1
        assert health.refused(5).startswith("down after 3 failed reads in a row")
        counted = {r: _errors(r) - before[r] for r in before}
        assert counted == {"timeout": 1, "error": 10, "down": 5}
        await asyncio.sleep(PROBE_INTERVAL_S * 2.5)
        assert health.up and len(probes) == 2
        assert REGISTRY.get_sample_value("sluice_online_store_down") == 0

    asyncio.run(scenario())


def test_a_batch_answered_without_a_read_does_not_reset_the_failure_count():
    """In an outage most flights may be cached: batches that need no read say nothing about
    the store, so failed reads in between still add up to down."""
    from serving.feature_batch import FeatureBatcher

    def build(flights):  # as the transformer's, for flights whose entities are all cached
        return {"temp": flights["origin"]}

    async def scenario() -> None:
        executor = ThreadPoolExecutor(1)
        health = OnlineStoreHealth(lambda: None, executor, failures_to_down=3)
        batcher = FeatureBatcher(build, health, executor)
        for _ in range(2):
            health.failed(redis.exceptions.ConnectionError("refused"), 1)
            assert await batcher.submit({"origin": ["JFK"]}) == {"temp": ["JFK"]}
        health.failed(redis.exceptions.ConnectionError("refused"), 1)
        assert not health.up

    asyncio.run(scenario())
