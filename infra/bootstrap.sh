#!/usr/bin/env bash
# Install sluice's platform into the current kubectl context, each piece pinned
# (infra/versions.env) and waited for: cert-manager, Knative Serving with Kourier and the
# HPA autoscaler, KServe in Knative mode, standalone Kubeflow Pipelines, the KubeRay
# operator, kube-prometheus-stack, and sluice's shared services (Redis, PostgreSQL, MinIO,
# an MLflow tracking server). Safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=infra/versions.env
source "$here/versions.env"

step() { printf '\n== %s\n' "$*"; }
github() { printf 'https://github.com/%s/releases/download/%s/%s' "$1" "$2" "$3"; }

step "cert-manager $CERT_MANAGER_VERSION"
kubectl apply -f "$(github cert-manager/cert-manager "$CERT_MANAGER_VERSION" cert-manager.yaml)"
kubectl wait --for=condition=Available deployment --all -n cert-manager --timeout=300s

step "Knative Serving $KNATIVE_SERVING_VERSION, Kourier, the HPA autoscaler"
kubectl apply -f "$(github knative/serving "$KNATIVE_SERVING_VERSION" serving-crds.yaml)"
kubectl apply -f "$(github knative/serving "$KNATIVE_SERVING_VERSION" serving-core.yaml)"
kubectl apply -f "$(github knative/serving "$KNATIVE_SERVING_VERSION" serving-hpa.yaml)"
kubectl apply -f "$(github knative-extensions/net-kourier "$KNATIVE_KOURIER_VERSION" kourier.yaml)"
# Knative validates its ConfigMaps through its webhook: patch them once it answers.
kubectl wait --for=condition=Available deployment/webhook -n knative-serving --timeout=300s
kubectl patch configmap/config-network -n knative-serving --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
# Request metrics (count, latency, status code) from queue-proxy, scraped by Prometheus:
# Knative >= 1.19 exports none unless asked.
kubectl patch configmap/config-observability -n knative-serving --type merge \
  -p '{"data":{"request-metrics-protocol":"prometheus"}}'
# The chart sets the pods' runAsUser, runAsGroup and fsGroup (Pod Security "restricted").
kubectl patch configmap/config-features -n knative-serving --type merge \
  -p '{"data":{"kubernetes.podspec-securitycontext":"enabled"}}'
kubectl wait --for=condition=Available deployment --all -n knative-serving --timeout=300s

step "KServe $KSERVE_VERSION (Knative mode)"
kubectl apply --server-side -f "$(github kserve/kserve "$KSERVE_VERSION" kserve.yaml)"
kubectl wait --for=condition=Available deployment/kserve-controller-manager -n kserve --timeout=300s
kubectl apply --server-side -f "$(github kserve/kserve "$KSERVE_VERSION" kserve-cluster-resources.yaml)"
# Each key of KServe's inferenceservice-config is a JSON document: merge into it.
kserve_config() {  # KEY JSON
  local current
  current=$(kubectl get configmap inferenceservice-config -n kserve -o jsonpath="{.data.$1}")
  kubectl patch configmap/inferenceservice-config -n kserve --type merge -p "$(python3 -c '
import json, sys
key, current, change = sys.argv[1:]
print(json.dumps({"data": {key: json.dumps({**json.loads(current or "{}"), **json.loads(change)})}}))
' "$1" "$current" "$2")"
}
# Kourier, not Istio: KServe must not create Istio VirtualServices (its Kourier guide).
kserve_config ingress '{"disableIstioVirtualHost": true}'
# The rollout keeps its state in annotations on the InferenceService; KServe copies
# annotations onto the Knative revisions unless listed here, and a new revision would
# restart the canary's pods at every write.
kserve_config inferenceService "$(cat "$here/kserve-inferenceservice.json")"

step "Kubeflow Pipelines $KFP_VERSION (standalone)"
kfp="github.com/kubeflow/pipelines/manifests/kustomize"
kubectl apply -k "$kfp/cluster-scoped-resources?ref=$KFP_VERSION"
kubectl wait --for=condition=Established crd/applications.app.k8s.io --timeout=120s
kubectl apply -k "$kfp/env/platform-agnostic?ref=$KFP_VERSION"
kubectl wait --for=condition=Available deployment --all -n kubeflow --timeout=600s

step "KubeRay operator $KUBERAY_CHART_VERSION"
helm repo add kuberay https://ray-project.github.io/kuberay-helm/ --force-update >/dev/null
helm upgrade --install kuberay-operator kuberay/kuberay-operator \
  --version "$KUBERAY_CHART_VERSION" -n kuberay --create-namespace --wait

step "kube-prometheus-stack $KUBE_PROMETHEUS_STACK_CHART_VERSION"
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
  --version "$KUBE_PROMETHEUS_STACK_CHART_VERSION" -n monitoring --create-namespace --wait \
  --set grafana.sidecar.dashboards.searchNamespace=ALL

step "sluice's shared services in namespace $SLUICE_NAMESPACE"
kubectl create namespace "$SLUICE_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
# Every sluice pod meets "restricted"; KServe's injected storage-initializer sets no
# securityContext, so the namespace enforces "baseline" and warns and audits "restricted".
kubectl label namespace "$SLUICE_NAMESPACE" --overwrite \
  pod-security.kubernetes.io/enforce=baseline \
  pod-security.kubernetes.io/warn=restricted \
  pod-security.kubernetes.io/audit=restricted
"$here/secrets.sh" "$SLUICE_NAMESPACE"
# KFP runs the pipeline's tasks in its own namespace: they read the same Secrets and the
# chart's ConfigMap there.
"$here/secrets.sh" kubeflow
kubectl apply -k "$here/services" -n "$SLUICE_NAMESPACE"
for service in redis postgres minio mlflow; do
  kubectl rollout status "deployment/$service" -n "$SLUICE_NAMESPACE" --timeout=300s
done
kubectl wait --for=condition=Complete job/minio-bucket -n "$SLUICE_NAMESPACE" --timeout=300s
helm template sluice "$here/../helm/sluice" --namespace kubeflow --show-only templates/configmap.yaml \
  --set inferenceService.storageUri=unused | kubectl apply -n kubeflow -f -
echo
echo "done: deploy sluice with 'make deploy', submit the pipeline with 'sluice submit'"
