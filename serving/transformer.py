"""The Feast transformer: callers send what they know about a flight; online features come
from the feature service; the predictor gets the model's full feature set.

Request fields: carrier, origin, dest, tailnum, sched_dep_time (ISO 8601; local New York
time when it has no offset) and distance. The request-time features are derived by the
same function that derives them for the training frame (`components.flights.request`),
and the model input is assembled in the training frame's column order. An entity the
online store does not know (an unknown tailnum, say) gets the documented default for its
features, missing, which the model imputes with the training mean, and is counted in
`sluice_feature_defaults_total`.

Per request there is no pandas: the request's fields are checked and its times parsed,
then it waits with the requests that arrive while an online-store read is in flight, and one
read, and one derivation of the request-time features, serves them all
(`serving.feature_batch`); the model input goes on as plain columns.

A store that fails or does not answer in time is another matter than an unknown entity: the
caller gets a 503, and a store down for good turns the server not ready until it answers
again (`serving.online_store`).

Whatever protocol the caller speaks (v1, v2 REST, gRPC), the predictor is called in
`--predictor_protocol`, and its answer comes back to the caller in the caller's protocol.
Calls to a remote predictor merge across concurrent requests (`serving.predictor_batch`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path

import grpc
from kserve import Model
from kserve.model import append_forwardable_headers
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from components.flights.feature_repo.definitions import refs_by_join_keys, service_features
from components.flights.feature_repo.store import FeastStores
from components.flights.features import as_of_seconds, model_features, with_elapsed
from components.flights.request import (
    CATEGORICAL_FEATURES,
    ENTITY_KEYS,
    NUMBER_FIELDS,
    REQUEST_FIELDS,
    TEXT_FIELDS,
    request_features,
    scheduled_departure,
)
from serving.answers import OUTPUTS, Answer, output_types, requested_outputs
from serving.columns import Columns
from serving.datatypes import NUMERIC_DATATYPES
from serving.feature_batch import FeatureBatcher
from serving.feature_cache import MAX_ENTRIES, TTL_S, FeatureCache
from serving.json_bodies import parse_json_body
from serving.metrics import FEATURE_DEFAULTS, ONLINE_FETCH_SECONDS
from serving.online_store import FAILURES_TO_DOWN, OnlineStoreHealth
from serving.predictor_batch import IN_FLIGHT, PredictorBatcher, PredictorCall
from serving.predictor_client import PredictorHTTPError, PredictorRESTClient
from serving.registry_watch import EVERY_S, TIMEOUT_S, MaterialisationWatch
from serving.request_errors import RequestError, counted_client_errors
from serving.request_rules import check_names, check_rows, check_unique


@dataclass(frozen=True)
class ViewGroup:
    """The service's feature views read by the same join keys: one cache entry per entity."""

    join_keys: tuple[str, ...]
    refs: list[str]  # view:feature
    ttl_s: float

    @property
    def features(self) -> list[str]:
        return [ref.split(":", 1)[1] for ref in self.refs]

    @cached_property
    def _positions(self) -> tuple[int, ...]:
        return tuple(ENTITY_KEYS.index(k) for k in self.join_keys)

    def key(self, flight: tuple) -> tuple:
        """This group's entity of a flight (its values of `ENTITY_KEYS`)."""
        return tuple(flight[i] for i in self._positions)


def _view_ttls(refs: list[str], views) -> list[float]:
    """The TTLs of the views behind these references; a view without one (0) has no limit."""
    names = {ref.split(":", 1)[0] for ref in refs}
    return [views[n].ttl.total_seconds() for n in names if views[n].ttl]


@dataclass
class Forward:
    """A caller's request on its way to the predictor."""

    columns: Columns  # the model input
    incoming: InferRequest | None  # the caller's v2 request; None for v1
    outputs: tuple[str, ...]  # the outputs the caller asked for


def flights_from_v1(payload) -> Columns:
    payload = parse_json_body(payload)
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise RequestError("malformed", 'body: expected {"instances": [flight, ...]}')
    for i, item in enumerate(payload["instances"]):
        if not isinstance(item, dict):
            raise RequestError("shape", f"instances[{i}]: expected an object")
        check_names(list(item), list(REQUEST_FIELDS), f"instances[{i}]", noun="field")
        for name in TEXT_FIELDS:
            if not isinstance(item[name], str) or not item[name]:
                raise RequestError(
                    "datatype", f"instances[{i}].{name}: expected a non-empty string"
                )
        for name in NUMBER_FIELDS:
            if isinstance(item[name], bool) or not isinstance(item[name], int | float):
                raise RequestError("datatype", f"instances[{i}].{name}: expected a number")
    return {name: [item[name] for item in payload["instances"]] for name in REQUEST_FIELDS}


