"""The Helm chart, proved without a cluster: rendered by Helm's engine for each feature
combination, linted strictly, every object validated against the real schema of its kind
(core kinds strictly for Kubernetes 1.30 and 1.33, CRDs against their upstream
openAPIV3Schema), and the promises a user relies on asserted exactly."""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

from components.base.settings import CONFIG_KEYS, SECRET_KEYS, Settings
from components.flights.request import CALENDAR_FEATURES
from tests.delivery.chart import (
    BASE_VALUES,
    CHART,
    CRD_FILES,
    STORAGE_URI,
    by_kind,
    crd_schema,
    merged,
    pod_specs,
    render,
    strict_crd,
)

COMBINATIONS = {
    "defaults": {},
    "canary at 10%": {"inferenceService": {"canaryTrafficPercent": 10}},
    "gRPC, v2 to the predictor": {
        "inferenceService": {
            "grpc": True,
            "predictorProtocol": "grpc-v2",
            "logger": {"enabled": False},
        }
    },
    "predictor alone, logger on": {
        "inferenceService": {
            "transformer": {"enabled": False},
            "logger": {"enabled": True, "url": "http://sluice-drift.sluice.svc/events"},
        }
    },
    "image by digest": {"images": {"serving": {"digest": "sha256:" + "a" * 64}}},
    "no monitoring, no policy, no cronjob, no drift": {
        "monitoring": {
            "podMonitor": {"enabled": False},
            "rules": {"enabled": False},
            "dashboard": {"enabled": False},
        },
        "networkPolicy": {"enabled": False},
        "materialize": {"enabled": False},
        "drift": {"enabled": False},
        "inferenceService": {"logger": {"enabled": False}},
    },
    "drift and retrain trigger": {
        "trigger": {
            "enabled": True,
            "params": ["source=s3://sluice/raw", "reference_time=2014-01-01T00:00:00-05:00"],
            "persistence": {"storageClass": "standard"},
        },
        "drift": {"detector": "scipy", "window": 500},
    },
    "trigger without drift, logger elsewhere": {
        "trigger": {"enabled": True},
        "drift": {"enabled": False},
        "inferenceService": {"logger": {"url": "http://collector.observability.svc/"}},
    },
}
DRIFT_AND_TRIGGER = COMBINATIONS["drift and retrain trigger"]


@pytest.fixture(scope="module", params=list(COMBINATIONS), ids=list(COMBINATIONS))
def combination(request) -> tuple[dict, list[dict]]:
    values = COMBINATIONS[request.param]
    return values, render(values)


def test_helm_lint_is_clean_in_strict_mode(combination):
    from helm_python.chart import lint

    values, _ = combination
    report = lint(str(CHART), merged(BASE_VALUES, values), strict=True, namespace="sluice")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("kube", ["1.30.0", "1.33.0"])
def test_core_objects_validate_strictly(combination, kube):
    _, objects = combination
    core = [o for o in objects if o["kind"] not in CRD_FILES]
    assert core
    for obj in core:
        kubernetes_validate.validate(obj, kube, strict=True)


def test_custom_resources_validate_against_their_crds(combination):
    """As the API server would (structural schemas: unknown fields refused). The CRDs' Go
    regexes are compiled only where a rendered object uses their field."""
    _, objects = combination
    custom = [o for o in objects if o["kind"] in CRD_FILES]
    assert custom
    for obj in custom:
        jsonschema.Draft7Validator(strict_crd(crd_schema(obj["kind"]))).validate(obj)


def test_every_pod_meets_the_restricted_pod_security_standard(combination):
    values, objects = combination
    pods = [spec for obj in objects for spec in pod_specs(obj)]
    assert pods
    workloads = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    wanted = {
        name
        for name, on in (
            ("sluice-drift", merged(BASE_VALUES, values).get("drift", {}).get("enabled", True)),
            ("sluice-trigger", values.get("trigger", {}).get("enabled", False)),
        )
        if on
    }
    assert workloads == wanted  # every Deployment the values ask for, and its pod checked
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "runAsNonRoot": True,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            }
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_inference_service_survives_the_kserve_sdk_round_trip(combination, monkeypatch):
    """The KServe SDK's model classes read every field back: none is unknown to KServe.
    (Its models name Kubernetes' own classes, V1Container and the rest, which its
    deserializer looks up in kserve.models: they are lent from the kubernetes client.)"""
    import kserve.models
    import kubernetes.client.models
    from kserve import ApiClient
    from kserve.models import V1beta1InferenceService

    for name in dir(kubernetes.client.models):
        if name.startswith("V1") and not hasattr(kserve.models, name):
            monkeypatch.setattr(
                kserve.models, name, getattr(kubernetes.client.models, name), raising=False
            )
    _, objects = combination
    (isvc,) = by_kind(objects, "InferenceService")
    client = ApiClient()
    model = client._ApiClient__deserialize(isvc, V1beta1InferenceService)
    assert client.sanitize_for_serialization(model) == isvc


