"""The Helm chart, proved without a cluster: rendered by Helm's engine for each feature
combination, linted strictly, every object validated against the real schema of its kind
(core kinds strictly for Kubernetes 1.30 and 1.33, CRDs against their upstream
openAPIV3Schema), and the promises a user relies on asserted exactly."""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

from components.base.settings import CONFIG_KEYS, SECRET_KEYS, Settings
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
        "inferenceService": {"grpc": True, "predictorProtocol": "grpc-v2"}
    },
    "predictor alone, logger on": {
        "inferenceService": {
            "transformer": {"enabled": False},
            "logger": {"enabled": True, "url": "http://sluice-drift.sluice.svc/events"},
        }
    },
    "image by digest": {"images": {"serving": {"digest": "sha256:" + "a" * 64}}},
    "no monitoring, no policy, no cronjob": {
        "monitoring": {
            "podMonitor": {"enabled": False},
            "rules": {"enabled": False},
            "dashboard": {"enabled": False},
        },
        "networkPolicy": {"enabled": False},
        "materialize": {"enabled": False},
    },
}


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
    _, objects = combination
    pods = [spec for obj in objects for spec in pod_specs(obj)]
    assert pods
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
    assert transformer["args"][-2:] == ["--predictor_protocol", "grpc-v2"]


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
    objects = render()
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


def test_the_pod_monitor_tells_canary_from_stable():
    (monitor,) = by_kind(render(), "PodMonitor")
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
    ],
)
def test_invalid_values_are_refused_with_a_readable_message(values, said):
    from helm_python.errors import HelmError

    with pytest.raises(HelmError) as error:
        render(values)
    message = " ".join(str(error.value).split())
    assert said in message
    if "mlflowTrackingUri" in said:
        assert "pw-4f3e" not in message  # the refusal does not repeat the password


def test_no_credential_is_ever_rendered():
    for obj in render():
        assert obj["kind"] != "Secret"
        text = str(obj)
        assert "password=" not in text and "AKIA" not in text
