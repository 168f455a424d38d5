"""The online-feature cache: entries expire after their TTL, and the least recently used go
first when it is full."""

from prometheus_client import REGISTRY

from serving.feature_cache import FeatureCache


def _counted() -> dict[str, float]:
    return {
        o: REGISTRY.get_sample_value("sluice_feature_cache_total", {"outcome": o}) or 0
        for o in ("hit", "miss")
    }


def test_an_entry_lives_for_its_ttl_and_no_longer():
    now = [100.0]
    cache = FeatureCache(max_entries=10, clock=lambda: now[0])
    before = _counted()
    assert cache.get("EWR") is None
    cache.put("EWR", (1.0, None), ttl_s=60)
    now[0] += 59.9
    assert cache.get("EWR") == (1.0, None)
    now[0] += 0.1
    assert cache.get("EWR") is None  # 60 s old: gone
    assert {o: v - before[o] for o, v in _counted().items()} == {"hit": 1, "miss": 2}
    cache.put("JFK", (2.0, None), ttl_s=0)  # a TTL of 0 turns the cache off
    assert cache.get("JFK") is None


def test_it_holds_at_most_its_bound_dropping_the_least_recently_used():
    cache = FeatureCache(max_entries=2)
    cache.put("a", (1,), 60)
    cache.put("b", (2,), 60)
    assert cache.get("a") == (1,)  # now b is the least recently used
    cache.put("c", (3,), 60)
    assert cache.get("b") is None and cache.get("a") == (1,) and cache.get("c") == (3,)
    cache.clear()
    assert cache.get("a") is None