def test_the_inference_service_in_knative_mode_with_canary_and_hpa():
    (isvc,) = by_kind(
        render({"inferenceService": {"canaryTrafficPercent": 25}}), "InferenceService"
    )
    annotations = isvc["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Knative"
    assert annotations["serving.kserve.io/enable-tag-routing"] == "true"
    assert annotations["autoscaling.knative.dev/class"] == "hpa.autoscaling.knative.dev"
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 25
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", 70)
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 4)
    (server,) = predictor["containers"]
    assert server["name"] == "kserve-container"
    assert {"name": "STORAGE_URI", "value": STORAGE_URI} in server["env"]
    assert server["args"][server["args"].index("--model_uri") + 1] == "/mnt/models"
    assert server["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    (transformer,) = isvc["spec"]["transformer"]["containers"]
    assert transformer["args"][:2] == ["--mode", "transformer"]
    assert (
        "canaryTrafficPercent" not in by_kind(render(), "InferenceService")[0]["spec"]["predictor"]
    )  # no canary unless one runs


def test_grpc_serves_one_h2c_port():
    (isvc,) = by_kind(render(COMBINATIONS["gRPC, v2 to the predictor"]), "InferenceService")
    (server,) = isvc["spec"]["predictor"]["containers"]
    assert server["ports"] == [{"name": "h2c", "containerPort": 8081, "protocol": "TCP"}]
    (transformer,) = isvc["spec"]["transformer"]["containers"]
    args = transformer["args"]
    assert args[args.index("--predictor_protocol") + 1] == "grpc-v2"


def test_the_model_servers_take_the_arguments_the_chart_gives_them():
    """The chart and the server's own parser agree on every flag (an unknown one, or a value
    the server refuses, would crash-loop the pod)."""
    from serving.predictor_batch import IN_FLIGHT
    from serving.server import build_parser

    (default,) = by_kind(render(), "InferenceService")
    (transformer,) = default["spec"]["transformer"]["containers"]
    assert build_parser().parse_args(transformer["args"]).predictor_calls_in_flight == IN_FLIGHT
    values = {"inferenceService": {"transformer": {"predictorCallsInFlight": 1_000_000}}}
    (isvc,) = by_kind(render(values), "InferenceService")
    (predictor,) = isvc["spec"]["predictor"]["containers"]
    (transformer,) = isvc["spec"]["transformer"]["containers"]
    assert build_parser().parse_args(predictor["args"]).mode == "predictor"
    parsed = build_parser().parse_args(transformer["args"])
    assert (parsed.mode, parsed.predictor_protocol) == ("transformer", "v1")
    assert parsed.predictor_calls_in_flight == 1_000_000 and parsed.horizon.total_seconds() == 0


def test_grpc_keeps_the_http_readiness_that_an_online_store_outage_turns_not_ready():
    (isvc,) = by_kind(render(COMBINATIONS["gRPC, v2 to the predictor"]), "InferenceService")
    for component in ("predictor", "transformer"):
        (container,) = isvc["spec"][component]["containers"]
        assert container["readinessProbe"] == {
            "httpGet": {"path": "/v2/health/ready", "port": 8080},
            "periodSeconds": 5,
        }, component


def test_the_logger_sends_every_payload_to_this_releases_drift_service_by_default():
    objects = render()
    (isvc,) = by_kind(objects, "InferenceService")
    assert isvc["spec"]["predictor"]["logger"] == {
        "mode": "all",
        "url": "http://sluice-drift.sluice.svc.cluster.local/",
    }
    (service,) = [s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "sluice-drift"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    (drift,) = [
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "sluice-drift"
    ]
    pod = drift["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8090, "protocol": "TCP"}]
    assert "--port=8090" in container["args"] and "--host=0.0.0.0" in container["args"]
    # the logger sits in the predictor's pods: the drift service's policy lets them in
    (policy,) = [
        p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"] == "sluice-drift"
    ]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (allowed,) = policy["spec"]["ingress"]
    assert {
        "podSelector": {
            "matchLabels": {
                "serving.kserve.io/inferenceservice": "sluice-flights",
                "component": "predictor",
            }
        }
    } in allowed["from"]
    assert allowed["ports"] == [{"port": 8090, "protocol": "TCP"}]


def test_without_the_drift_service_the_logger_needs_a_url():
    from helm_python.errors import HelmError

    with pytest.raises(HelmError, match="inferenceService.logger.url is required"):
        render({"drift": {"enabled": False}})
    objects = render(COMBINATIONS["trigger without drift, logger elsewhere"])
    (isvc,) = by_kind(objects, "InferenceService")
    assert isvc["spec"]["predictor"]["logger"]["url"] == "http://collector.observability.svc/"
    assert not [o for o in objects if o["metadata"]["name"] == "sluice-drift"]


def _container(objects: list[dict], name: str) -> dict:
    (deployment,) = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == name]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _settings_in(container: dict, config: dict, monkeypatch) -> Settings:
    """The settings the container's process reads: the ConfigMap, then its own env."""
    for key in list(CONFIG_KEYS) + [e["name"] for e in container["env"]]:
        monkeypatch.delenv(key, raising=False)
    for key, value in config["data"].items():
        monkeypatch.setenv(key, value)
    for entry in container["env"]:
        if "value" in entry:
            monkeypatch.setenv(entry["name"], entry["value"])
    return Settings()


def test_the_drift_service_reads_mlflow_from_the_config_map_and_the_secret():
    objects = render()
    container = _container(objects, "sluice-drift")
    assert container["image"] == "ghcr.io/sluice-ml/sluice-drift:0.1.0"
    assert "--mlflow-url=$(MLFLOW_TRACKING_URI)" in container["args"]
    assert container["envFrom"] == [{"configMapRef": {"name": "sluice-config"}}]
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
    }
    assert {k: v["name"] for k, v in secrets.items()} == dict.fromkeys(
        SECRET_KEYS["mlflow_secret"], "sluice-mlflow"
    )
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MPLCONFIGDIR"].startswith("/tmp/") and env["NUMBA_CACHE_DIR"].startswith("/tmp/")
    assert not [a for a in container["args"] if a.startswith("--trigger-url")]  # trigger off


def test_the_drift_service_calls_the_trigger_which_starts_kfp_runs(monkeypatch):
    objects = render(DRIFT_AND_TRIGGER)
    drift = _container(objects, "sluice-drift")
    assert "--trigger-url=http://sluice-trigger.sluice.svc.cluster.local" in drift["args"]
    assert {"--detector=scipy", "--window=500"} <= set(drift["args"])
    (deployment,) = [
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "sluice-trigger"
    ]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one writer of its SQLite
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "sluice-trigger"
    assert pod["automountServiceAccountToken"] is False
    trigger = _container(objects, "sluice-trigger")
    assert trigger["image"] == "ghcr.io/sluice-ml/sluice:0.1.0"
    assert trigger["command"] == ["sluice", "trigger", "serve"]
    assert trigger["args"] == [
        "--host=0.0.0.0",
        "--port=8095",
        "--experiment=sluice",
        "--cooldown-hours=6",
        "--max-runs-per-day=4",
        "--param=source=s3://sluice/raw",
        "--param=reference_time=2014-01-01T00:00:00-05:00",
    ]
    (config,) = [
        o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"] == "sluice-config"
    ]
    settings = _settings_in(trigger, config, monkeypatch)
    assert settings.kfp_endpoint == "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
    assert settings.kfp_namespace == "kubeflow"
    mounts = {m["name"]: m["mountPath"] for m in trigger["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # the state on the claim, so the cooldown and rate limit survive a restart
    assert settings.trigger_state_path.parent.as_posix() == mounts["state"]
    (claim,) = by_kind(objects, "PersistentVolumeClaim")
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    # KFP's auth: a projected token for KFP's audience, where the settings read it
    assert settings.kfp_token_path.parent.as_posix() == mounts["kfp-token"]
    (source,) = volumes["kfp-token"]["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "pipelines.kubeflow.org"
    assert source["serviceAccountToken"]["path"] == settings.kfp_token_path.name
    # the drift service, Alertmanager and Prometheus reach it; Prometheus scrapes both
    (policy,) = [
        p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"] == "sluice-trigger"
    ]
    drift_pod = [
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "sluice-drift"
    ][0]["spec"]["template"]["metadata"]["labels"]
    (allowed,) = policy["spec"]["ingress"]
    assert allowed["from"][0]["podSelector"]["matchLabels"] == drift_pod
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    } in (allowed["from"])
    assert allowed["ports"] == [{"port": 8095, "protocol": "TCP"}]
    (service,) = [
        s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "sluice-trigger"
    ]
    assert service["spec"]["ports"][0]["port"] == 80


def test_the_services_pod_monitor_scrapes_the_drift_service_and_the_trigger():
    objects = render(DRIFT_AND_TRIGGER)
    (monitor,) = [
        m for m in by_kind(objects, "PodMonitor") if m["metadata"]["name"] == "sluice-services"
    ]
    selector = monitor["spec"]["selector"]
    (expression,) = selector["matchExpressions"]
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "15s"}
    ]
    for name in ("sluice-drift", "sluice-trigger"):
        (deployment,) = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == name]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        assert labels[expression["key"]] in expression["values"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert [p["name"] for p in container["ports"]] == ["http"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    names = {
        m["metadata"]["name"]
        for m in by_kind(
            render(
                {"drift": {"enabled": False}, "inferenceService": {"logger": {"enabled": False}}}
            ),
            "PodMonitor",
        )
    }
    assert names == {"sluice-model-servers"}  # nothing to scrape: no services monitor


def test_the_logger_sends_every_payload_to_the_drift_service():
    values = COMBINATIONS["predictor alone, logger on"]
    (isvc,) = by_kind(render(values), "InferenceService")
    assert isvc["spec"]["predictor"]["logger"] == {
        "mode": "all",
        "url": "http://sluice-drift.sluice.svc/events",
    }
    assert "transformer" not in isvc["spec"]


def test_the_config_map_carries_every_setting_a_task_reads_and_the_secrets_are_named():
    objects = render()
    defaults = Settings()
    (config,) = [
        o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"] == "sluice-config"
    ]
    assert config["metadata"]["name"] == defaults.config_map
    assert list(config["data"]) == list(CONFIG_KEYS)
    (isvc,) = by_kind(objects, "InferenceService")
    (transformer,) = isvc["spec"]["transformer"]["containers"]
    from_secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in transformer["env"] if "valueFrom" in e
    }
    wanted = {
        key: getattr(defaults, setting)
        for setting in ("redis_secret", "feast_secret")
        for key in SECRET_KEYS[setting]
    }
    assert {k: v["name"] for k, v in from_secrets.items()} == wanted
    assert all(v["optional"] is True and v["key"] == k for k, v in from_secrets.items())
    (predictor,) = isvc["spec"]["predictor"]["containers"]
    assert not [e for e in predictor["env"] if "valueFrom" in e]  # it needs no credential


def test_the_rollout_role_can_be_bound_to_the_pipelines_account():
    """The pipeline's rollout task runs as the account KFP gives its pods, elsewhere."""
    objects = render(
        {"rollout": {"serviceAccount": "pipeline-runner", "serviceAccountNamespace": "kubeflow"}}
    )
    (binding,) = [
        b for b in by_kind(objects, "RoleBinding") if b["metadata"]["name"] == "sluice-rollout"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}
    ]
    assert "pipeline-runner" not in {
        a["metadata"]["name"] for a in by_kind(objects, "ServiceAccount")
    }