def _text(value, name: str) -> str:
    try:
        return value.decode() if isinstance(value, bytes) else value
    except UnicodeDecodeError as exc:
        raise RequestError("datatype", f"input {name!r}: not UTF-8 text: {exc}") from None


def flights_from_v2(request: InferRequest) -> Columns:
    names = [i.name for i in request.inputs]
    check_unique(names, "inputs")
    check_names(names, list(REQUEST_FIELDS), "inputs", noun="field")
    columns = {}
    for item in request.inputs:
        expected = NUMERIC_DATATYPES if item.name in NUMBER_FIELDS else {"BYTES"}
        if item.datatype not in expected:
            raise RequestError(
                "datatype", f"input {item.name!r}: datatype {item.datatype} is not allowed"
            )
        try:
            values = item.as_numpy().reshape(-1)
        except (ValueError, TypeError) as exc:
            raise RequestError("shape", f"input {item.name!r}: {exc}") from None
        columns[item.name] = [_text(v, item.name) for v in values]
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise RequestError("shape", f"inputs: fields have different lengths {sorted(lengths)}")
    return columns


def predictor_refusal(error: Exception) -> RequestError | None:
    """A client error the predictor answered (HTTP 4xx, gRPC INVALID_ARGUMENT), as this
    server's own: the caller sent it, so it is the caller's 400, not a 500."""
    if isinstance(error, PredictorHTTPError) and 400 <= error.status < 500:
        return RequestError("predictor_refused", f"predictor: {error.message}")
    if isinstance(error, grpc.aio.AioRpcError) and error.code() in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
    ):
        return RequestError("predictor_refused", f"predictor: {error.details()}")
    return None


def with_departures(flights: Columns) -> Columns:
    """The flights with `sched_dep_time` read as New York times: a time that is not one is
    this request's 400, before it joins others in a batch."""
    try:
        times = [scheduled_departure(v, row) for row, v in enumerate(flights["sched_dep_time"])]
    except ValueError as exc:
        raise RequestError("datatype", str(exc)) from None
    return {**flights, "sched_dep_time": times}


def _v1_instances(columns: Columns) -> list[dict]:
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _v2_inputs(columns: Columns, missing) -> list[InferInput]:
    """One input per feature; a missing value is `missing` (JSON has no NaN: null there)."""
    rows = [len(next(iter(columns.values())))]
    return [
        InferInput(name, rows, "BYTES", values)
        if name in CATEGORICAL_FEATURES
        else InferInput(name, rows, "FP32", [missing if v is None else float(v) for v in values])
        for name, values in columns.items()
    ]


