"""sluice's own Prometheus metrics, beside KServe's latency histograms on `/metrics`.

Labels are low-cardinality by construction: a model version, a fixed set of reasons,
the model's feature names.
"""

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter(
    "sluice_predictions_total", "Rows scored, by model version.", ["model_version"]
)
SCORES = Histogram(
    "sluice_prediction_score",
    "Predicted delay probability, by model version (the rollout compares canary and stable).",
    ["model_version"],
    buckets=[0.05 * i for i in range(1, 20)],
)
REQUESTS = Counter(
    "sluice_requests_total",
    "Inference requests (REST and gRPC) by model version and outcome: ok, client_error "
    "(refused as invalid) or server_error.",
    ["model_version", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "sluice_request_seconds",
    "Time from a request's arrival at the model to its answer (decode, score, encode), by "
    "model version: KServe's own histograms carry only the model's name.",
    ["model_version"],
    buckets=[0.0005, 0.001, 0.002, 0.004, 0.008, 0.015, 0.03, 0.06, 0.12, 0.25, 0.5, 1.0, 2.5],
)
OUTCOMES = ("ok", "client_error", "server_error")
INVALID_REQUESTS = Counter(
    "sluice_invalid_requests_total", "Requests refused as client errors, by reason.", ["reason"]
)
UNSEEN_CATEGORIES = Counter(
    "sluice_unseen_categories_total",
    "Categorical values not seen in training, sent to the out-of-vocabulary bucket.",
    ["feature"],
)
FEATURE_DEFAULTS = Counter(
    "sluice_feature_defaults_total",
    "Online features missing for an entity, replaced by the documented default.",
    ["feature"],
)
ONLINE_FETCH_SECONDS = Histogram(
    "sluice_online_feature_fetch_seconds",
    "Latency of one Feast online-store read (the entities of every request batched into it).",
    buckets=[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0],
)
FEATURE_CACHE = Counter(
    "sluice_feature_cache_total",
    "Entity lookups in the transformer's online-feature cache, by outcome: hit or miss.",
    ["outcome"],
)
ONLINE_STORE_ERRORS = Counter(
    "sluice_online_store_errors_total",
    "Requests answered 503 for the online store, by reason: error (the read failed), timeout "
    "(it took longer than --online_timeout_ms) or down (refused at once while it is down).",
    ["reason"],
)
ONLINE_STORE_DOWN = Gauge(
    "sluice_online_store_down",
    "1 once online-store reads failed --online_failures_to_down times in a row, until a probe "
    "read succeeds (meanwhile the server reports not ready); 0 otherwise, and on a predictor.",
)
BATCH_ROWS = Histogram(
    "sluice_model_batch_rows",
    "Rows per model call (micro-batching merges concurrent requests).",
    buckets=[1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096],
)
COALESCED_REQUESTS = Histogram(
    "sluice_coalesced_requests",
    "Callers' requests served by one call, by what the call is: online_read (a Feast read) "
    "or predictor (a merged call to a remote predictor); they merge while earlier calls are "
    "out.",
    ["call"],
    buckets=[1, 2, 4, 8, 16, 32, 64, 128],
)