def test_rbac_is_least_privilege():
    objects = render(DRIFT_AND_TRIGGER)
    rules = {r["metadata"]["name"]: r["rules"] for r in by_kind(objects, "Role")}
    assert rules == {
        "sluice-rollout": [
            {
                "apiGroups": ["serving.kserve.io"],
                "resources": ["inferenceservices"],
                "verbs": ["get", "create", "patch"],
            },
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        ],
        "sluice-serving": [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["sluice-s3"],
                "verbs": ["get"],
            }
        ],
    }
    assert by_kind(objects, "ClusterRole") == [] and by_kind(objects, "ClusterRoleBinding") == []
    bindings = {b["metadata"]["name"]: b for b in by_kind(objects, "RoleBinding")}
    assert bindings["sluice-rollout"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "sluice-rollout", "namespace": "sluice"}
    ]
    assert bindings["sluice-serving"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "sluice-serving", "namespace": "sluice"}
    ]
    assert set(bindings) == {"sluice-rollout", "sluice-serving"}  # the trigger: none
    accounts = {a["metadata"]["name"]: a for a in by_kind(objects, "ServiceAccount")}
    assert accounts["sluice-trigger"]["automountServiceAccountToken"] is False
    for deployment in by_kind(objects, "Deployment"):
        assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_the_pod_monitor_tells_canary_from_stable():
    (monitor,) = [
        m
        for m in by_kind(render(), "PodMonitor")
        if m["metadata"]["name"] == "sluice-model-servers"
    ]
    assert "serving.knative.dev/revision" in monitor["spec"]["podTargetLabels"]
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == [
        "user-port",
        "http-usermetric",
    ]