class FeastTransformer(Model):
    """`predictor` set: in-process with that predictor; otherwise KServe forwards to
    `--predictor_host` over `--predictor_protocol`."""

    def __init__(
        self,
        name: str,
        feature_repo: Path,
        stores: FeastStores,
        feature_service: str,
        predictor=None,
        max_request_rows: int = 10_000,
        failures_to_down: int = FAILURES_TO_DOWN,
        cache_ttl_s: float = TTL_S,
        cache_entries: int = MAX_ENTRIES,
        registry_check_s: float = EVERY_S,
        registry_timeout_s: float = TIMEOUT_S,
        horizon: timedelta | None = None,
        predictor_calls_in_flight: int = IN_FLIGHT,
    ):
        """`horizon`: how long before departure the model predicts (its features are read
        then); None takes the in-process model's, or 0 before a remote predictor.
        `predictor_calls_in_flight`: calls to a remote predictor out at once, beyond which
        requests wait and merge (`serving.predictor_batch`)."""
        super().__init__(name)
        self.horizon = horizon
        self.feature_repo, self.stores = feature_repo, stores
        self.feature_service = feature_service
        self.local_predictor = predictor
        self.max_request_rows = max_request_rows
        self.failures_to_down = failures_to_down
        self.cache_ttl_s, self.cache_entries = cache_ttl_s, cache_entries
        self.registry_check_s, self.registry_timeout_s = registry_check_s, registry_timeout_s
        self.predictor_calls_in_flight = predictor_calls_in_flight
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feast")
        self._answered_version: str | None = None

    @property
    def version(self) -> str | None:
        """The version served: in-process, the predictor's; a remote predictor's as its
        latest answer gave it (None before the first)."""
        if self.local_predictor is not None:
            return self.local_predictor.version
        return self._answered_version

    @property
    def available(self) -> bool:
        """False while the online store is down: the server then reports not ready."""
        return self.online.up

    @property
    def platform(self) -> str:
        """The runtime behind the transformer: known in-process; a remote one says its own."""
        return "" if self.local_predictor is None else self.local_predictor.platform

    def load(self) -> bool:
        self.cache = FeatureCache(self.cache_entries)
        self.store = self.stores.open(self.feature_repo)
        self.service = self.store.get_feature_service(self.feature_service)
        views = {
            p.name: self.store.get_feature_view(p.name)
            for p in self.service.feature_view_projections
        }
        self.materialisations = MaterialisationWatch(
            self._last_updated, self.registry_check_s, self.registry_timeout_s
        )
        self.online_features = service_features(self.service, views)
        self.groups = [
            ViewGroup(keys, refs, min([self.cache_ttl_s, *_view_ttls(refs, views)]))
            for keys, refs in refs_by_join_keys(self.service, views).items()
        ]
        self.features = model_features(self.online_features)
        probe = dict.fromkeys(ENTITY_KEYS, "")  # any entity: the read is what is probed
        self.online = OnlineStoreHealth(
            lambda: self._read([probe]), self.executor, self.failures_to_down
        )
        self.batcher = FeatureBatcher(self.build, self.online, self.executor)
        if self.local_predictor is None:
            self.predictor_calls = PredictorBatcher(
                self._send, self.max_request_rows, self.predictor_calls_in_flight
            )
        else:
            self.local_predictor.load()
            trained = timedelta(minutes=self.local_predictor.artifact.metadata.horizon_minutes)
            if self.horizon is not None and self.horizon != trained:
                raise ValueError(
                    f"horizon: {self.horizon} is not the model's ({trained}): a model predicts "
                    "only as far ahead as it was trained to"
                )
            self.horizon = trained
        self.horizon = self.horizon or timedelta(0)
        self.ready = True
        return self.ready

    @cached_property
    def predictor_client(self) -> PredictorRESTClient:
        """Made at the first call: KServe's server sets the predictor's address after the
        model has loaded."""
        config = self.predictor_config
        return PredictorRESTClient(config.predictor_base_url, config.protocol, config.timeout)

    async def _http_predict(self, payload, headers=None, response_headers=None):
        """KServe's REST call to the predictor, through sluice's aiohttp client
        (`serving.predictor_client`: a tenth of httpx's CPU per call under concurrency)."""
        forwarded = append_forwardable_headers(headers, {"Content-Type": "application/json"})
        return await self.predictor_client.infer(self.name, payload, forwarded, response_headers)

    def _read(self, rows: list[dict]) -> Columns:
        """One read of the store; only a read that answered counts toward its health (a
        batch answered from the cache says nothing about the store)."""
        read = self.store.get_online_features(features=self.service, entity_rows=rows).to_dict()
        self.online.succeeded()
        return read

    def fetch(self, flights: Columns) -> Columns:
        """Online features for each flight's entities: from the cache, and for the flights
        with an entity it lacks, one read of the feature service."""
        if self.materialisations.landed():
            self.cache.clear()
        entities = list(zip(*(flights[k] for k in ENTITY_KEYS), strict=True))
        found: list[dict[tuple, tuple | None]] = [{} for _ in self.groups]
        missing: dict[tuple, None] = {}  # the flights' entities to read, in order, once
        for group, values in zip(self.groups, found, strict=True):
            for flight in entities:
                key = group.key(flight)
                if key not in values:
                    values[key] = self.cache.get((group.join_keys, key))
                if values[key] is None:
                    missing[flight] = None
        if missing:
            started = time.perf_counter()
            read = self._read([dict(zip(ENTITY_KEYS, f, strict=True)) for f in missing])
            ONLINE_FETCH_SECONDS.observe(time.perf_counter() - started)
            for row, flight in enumerate(missing):
                for group, values in zip(self.groups, found, strict=True):
                    key = group.key(flight)
                    values[key] = tuple(read[name][row] for name in group.features)
                    self.cache.put((group.join_keys, key), values[key], group.ttl_s)
        online: Columns = {}
        for group, values in zip(self.groups, found, strict=True):
            rows = [values[group.key(flight)] for flight in entities]
            for i, name in enumerate(group.features):
                online[name] = [row[i] for row in rows]
        return online

    def _last_updated(self):
        """The registry's latest materialisation: its feature views' last-updated time."""
        views = self.store.list_feature_views(allow_cache=False)
        return max(
            (v.last_updated_timestamp for v in views if v.last_updated_timestamp), default=None
        )

    async def model_input(self, flights: Columns) -> Columns:
        """What the predictor gets for these flights, feature by feature, built as
        `preprocess` builds it: batched with the requests waiting at that moment (the skew
        test holds it to the training frame, the parity test to Feast's own reads)."""
        return await self.batcher.submit(with_departures(flights))

    def build(self, flights: Columns) -> Columns:
        """The model input of flights with parsed times (of every request in a batch): the
        request-time features, then the online features, in the training frame's column
        order; a missing online value (an entity the store does not know) is None."""
        derived = request_features(
            carrier=flights["carrier"],
            origin=flights["origin"],
            dest=flights["dest"],
            scheduled=flights["sched_dep_time"],
            distance=flights["distance"],
        )
        columns = {name: values.tolist() for name, values in derived.items()}
        scheduled_s = [t.timestamp() for t in flights["sched_dep_time"]]
        online = with_elapsed(self.fetch(flights), as_of_seconds(scheduled_s, self.horizon))
        for name, read in online.items():
            values = [None if v is None or v != v else float(v) for v in read]
            missing = values.count(None)
            if missing:
                FEATURE_DEFAULTS.labels(name).inc(missing)
            columns[name] = values
        return {name: columns[name] for name in self.features}

    async def preprocess(self, payload, headers=None) -> Forward:
        with counted_client_errors():
            incoming = payload if isinstance(payload, InferRequest) else None
            if incoming is None:
                flights, outputs = flights_from_v1(payload), tuple(OUTPUTS)
            else:
                flights = flights_from_v2(incoming)
                outputs = requested_outputs([o.name for o in incoming.request_outputs or ()])
            check_rows(len(flights["carrier"]), self.max_request_rows, "flights")
            columns = await self.model_input(flights)
        return Forward(columns, incoming, outputs)

    def _forwarded(self, columns: Columns, protocol: str, request_id: str | None):
        """The model input as the predictor reads it, in `protocol`: missing values null
        over v2 REST, NaN over gRPC and in-process, where an `InferRequest` never becomes
        JSON."""
        if protocol == "v1":
            return {"instances": _v1_instances(columns)}
        return InferRequest(
            model_name=self.name,
            infer_inputs=_v2_inputs(columns, None if protocol == "v2" else float("nan")),
            request_id=request_id,
            request_outputs=[RequestedOutput(name) for name in OUTPUTS],
        )

    async def _send(self, call: PredictorCall) -> Answer:
        """One call to the remote predictor, in `--predictor_protocol`, through KServe's
        `Model.predict` (and this class's `_http_predict`)."""
        request = self._forwarded(call.columns, self.predictor_config.protocol, call.request_id)
        try:
            answer = await super().predict(request, call.headers, call.response_headers)
        except (PredictorHTTPError, grpc.aio.AioRpcError) as error:
            refusal = predictor_refusal(error)
            if refusal is None:
                raise
            raise refusal from None
        return Answer.read(answer)

    def validate(self, payload):
        return payload

    async def predict(self, payload: Forward, headers=None, response_headers=None):
        request_id = None if payload.incoming is None else payload.incoming.id
        if self.local_predictor is None:
            call = PredictorCall(payload.columns, headers, request_id, response_headers)
            with counted_client_errors():
                answer = await self.predictor_calls.submit(call)
        else:  # a v1 caller's as v1, any v2 caller's as gRPC's `InferRequest`
            protocol = "v1" if payload.incoming is None else "grpc-v2"
            request = self._forwarded(payload.columns, protocol, request_id)
            decoded = self.local_predictor.decode(request)
            answer = Answer.read(await self.local_predictor.predict(decoded, headers))
        self._answered_version = answer.version
        return answer.render(payload.incoming, payload.outputs, self.name)

    def get_input_types(self) -> list[dict]:
        return [
            {"name": f, "datatype": "FP32" if f in NUMBER_FIELDS else "BYTES", "shape": [-1]}
            for f in REQUEST_FIELDS
        ]

    def get_output_types(self) -> list[dict]:
        return output_types()
