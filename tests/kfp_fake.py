"""A fake Kubeflow Pipelines API server, standing in for the real one (Go, with MySQL, Argo
and a Kubernetes API server behind it), which cannot run here.

It serves, on loopback, exactly the v2beta1 endpoints that kfp.Client 2.17.3 calls to
upload a pipeline and its versions, find or create an experiment, and create a run or a
recurring run; any other route answers 404, as grpc-gateway does. It is faithful to the
documented v2beta1 behaviour, as the KFP 2.17 backend implements it
(`backend/src/apiserver/server`, `template/v2_template.go`), and validated against the
`kfp-server-api` models that kfp itself ships:

- A JSON body is walked against its model's `openapi_types` (V2beta1Experiment, V2beta1Run,
  V2beta1RecurringRun and what they nest) before it is read into the model: a field the
  model does not know, a value of the wrong JSON type, or an enum value the model does not
  allow answers 400, so a wrong field fails the test. int64 fields, which the models type
  `str`, take a number or a numeric string, as protojson does. (protojson also reads
  lowerCamelCase names; kfp sends the models' own names, and only those pass here, except
  in the list `filter`, which kfp itself writes in lowerCamelCase.)
- Every answer is a model instance serialized with `ApiClient().sanitize_for_serialization`;
  errors are a `GoogleRpcStatus`, except from the upload endpoints, which on the real server
  are plain HTTP handlers that answer `{"error_message", "error_details"}` (a v1beta1 body
  that kfp-server-api 2.17.3 has no model for).
- Uploads are multipart (`uploadfile`): the file must be YAML or JSON whose first document
  parses into the `PipelineSpec` proto (unknown fields refused) and any other into
  `PlatformSpec`, named as KFP requires; pipeline names are unique, and version names
  unique within their pipeline (409). KFP names a pipeline's first version after it.
- Runs and recurring runs need a known experiment (none: KFP's `Default` one) and pipeline
  version; their parameters are checked against the version's root inputs as KFP's
  `validatePipelineJobInputs` does. A recurring run needs max_concurrency 1 to 10 and a
  cron that KFP's parser (robfig/cron v1) reads: 5 or 6 fields, or a descriptor.
- With `token` set, a request without `Authorization: Bearer <token>` answers 401, as KFP
  behind its authenticating proxy does.
- It is a single-user deployment (its health check says `multi_user: false`): namespaces
  are kept as sent, not enforced, and lists are not paged.

What it is sent stays in memory (`requests`, and `pipelines`, `versions`, `experiments`,
`runs` and `recurring_runs` as models by id) for tests to assert on.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, parse_qs

import kfp_server_api
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_server_api import models

from tests.loopback import Loopback

API = kfp_server_api.ApiClient()
_HTTP_STATUS = {3: 400, 5: 404, 6: 409, 12: 501, 13: 500, 16: 401}
"""gRPC codes as grpc-gateway answers them: InvalidArgument, NotFound, AlreadyExists,
Unimplemented, Internal, Unauthenticated."""
_PRIMITIVES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}
_INT64 = {
    ("V2beta1RecurringRun", "max_concurrency"),
    ("V2beta1PeriodicSchedule", "interval_second"),
    ("V2beta1Predicate", "long_value"),
}
"""int64 fields, typed `str` by the generated models."""
_OPERATIONS = {0: "OPERATION_UNSPECIFIED", 1: "EQUALS", 2: "NOT_EQUALS", 3: "GREATER_THAN"}
_OPERATIONS |= {5: "GREATER_THAN_EQUALS", 6: "LESS_THAN", 7: "LESS_THAN_EQUALS", 8: "IN"}
_OPERATIONS |= {9: "IS_SUBSTRING"}
"""filter.proto's operation numbers, which kfp sends instead of names."""
_PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
_CRON_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight"}
_CRON_DESCRIPTORS |= {"@hourly"}