def test_every_object_carries_the_standard_labels():
    for obj in render():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "sluice", obj["kind"]
        assert labels["app.kubernetes.io/instance"] == "sluice"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (
            {"inferenceService": {"canaryTrafficPercent": 150}},
            "/inferenceService/canaryTrafficPercent': maximum: got 150, want 100",
        ),
        (
            {"inferenceService": {"predictor": {"minReplicas": -1}}},
            "/inferenceService/predictor/minReplicas': minimum: got -1, want 1",
        ),
        ({"images": {"serving": {"repository": ""}}}, "/images/serving/repository': minLength"),
        ({"images": {"serving": {"tag": "latest"}}}, "/images/serving/tag'"),
        ({"inferenceService": {"storageUri": ""}}, "inferenceService.storageUri is required"),
        (
            {"config": {"mlflowTrackingUri": "http://alice:pw-4f3e@mlflow:5000"}},
            "config.mlflowTrackingUri carries a password: put it in the Secret sluice-mlflow",
        ),
        (
            {"secrets": {"redis": "redis:6379,password=pw-4f3e"}},
            "/secrets/redis': 'redis:6379,password=pw-4f3e' does not match pattern",
        ),
        ({"secrets": {"password": "pw"}}, "additional properties 'password' not allowed"),
        ({"images": {"drift": {"tag": "latest"}}}, "/images/drift/tag'"),
        ({"drift": {"detector": "ks"}}, "/drift/detector'"),
        ({"drift": {"window": 0}}, "/drift/window': minimum: got 0, want 10"),
        (
            {"trigger": {"enabled": True, "kfpEndpoint": "http://alice:pw-4f3e@kfp:8888"}},
            "trigger.kfpEndpoint carries a password: the trigger authenticates to KFP with its "
            "ServiceAccount's projected token",
        ),
        ({"trigger": {"maxRunsPerDay": 0}}, "/trigger/maxRunsPerDay': minimum: got 0, want 1"),
        ({"trigger": {"cooldownHours": -1}}, "/trigger/cooldownHours': minimum: got -1, want 0"),
        ({"trigger": {"params": ["source"]}}, "/trigger/params/0': 'source' does not match"),
        ({"trigger": {"persistence": {"size": "lots"}}}, "/trigger/persistence/size'"),
        (
            {"inferenceService": {"logger": {"url": "http://u:pw-4f3e@drift/"}}},
            "inferenceService.logger.url carries a password",
        ),
        (
            {"drift": {"enabled": False}},
            "inferenceService.logger.url is required when drift.enabled is false",
        ),
        (
            {"inferenceService": {"predictorProtocol": "grpc-v2"}},
            "inferenceService.logger.enabled with gRPC to the predictor",
        ),
        ({"drift": {"every": 0}}, "/drift/every': minimum: got 0, want 1"),
        ({"drift": {"exclude": ["Month!"]}}, "/drift/exclude/0'"),
        (
            {"inferenceService": {"transformer": {"predictorCallsInFlight": 0}}},
            "/inferenceService/transformer/predictorCallsInFlight': minimum: got 0, want 1",
        ),
        (
            {"inferenceService": {"transformer": {"predictorCallsInFlight": None}}},
            "missing property 'predictorCallsInFlight'",
        ),
    ],
)
def test_invalid_values_are_refused_with_a_readable_message(values, said):
    from helm_python.errors import HelmError

    with pytest.raises(HelmError) as error:
        render(values)
    message = " ".join(str(error.value).split())
    assert said in message
    if "carries a password" in said:
        assert "pw-4f3e" not in message  # the refusal does not repeat the password


def test_no_credential_is_ever_rendered():
    for obj in render():
        assert obj["kind"] != "Secret"
        text = str(obj)
        assert "password=" not in text and "AKIA" not in text


def test_the_drift_service_takes_the_arguments_the_chart_gives_it():
    """The chart and the service's own parser agree on every flag (an unknown one would
    crash-loop the pod)."""
    from serving.drift.service import parser

    args = _container(render(DRIFT_AND_TRIGGER), "sluice-drift")["args"]
    expanded = [a.replace("$(MLFLOW_TRACKING_URI)", "http://mlflow.sluice:5000") for a in args]
    parsed = parser().parse_args(expanded)
    assert parsed.exclude.split(",") == list(CALENDAR_FEATURES)  # the chart's default, one list
    assert (parsed.every, parsed.join_timeout, parsed.idle) == (500, 30, 3600)
    assert (parsed.host, parsed.port, parsed.window, parsed.detector) == (
        "0.0.0.0",
        8090,
        500,
        "scipy",
    )
    assert parsed.trigger_url == "http://sluice-trigger.sluice.svc.cluster.local"
    assert parsed.mlflow_url == "http://mlflow.sluice:5000"
