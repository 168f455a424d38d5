"""The Feast transformer: callers send what they know about a flight; online features come
from the feature service; the predictor gets the model's full feature set.

Request fields: carrier, origin, dest, tailnum, sched_dep_time (ISO 8601; local New York
time when it has no offset) and distance. An entity the online store does not know (an
unknown tailnum, say) gets the documented default for its features, missing, which the
model imputes with the training mean, and is counted in `sluice_feature_defaults_total`.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from kserve import Model
from kserve.protocol.infer_type import InferInput, InferRequest

from serving.metrics import FEATURE_DEFAULTS, ONLINE_FETCH_SECONDS
from serving.predictor import output_types
from serving.requests import (
    NUMERIC_DATATYPES,
    RequestError,
    check_names,
    counted_client_errors,
    parse_json_body,
)

TIMEZONE = "America/New_York"
FIELDS = ["carrier", "origin", "dest", "tailnum", "sched_dep_time", "distance"]
TEXT_FIELDS = ["carrier", "origin", "dest", "tailnum", "sched_dep_time"]
ENTITY_KEYS = ["origin", "tailnum", "carrier"]


@dataclass
class FlightRequest:
    flights: pd.DataFrame
    request: InferRequest | None


def _flights_from_v1(payload) -> pd.DataFrame:
    payload = parse_json_body(payload)
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise RequestError("malformed", 'body: expected {"instances": [flight, ...]}')
    for i, item in enumerate(payload["instances"]):
        if not isinstance(item, dict):
            raise RequestError("shape", f"instances[{i}]: expected an object")
        check_names(list(item), FIELDS, f"instances[{i}]", noun="field")
        for name in TEXT_FIELDS:
            if not isinstance(item[name], str) or not item[name]:
                raise RequestError(
                    "datatype", f"instances[{i}].{name}: expected a non-empty string"
                )
        if isinstance(item["distance"], bool) or not isinstance(item["distance"], int | float):
            raise RequestError("datatype", f"instances[{i}].distance: expected a number")
    return pd.DataFrame.from_records(payload["instances"], columns=FIELDS)


def _flights_from_v2(request: InferRequest) -> pd.DataFrame:
    check_names([i.name for i in request.inputs], FIELDS, "inputs", noun="field")
    columns = {}
    for item in request.inputs:
        expected = NUMERIC_DATATYPES if item.name == "distance" else {"BYTES"}
        if item.datatype not in expected:
            raise RequestError(
                "datatype", f"input {item.name!r}: datatype {item.datatype} is not allowed"
            )
        try:
            values = item.as_numpy().reshape(-1)
        except (ValueError, TypeError) as exc:
            raise RequestError("shape", f"input {item.name!r}: {exc}") from None
        columns[item.name] = [v.decode() if isinstance(v, bytes) else v for v in values]
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise RequestError("shape", f"inputs: fields have different lengths {sorted(lengths)}")
    return pd.DataFrame(columns, columns=FIELDS)


def request_features(flights: pd.DataFrame) -> pd.DataFrame:
    """Request-time features, derived the way the training frame derived them."""
    local = []
    for row, value in enumerate(flights["sched_dep_time"]):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            stamp = pd.NaT
        if stamp is pd.NaT:
            raise RequestError(
                "datatype", f"row {row}: sched_dep_time {value!r} is not an ISO 8601 time"
            )
        local.append(stamp.tz_convert(TIMEZONE) if stamp.tzinfo else stamp.tz_localize(TIMEZONE))
    return pd.DataFrame(
        {
            "carrier": flights["carrier"],
            "origin": flights["origin"],
            "dest": flights["dest"],
            "hour": [t.hour for t in local],
            "day_of_week": [t.dayofweek for t in local],
            "month": [t.month for t in local],
            "distance": flights["distance"].astype(float),
        }
    )


class FeastTransformer(Model):
    """`predictor` set: in-process with that predictor; otherwise KServe forwards to
    `--predictor_host` over `--predictor_protocol`."""

    def __init__(self, name: str, feature_repo: str, feature_service: str, predictor=None):
        super().__init__(name)
        self.feature_repo, self.feature_service = feature_repo, feature_service
        self.local_predictor = predictor
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feast")

    def load(self) -> bool:
        from feast import FeatureStore

        self.store = FeatureStore(repo_path=self.feature_repo)
        self.service = self.store.get_feature_service(self.feature_service)
        self.online_features = [
            f.name for p in self.service.feature_view_projections for f in p.features
        ]
        if self.local_predictor is not None:
            self.local_predictor.load()
        self.ready = True
        return self.ready

    def _fetch(self, entities: pd.DataFrame) -> dict[str, list]:
        started = time.perf_counter()
        rows = entities[ENTITY_KEYS].to_dict("records")
        values = self.store.get_online_features(features=self.service, entity_rows=rows).to_dict()
        ONLINE_FETCH_SECONDS.observe(time.perf_counter() - started)
        return values

    async def preprocess(self, payload, headers=None):
        with counted_client_errors():
            if isinstance(payload, InferRequest):
                flights = _flights_from_v2(payload)
            else:
                flights = _flights_from_v1(payload)
            features = request_features(flights)
        loop = asyncio.get_running_loop()
        online = await loop.run_in_executor(self.executor, self._fetch, flights)
        for name in self.online_features:
            column = pd.array(online[name], dtype="Float64").to_numpy(np.float64, na_value=np.nan)
            features[name] = column
            missing = int(np.isnan(column).sum())
            if missing:
                FEATURE_DEFAULTS.labels(name).inc(missing)
        if isinstance(payload, InferRequest):
            return self._v2_request(payload, features)
        records = features.astype(object).where(features.notna(), None).to_dict("records")
        return {"instances": records}

    def _v2_request(self, incoming: InferRequest, features: pd.DataFrame) -> InferRequest:
        inputs = []
        for name in features.columns:
            column = features[name]
            if name in ("carrier", "origin", "dest"):
                inputs.append(InferInput(name, [len(column)], "BYTES", column.tolist()))
            else:
                values = column.to_numpy(dtype=np.float32)
                item = InferInput(name, [len(values)], "FP32")
                item.set_data_from_numpy(values, binary_data=False)
                inputs.append(item)
        return InferRequest(
            model_name=self.name,
            infer_inputs=inputs,
            request_id=incoming.id,
            from_grpc=incoming.from_grpc,
            request_outputs=incoming.request_outputs,
        )

    def validate(self, payload):
        return payload

    async def predict(self, payload, headers=None, response_headers=None):
        if self.local_predictor is None:
            return await super().predict(payload, headers, response_headers)
        decoded = self.local_predictor.decode(payload)
        return await self.local_predictor.predict(decoded, headers)

    def get_input_types(self) -> list[dict]:
        return [
            {"name": f, "datatype": "FP32" if f == "distance" else "BYTES", "shape": [-1]}
            for f in FIELDS
        ]

    def get_output_types(self) -> list[dict]:
        return output_types()