class ApiError(Exception):
    """A refusal, as a gRPC status (`code`) or, from the upload endpoints, an HTTP one."""

    def __init__(self, code: int, message: str, upload_status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.upload_status = code, message, upload_status

    @property
    def status(self) -> int:
        return self.upload_status or _HTTP_STATUS[self.code]

    def body(self) -> dict:
        if self.upload_status:
            return {"error_message": self.message, "error_details": self.message}
        status = models.GoogleRpcStatus(code=self.code, message=self.message, details=[])
        return API.sanitize_for_serialization(status)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """By lowercase name."""
    body: bytes

    def param(self, name: str) -> str:
        return self.query.get(name, [""])[-1]


def checked(data: Any, kind: str, where: str) -> None:
    """Refuses (400) `data` unless it fits the kfp_server_api type `kind` exactly."""
    if data is None:
        return
    if kind.startswith("list["):
        _expect(isinstance(data, list), where, "a list")
        for i, item in enumerate(data):
            checked(item, kind[5:-1], f"{where}[{i}]")
    elif kind.startswith("dict("):
        _expect(isinstance(data, dict), where, "an object")
        value_kind = kind[kind.index(",") + 2 : -1]
        for key, value in data.items():
            checked(value, value_kind, f"{where}.{key}")
    elif kind == "object":
        return
    elif kind in _PRIMITIVES:
        fits = isinstance(data, _PRIMITIVES[kind]) and (kind == "bool") == isinstance(data, bool)
        _expect(fits, where, f"a JSON {kind}")
    elif kind == "datetime":
        _expect(isinstance(data, str) and _rfc3339(data), where, "an RFC 3339 time")
    else:
        _check_model(data, getattr(models, kind), kind, where)


def _check_model(data: Any, model: type, kind: str, where: str) -> None:
    if hasattr(model, "allowable_values"):  # an enum
        _expect(data in model.allowable_values, where, f"one of {model.allowable_values}")
        return
    _expect(isinstance(data, dict), where, f"a {kind} object")
    fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, value in data.items():
        if key not in fields:
            raise ApiError(3, f"proto: unknown field {key!r} in {kind} at {where}")
        if (kind, fields[key]) in _INT64:
            numeric = isinstance(value, int) and not isinstance(value, bool)
            _expect(numeric or (isinstance(value, str) and value.isdigit()), where, "an int64")
        else:
            checked(value, model.openapi_types[fields[key]], f"{where}.{key}")


def _expect(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise ApiError(3, f"proto: {where} must be {what}")


def _rfc3339(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def read(body: bytes, kind: str) -> Any:
    """The body as the kfp_server_api model `kind`, once it fits the model exactly."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ApiError(3, f"proto: syntax error: {exc}") from None
    checked(data, kind, kind)
    return API.deserialize(_Body(body), kind)


@dataclass(frozen=True)
class _Body:
    data: bytes  # what ApiClient.deserialize reads from a response


class KfpFake(Loopback):
    """The fake server and its state; a context manager that serves while it is open."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.requests: list[Request] = []
        self.pipelines: dict[str, models.V2beta1Pipeline] = {}
        self.versions: dict[str, models.V2beta1PipelineVersion] = {}
        self.experiments: dict[str, models.V2beta1Experiment] = {}
        self.runs: dict[str, models.V2beta1Run] = {}
        self.recurring_runs: dict[str, models.V2beta1RecurringRun] = {}
        self._lock = threading.Lock()
        super().__init__()
        self._routes = [
            ("GET", r"/apis/v2beta1/healthz", self._healthz),
            ("GET", r"/apis/v2beta1/pipelines", self._list_pipelines),
            ("GET", r"/apis/v2beta1/pipelines/(?P<pipeline_id>[^/]+)", self._get_pipeline),
            ("POST", r"/apis/v2beta1/pipelines/upload", self._upload_pipeline),
            ("POST", r"/apis/v2beta1/pipelines/upload_version", self._upload_version),
            ("GET", r"/apis/v2beta1/experiments", self._list_experiments),
            ("POST", r"/apis/v2beta1/experiments", self._create_experiment),
            ("POST", r"/apis/v2beta1/runs", self._create_run),
            ("POST", r"/apis/v2beta1/recurringruns", self._create_recurring_run),
        ]

    def receive(
        self, method: str, url: SplitResult, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict]:
        query = parse_qs(url.query, keep_blank_values=True)
        return self.handle(Request(method, url.path, query, headers, body))

    def handle(self, request: Request) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(request)
            try:
                if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
                    raise ApiError(16, "Unauthenticated: no valid bearer token in the request")
                for method, pattern, serve in self._routes:
                    match = re.fullmatch(pattern, request.path)
                    if match and method == request.method:
                        answer = serve(request, **match.groupdict())
                        return 200, API.sanitize_for_serialization(answer)
                raise ApiError(5, "Not Found")
            except ApiError as exc:
                return exc.status, exc.body()

    def _healthz(self, request: Request) -> models.V2beta1GetHealthzResponse:
        return models.V2beta1GetHealthzResponse(multi_user=False, pipeline_store="database")

    def _list_pipelines(self, request: Request) -> models.V2beta1ListPipelinesResponse:
        found = _filtered(list(self.pipelines.values()), request, "V2beta1Pipeline")
        return models.V2beta1ListPipelinesResponse(pipelines=found, total_size=len(found))

    def _get_pipeline(self, request: Request, pipeline_id: str) -> models.V2beta1Pipeline:
        if pipeline_id not in self.pipelines:
            raise ApiError(
                5,
                f"Failed to get a pipeline with id {pipeline_id}: ResourceNotFoundError: "
                f"Pipeline {pipeline_id} not found",
            )
        return self.pipelines[pipeline_id]

    def _upload_pipeline(self, request: Request) -> models.V2beta1Pipeline:
        filename, spec = _uploaded_spec(request, "Failed to create a pipeline")
        name = request.param("name") or request.param("display_name") or filename
        namespace = request.param("namespace") or None
        if any(p.name == name and p.namespace == namespace for p in self.pipelines.values()):
            raise ApiError(6, "Failed to create a pipeline and a pipeline version", 409)
        pipeline = models.V2beta1Pipeline(
            pipeline_id=str(uuid.uuid4()),
            name=name,
            display_name=request.param("display_name") or name,
            description=request.param("description") or None,
            created_at=_now(),
            namespace=namespace,
        )
        self.pipelines[pipeline.pipeline_id] = pipeline
        self._add_version(pipeline.pipeline_id, name, pipeline.display_name, spec, request)
        return pipeline

    def _upload_version(self, request: Request) -> models.V2beta1PipelineVersion:
        filename, spec = _uploaded_spec(request, "Failed to create a pipeline version")
        pipeline_id = request.param("pipelineid")
        if pipeline_id not in self.pipelines:  # KFP cannot find its namespace: a bare 400
            raise ApiError(3, "Failed to create a pipeline version", 400)
        name = request.param("name") or request.param("display_name") or filename
        if any(v.pipeline_id == pipeline_id and v.name == name for v in self.versions.values()):
            raise ApiError(6, "Failed to create a pipeline version", 409)
        display_name = request.param("display_name") or name
        return self._add_version(pipeline_id, name, display_name, spec, request)

    def _add_version(
        self, pipeline_id: str, name: str, display_name: str, spec: dict, request: Request
    ) -> models.V2beta1PipelineVersion:
        version = models.V2beta1PipelineVersion(
            pipeline_id=pipeline_id,
            pipeline_version_id=str(uuid.uuid4()),
            name=name,
            display_name=display_name,
            description=request.param("description") or None,
            created_at=_now(),
            pipeline_spec=spec,
        )
        self.versions[version.pipeline_version_id] = version
        return version

    def _list_experiments(self, request: Request) -> models.V2beta1ListExperimentsResponse:
        found = _filtered(list(self.experiments.values()), request, "V2beta1Experiment")
        return models.V2beta1ListExperimentsResponse(experiments=found, total_size=len(found))

    def _create_experiment(self, request: Request) -> models.V2beta1Experiment:
        return self._new_experiment(read(request.body, "V2beta1Experiment"))

    def _new_experiment(self, experiment: models.V2beta1Experiment) -> models.V2beta1Experiment:
        if not experiment.display_name:
            raise ApiError(3, "Experiment name is empty. Please specify a valid experiment name")
        namespace = experiment.namespace or None
        if any(
            e.display_name == experiment.display_name and e.namespace == namespace
            for e in self.experiments.values()
        ):
            raise ApiError(6, f"Experiment {experiment.display_name} already exists")
        experiment.experiment_id = str(uuid.uuid4())
        experiment.namespace = namespace
        experiment.created_at = _now()
        experiment.storage_state = "AVAILABLE"
        self.experiments[experiment.experiment_id] = experiment
        return experiment

    def _create_run(self, request: Request) -> models.V2beta1Run:
        run = read(request.body, "V2beta1Run")
        if not run.display_name:
            raise ApiError(3, "The run name is empty. Please specify a valid name")
        run.experiment_id = self._experiment_id(run.experiment_id)
        run.pipeline_version_id = self._version(run).pipeline_version_id
        _check_inputs(self.versions[run.pipeline_version_id].pipeline_spec, run.runtime_config)
        run.run_id = str(uuid.uuid4())
        run.created_at = _now()
        run.state = "PENDING"
        run.storage_state = "AVAILABLE"
        self.runs[run.run_id] = run
        return run

    def _create_recurring_run(self, request: Request) -> models.V2beta1RecurringRun:
        recurring = read(request.body, "V2beta1RecurringRun")
        if not recurring.display_name:
            raise ApiError(3, "Recurring run's name cannot be empty")
        if recurring.trigger is None:
            raise ApiError(13, "API Trigger cannot be nil")
        concurrency = int(recurring.max_concurrency or 0)
        if not 1 <= concurrency <= 10:
            raise ApiError(
                3,
                "Max concurrency of a recurring run must be at least 1 and at most 10. "
                f"Received {concurrency}",
            )
        if recurring.trigger.cron_schedule is not None:
            _check_cron(recurring.trigger.cron_schedule.cron or "")
        recurring.experiment_id = self._experiment_id(recurring.experiment_id)
        version = self._version(recurring)
        _check_inputs(version.pipeline_spec, recurring.runtime_config)
        recurring.recurring_run_id = str(uuid.uuid4())
        recurring.pipeline_version_id = version.pipeline_version_id
        recurring.created_at = recurring.updated_at = _now()
        recurring.status = "ENABLED" if recurring.mode == "ENABLE" else "DISABLED"
        self.recurring_runs[recurring.recurring_run_id] = recurring
        return recurring

    def _experiment_id(self, experiment_id: str | None) -> str:
        """The run's experiment; without one, KFP's `Default`, created if missing."""
        if not experiment_id:
            default = next(
                (e for e in self.experiments.values() if e.display_name == "Default"), None
            )
            default = default or self._new_experiment(
                models.V2beta1Experiment(display_name="Default")
            )
            return default.experiment_id
        if experiment_id not in self.experiments:
            raise ApiError(
                5,
                "Failed to create a run due to invalid experimentId and namespace "
                f"combination: Failed to fetch namespace for experiment {experiment_id}: "
                f"ResourceNotFoundError: Experiment {experiment_id} not found",
            )
        return experiment_id

    def _version(self, run: Any) -> models.V2beta1PipelineVersion:
        if run.pipeline_spec is not None:
            raise ApiError(12, "this fake runs uploaded pipeline versions, not inline specs")
        reference = run.pipeline_version_reference
        version = self.versions.get(reference.pipeline_version_id) if reference else None
        if version is None:
            raise ApiError(
                13,
                "Failed to create a run due to error fetching manifest: ResourceNotFoundError: "
                f"PipelineVersion {reference and reference.pipeline_version_id} not found",
            )
        return version


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _filtered(items: list, request: Request, kind: str) -> list:
    """`items` through the request's `filter`: EQUALS predicates, all kfp.Client sends
    for these flows; any other operation answers 501 rather than a wrong list."""
    raw = request.param("filter")
    if not raw:
        return items
    try:
        data = _snake_case(json.loads(raw))
    except ValueError as exc:
        raise ApiError(3, f"Invalid filter: {exc}") from None
    for predicate in data.get("predicates", []) if isinstance(data, dict) else []:
        if isinstance(predicate, dict) and isinstance(predicate.get("operation"), int):
            predicate["operation"] = _OPERATIONS.get(predicate["operation"], "?")
    checked(data, "V2beta1Filter", "filter")
    fields = getattr(models, kind).attribute_map
    for predicate in data.get("predicates", []):
        if predicate.get("operation") != "EQUALS":
            raise ApiError(12, f"this fake filters with EQUALS only, not {predicate}")
        if predicate.get("key") not in fields:
            raise ApiError(3, f"Invalid filter: no field {predicate.get('key')!r} in {kind}")
        key, value = predicate["key"], predicate.get("string_value")
        items = [item for item in items if getattr(item, key) == value]
    return items


def _snake_case(data: Any) -> Any:
    """protojson reads lowerCamelCase names too, and kfp writes its filters in them."""
    if isinstance(data, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): _snake_case(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_snake_case(v) for v in data]
    return data


def _uploaded_spec(request: Request, refusal: str) -> tuple[str, dict]:
    """The multipart `uploadfile`'s name and pipeline spec; 400 unless it is a KFP
    pipeline spec YAML, with `refusal` as KFP's upload handler words it."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(3, "Failed to read pipeline from file", 400)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    files = [
        part
        for part in message.iter_parts()
        if part.get_param("name", header="content-disposition") == "uploadfile"
    ]
    if len(files) != 1 or not files[0].get_filename():
        raise ApiError(3, "Failed to read pipeline from file", 400)
    filename, content = files[0].get_filename(), files[0].get_payload(decode=True)
    if not filename.endswith((".yaml", ".yml", ".json")):  # KFP also unpacks .zip and .tar.gz
        raise ApiError(3, "Failed to read a pipeline spec file", 400)
    try:
        spec, *platforms = list(yaml.safe_load_all(content))
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
        for platform in platforms:
            json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    except (ValueError, TypeError, AttributeError, yaml.YAMLError, json_format.Error) as exc:
        raise ApiError(3, f"{refusal}: invalid pipeline spec: {exc}", 400) from None
    if not _PIPELINE_NAME.fullmatch(spec.get("pipelineInfo", {}).get("name", "")):
        raise ApiError(
            3,
            "pipeline's name must contain only lowercase alphanumeric characters or '-' and "
            "must start with alphanumeric characters",
            400,
        )
    return filename, spec


def _check_inputs(spec: dict, config: models.V2beta1RuntimeConfig | None) -> None:
    """KFP's `validatePipelineJobInputs`: every parameter given is declared by the root,
    of its type, and every required one is given."""
    declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    given = (config.parameters if config else None) or {}
    kinds = {
        "NUMBER_DOUBLE": (int, float),
        "NUMBER_INTEGER": (int, float),
        "STRING": (str,),
        "BOOLEAN": (bool,),
        "LIST": (list,),
        "STRUCT": (dict,),
    }
    for name, parameter in declared.items():
        if name not in given:
            if not parameter.get("isOptional") and "defaultValue" not in parameter:
                raise ApiError(
                    3,
                    f"parameter {name} is not optional, yet has neither default value nor "
                    "user provided value",
                )
            continue
        kind, value = parameter.get("parameterType"), given[name]
        fits = isinstance(value, kinds.get(kind, ())) and (kind == "BOOLEAN") == isinstance(
            value, bool
        )
        if not fits:
            raise ApiError(3, f"input parameter {name} requires type {kind}, got {value!r}")
    extra = sorted(set(given) - set(declared))
    if extra:
        raise ApiError(3, f"parameter(s) provided are not required by pipeline: {', '.join(extra)}")


def _check_cron(cron: str) -> None:
    """What robfig/cron v1's `Parse` takes: 5 or 6 fields (seconds first, the weekday
    optional) or a descriptor."""
    fields = cron.split()
    if cron.startswith("@"):
        ok = cron in _CRON_DESCRIPTORS or cron.startswith("@every ")
    else:
        ok = len(fields) in (5, 6) and all(re.fullmatch(r"[0-9A-Za-z*?,/-]+", f) for f in fields)
    if not ok:
        raise ApiError(
            3,
            "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron). "
            f"Error: Expected 5 to 6 fields, found {len(fields)}: {cron}",
        )
